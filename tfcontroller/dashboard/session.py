"""The key that signs session cookies, and the cookie's attributes.

Sessions are Flask's signed cookies: they hold the viewer's username, uid and groups (never a token), are
`HttpOnly` (no script reads them), `SameSite=Strict` (no other site's page sends them), `Secure` when the
dashboard is reached over https, and expire (the signature's age is checked against the lifetime).

Locally the key is random per process: a restart logs everyone out, which is what a laptop wants.
In-cluster the key lives in a Secret of the dashboard's namespace (`--session-secret NAME`), read at start
or created once, so that replicas and restarts accept each other's sessions. Creating races between
replicas are settled by the API server: whoever loses the create (AlreadyExists) reads the winner's key.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import AlreadyExists, NotFound
from tfcontroller.kube.resources import SECRETS

SESSION_KEY_FIELD = "session-key"
KEY_BYTES = 32
SESSION_COOKIE = "tfcontroller_session"


class SessionKeyError(Exception):
    """The session Secret exists but holds no usable key; the message says how to fix it."""


def random_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def key_from_secret(obj: dict[str, Any], where: str) -> bytes:
    """The signing key in a Secret object. Pure."""
    raw = (obj.get("data") or {}).get(SESSION_KEY_FIELD)
    key = base64.b64decode(raw) if raw else b""
    if len(key) < 16:
        raise SessionKeyError(f"Secret {where} has no key {SESSION_KEY_FIELD!r} of at least 16 bytes; delete it "
                              "and the dashboard creates a new one (everyone logs in again)")
    return key


def load_or_create_key(client: KubeClient, namespace: str, name: str) -> bytes:
    """The shared signing key from Secret `namespace/name`, created with a random key if missing."""
    where = f"{namespace}/{name}"
    try:
        return key_from_secret(client.get(SECRETS, name, namespace), where)
    except NotFound:
        pass
    key = random_key()
    body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/name": "tfcontroller-dashboard"}},
            "data": {SESSION_KEY_FIELD: base64.b64encode(key).decode()}}
    try:
        client.create(SECRETS, body)
    except AlreadyExists:  # another replica made it first: use theirs
        return key_from_secret(client.get(SECRETS, name, namespace), where)
    return key


def cookie_config(*, secure: bool, lifetime_seconds: float) -> dict[str, Any]:
    """Flask settings for the session cookie. Pure."""
    return {
        "SESSION_COOKIE_NAME": SESSION_COOKIE,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "SESSION_COOKIE_SECURE": secure,
        "PERMANENT_SESSION_LIFETIME": int(lifetime_seconds),
        "SESSION_REFRESH_EACH_REQUEST": False,  # the lifetime counts from login, not from the last click
    }
