"""Reading what Terraform's kubernetes backend wrote: the state Secret and the lock Lease.

Outputs are read from the state Secret itself (key `tfstate`, gzip-compressed JSON), so writing the
outputs Secret starts no Terraform process. Values are returned to the caller only; nothing here logs them.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from dataclasses import dataclass
from typing import Any

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.kube.resources import LEASES, SECRETS
from tfcontroller.terraform.errors import LockInfo

STATE_KEY = "tfstate"
LOCK_INFO_ANNOTATION = "app.terraform.io/lock-info"
_STATE_LABELS = ("tfstate", "tfstateWorkspace", "tfstateSecretSuffix")


@dataclass(frozen=True)
class StateView:
    exists: bool
    resources: int = 0  # managed resources
    outputs: dict[str, Any] | None = None  # name -> {"value", "type", "sensitive"}

    @property
    def empty(self) -> bool:
        return self.resources == 0


def _part_index(secret_name: str, name: str) -> int | None:
    """The chunk number of `name` among the parts of `secret_name`: Terraform 1.11 names them
    `<name>-part-1`, `-part-2`, … (earlier chunking releases `<name>-1`, `-2`, …); None if not a part."""
    tail = name[len(secret_name) + 1:] if name.startswith(secret_name + "-") else ""
    tail = tail.removeprefix("part-")
    return int(tail) if tail.isascii() and tail.isdigit() else None


def state_parts(kube: KubeClient, namespace: str, secret_name: str) -> list[dict[str, Any]]:
    """The state Secret and, for a large state, its further parts, which the backend writes with the
    same labels (and finds by them); in order."""
    main = kube.get_or_none(SECRETS, secret_name, namespace)
    if main is None:
        return []
    labels = (main.get("metadata") or {}).get("labels") or {}
    selector = ",".join(f"{k}={labels[k]}" for k in _STATE_LABELS if labels.get(k))
    if not selector:
        return [main]
    items, _ = kube.list_all(SECRETS, namespace, label_selector=selector)
    extra = []
    for item in items:
        index = _part_index(secret_name, item["metadata"]["name"])
        if index is not None:
            extra.append((index, item))
    return [main] + [item for _, item in sorted(extra, key=lambda pair: pair[0])]


def read_state(kube: KubeClient, namespace: str, secret_name: str) -> StateView:
    parts = state_parts(kube, namespace, secret_name)
    if not parts:
        return StateView(False)
    raw = b"".join(base64.b64decode((p.get("data") or {}).get(STATE_KEY) or "") for p in parts)
    if not raw:
        return StateView(True, 0, {})
    try:
        doc = json.loads(gzip.decompress(raw))
    except (OSError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError):
        return StateView(True, 0, {})
    resources = sum(1 for r in doc.get("resources") or [] if r.get("mode", "managed") == "managed")
    return StateView(True, resources, dict(doc.get("outputs") or {}))


def read_lock(kube: KubeClient, namespace: str, lease_name: str) -> LockInfo | None:
    """The lock Terraform holds on the state, from the Lease's holder and lock-info annotation."""
    lease = kube.get_or_none(LEASES, lease_name, namespace)
    if lease is None:
        return None
    holder = (lease.get("spec") or {}).get("holderIdentity")
    if not holder:
        return None
    raw = ((lease.get("metadata") or {}).get("annotations") or {}).get(LOCK_INFO_ANNOTATION) or "{}"
    try:
        info = json.loads(raw)
    except json.JSONDecodeError:
        info = {}
    return LockInfo(id=str(info.get("ID") or holder), who=str(info.get("Who") or ""),
                    operation=str(info.get("Operation") or ""), created=str(info.get("Created") or ""),
                    path=str(info.get("Path") or ""), version=str(info.get("Version") or ""),
                    info=str(info.get("Info") or ""))


def delete_state(kube: KubeClient, namespace: str, secret_name: str, lease_name: str) -> None:
    names = [p["metadata"]["name"] for p in state_parts(kube, namespace, secret_name)]
    for res, name in [*((SECRETS, n) for n in reversed(names)), (LEASES, lease_name)]:
        try:
            kube.delete(res, name, namespace)
        except NotFound:
            pass
