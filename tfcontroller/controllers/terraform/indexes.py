"""The field indexes the Terraform controller's watches use: a GitRepository change re-enqueues the
Terraforms whose `sourceRef` names it; a Terraform change re-enqueues those that `dependsOn` it (and a
deletion waits for those). Pure functions of the object."""

from __future__ import annotations

from typing import Any

INDEX_SOURCE = "sourceRef"
INDEX_DEPENDS_ON = "dependsOn"


def source_index(obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec") or {}
    ref = spec.get("sourceRef") or {}
    ns = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace") or "default"
    return [f"{ns}/{ref['name']}"] if ref.get("name") else []


def depends_on_index(obj: dict[str, Any]) -> list[str]:
    own_ns = (obj.get("metadata") or {}).get("namespace") or "default"
    return [f"{d.get('namespace') or own_ns}/{d['name']}" for d in (obj.get("spec") or {}).get("dependsOn") or []
            if isinstance(d, dict) and d.get("name")]
