"""The pure decisions of the ManifestSet controller that are not about relations (deps.py): the digest
that tells drift from a new render, and the user a ManifestSet impersonates."""

from __future__ import annotations

import hashlib
import json

from tfcontroller.controllers.manifestset.context import Obj

SERVICE_ACCOUNT_USER = "system:serviceaccount:{namespace}:{name}"


def desired_digest(objs: list[Obj]) -> str:
    """sha256 over the canonical JSON of the objects to apply (reveals nothing of their values)."""
    text = json.dumps(objs, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def service_account_user(namespace: str, name: str) -> str:
    return SERVICE_ACCOUNT_USER.format(namespace=namespace, name=name)
