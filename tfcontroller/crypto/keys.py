"""The controller's own keys: the AES-256-GCM key ring that encrypts stored plans, and the RSA key pair
that opens sealed values. Both live in one controller-owned Secret, created on first start.

Why a Secret and not a flag: every replica (and a restarted controller) must read plans written by
another one, so the keys are cluster state. The public certificate is also published in a ConfigMap so
that users sealing values need no access to Secrets (`tfcontroller seal --fetch-cert`).

Secret `tfcontroller-keys` data: `plan-key.<id>` (32 raw bytes per key), `plan-key-active` (the id new
plans use), `digest-key` (32 bytes), `sealing.key` (PEM), `sealing.crt` (PEM). Rotation is adding a
`plan-key.<id>` and pointing `plan-key-active` at it; plans encrypted with an older key still name it
(KeyRing envelope).

`digest-key` salts the HMACs that stand for secret values in every `inputsDigest` and plan id. It must
never change with rotation: were it taken from the key ring (as it once was: the key whose id sorts
first), adding a key could change every object's digest and so re-plan every Terraform at once. A
Secret written before this key existed gets, once, a copy of the key that salted digests until then,
so upgrading does not re-plan anything either.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.crypto.aead import KeyRing, generate_key, new_key_id
from tfcontroller.crypto.sealed import generate_key_pair
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import AlreadyExists, Conflict, NotFound
from tfcontroller.kube.resources import CONFIGMAPS, SECRETS

log = logging.getLogger(__name__)

KEYS_SECRET = "tfcontroller-keys"
CERT_CONFIGMAP = "tfcontroller-sealing-cert"
CERT_KEY = "cert.pem"
_PLAN_KEY_PREFIX = "plan-key."
_ACTIVE = "plan-key-active"
_SEALING_KEY = "sealing.key"
_SEALING_CERT = "sealing.crt"
_DIGEST_KEY = "digest-key"


class KeysIncompleteError(RuntimeError):
    """The keys Secret exists but lacks a plan key, the active key id or the sealing pair."""


@dataclass(frozen=True)
class ControllerKeys:
    keyring: KeyRing
    sealing_key_pem: bytes = field(repr=False)
    sealing_cert_pem: bytes
    digest_key: bytes = field(default=b"", repr=False)  # HMAC key of digests; never rotates


def legacy_digest_key(plan_keys: dict[str, bytes]) -> bytes:
    """The key that salted digests before `digest-key` existed: the plan key whose id sorts first."""
    return plan_keys[sorted(plan_keys)[0]]


def _from_data(data: dict[str, bytes]) -> ControllerKeys | None:
    keys = {k[len(_PLAN_KEY_PREFIX):]: v for k, v in data.items() if k.startswith(_PLAN_KEY_PREFIX)}
    active = data.get(_ACTIVE, b"").decode()
    if not keys or active not in keys or _SEALING_KEY not in data or _SEALING_CERT not in data:
        return None
    digest_key = data.get(_DIGEST_KEY) or legacy_digest_key(keys)
    return ControllerKeys(KeyRing(keys, active), data[_SEALING_KEY], data[_SEALING_CERT], digest_key)


def read_keys(kube: KubeClient, namespace: str) -> ControllerKeys | None:
    """The controller's keys, read and never created or changed (for the CLI and other readers).

    None when the Secret does not exist; KeysIncompleteError when it exists but is unusable. API errors
    (Forbidden, ...) propagate for the caller to explain.
    """
    try:
        data = kube.read_secret_data(namespace, KEYS_SECRET)
    except NotFound:
        return None
    keys = _from_data(data)
    if keys is None:
        raise KeysIncompleteError(f"Secret {namespace}/{KEYS_SECRET} is incomplete; delete it to generate new keys")
    return keys


def _new_data() -> dict[str, bytes]:
    kid = new_key_id()
    private_pem, cert_pem = generate_key_pair()
    return {
        f"{_PLAN_KEY_PREFIX}{kid}": generate_key(),
        _ACTIVE: kid.encode(),
        _DIGEST_KEY: generate_key(),
        _SEALING_KEY: private_pem,
        _SEALING_CERT: cert_pem,
    }


def ensure_keys(kube: KubeClient, namespace: str) -> ControllerKeys:
    """Read the keys, creating the Secret (and the certificate ConfigMap) on first start.

    Two controllers starting together both try to create; the loser reads the winner's Secret.
    """
    existing = kube.get_or_none(SECRETS, KEYS_SECRET, namespace)
    if existing is None:
        data = _new_data()
        try:
            _create_secret(kube, namespace, data)
            log.info("created controller keys secret=%s/%s", namespace, KEYS_SECRET)
        except AlreadyExists:
            pass
    _pin_digest_key(kube, namespace)
    keys = read_keys(kube, namespace)
    if keys is None:
        raise KeysIncompleteError(f"Secret {namespace}/{KEYS_SECRET} disappeared while being read")
    _publish_cert(kube, namespace, keys.sealing_cert_pem)
    return keys


def _pin_digest_key(kube: KubeClient, namespace: str) -> None:
    """Store `digest-key` in a Secret written before it existed (the legacy key, so digests stay the
    same). Conditional on the resourceVersion; a concurrent writer's value (the same one) wins."""
    for _ in range(3):
        obj = kube.get(SECRETS, KEYS_SECRET, namespace)
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        if _DIGEST_KEY in data:
            return
        plan_keys = {k[len(_PLAN_KEY_PREFIX):]: v for k, v in data.items() if k.startswith(_PLAN_KEY_PREFIX)}
        if not plan_keys:
            return  # incomplete: read_keys says so
        patch = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                 "data": {_DIGEST_KEY: base64.b64encode(legacy_digest_key(plan_keys)).decode()}}
        try:
            kube.patch(SECRETS, KEYS_SECRET, patch, namespace)
            log.info("pinned the digest key of secret=%s/%s", namespace, KEYS_SECRET)
            return
        except Conflict:
            continue


def _create_secret(kube: KubeClient, namespace: str, data: dict[str, bytes]) -> None:
    kube.create(SECRETS, {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": KEYS_SECRET, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "tfcontroller"}},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    })


def _publish_cert(kube: KubeClient, namespace: str, cert_pem: bytes) -> None:
    text = cert_pem.decode()
    current = kube.get_or_none(CONFIGMAPS, CERT_CONFIGMAP, namespace)
    if current is not None and (current.get("data") or {}).get(CERT_KEY) == text:
        return
    metadata: dict[str, Any] = {"name": CERT_CONFIGMAP, "namespace": namespace,
                                "labels": {"app.kubernetes.io/managed-by": "tfcontroller"}}
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
                            "data": {CERT_KEY: text}}
    if current is None:
        try:
            kube.create(CONFIGMAPS, body)
        except AlreadyExists:
            pass
    else:
        metadata["resourceVersion"] = current["metadata"].get("resourceVersion")
        kube.replace(CONFIGMAPS, body)
