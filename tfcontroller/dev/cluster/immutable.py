"""Immutable fields of built-in kinds, checked on update (422 "field is immutable" as the real server).

Only the rules a GitOps apply commonly trips over: the selector of Deployments, ReplicaSets,
DaemonSets and StatefulSets; a Job's selector and pod template; a Service's clusterIP once set; the
content of a ConfigMap or Secret marked `immutable: true` (and the flag itself); the `roleRef` of a
RoleBinding or ClusterRoleBinding (so a binding's grant can only change by deleting it, which RBAC's
escalation checks rely on).
"""

from __future__ import annotations

import json
from typing import Any

Obj = dict[str, Any]

_SELECTOR_KINDS = {("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "DaemonSet"), ("apps", "StatefulSet")}
IMMUTABLE_SET = "Forbidden: field is immutable when `immutable` is set"


def _get(obj: Obj, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)  # type: ignore[assignment]
    return obj


def _changed(new: Obj, old: Obj, *path: str) -> tuple[str, str] | None:
    if _get(new, *path) != _get(old, *path):
        shown = json.dumps(_get(new, *path), sort_keys=True)
        return ".".join(path), f"Invalid value: {shown}: field is immutable"
    return None


def problems(group: str, kind: str, new: Obj, old: Obj | None) -> list[tuple[str, str]]:
    if old is None:
        return []
    found: list[tuple[str, str] | None] = []
    if (group, kind) in _SELECTOR_KINDS:
        found.append(_changed(new, old, "spec", "selector"))
    elif (group, kind) == ("batch", "Job"):
        found += [_changed(new, old, "spec", "selector"), _changed(new, old, "spec", "template")]
    elif (group, kind) == ("", "Service"):
        old_ip, new_ip = _get(old, "spec", "clusterIP"), _get(new, "spec", "clusterIP")
        if old_ip and new_ip and old_ip != new_ip:
            found.append(_changed(new, old, "spec", "clusterIP"))
    elif (group, kind) in (("", "ConfigMap"), ("", "Secret")) and old.get("immutable") is True:
        if new.get("immutable") is not True:
            found.append(("immutable", IMMUTABLE_SET))
        for key in ("data", "binaryData"):
            if (new.get(key) or {}) != (old.get(key) or {}):
                found.append((key, IMMUTABLE_SET))
    elif group == "rbac.authorization.k8s.io" and kind in ("RoleBinding", "ClusterRoleBinding"):
        found.append(_role_ref_changed(new, old))
    return [f for f in found if f is not None]


def _role_ref_changed(new: Obj, old: Obj) -> tuple[str, str] | None:
    ref = new.get("roleRef") or {}
    if ref == (old.get("roleRef") or {}):
        return None
    shown = (f'rbac.RoleRef{{APIGroup:"{ref.get("apiGroup", "")}", Kind:"{ref.get("kind", "")}", '
             f'Name:"{ref.get("name", "")}"}}')
    return "roleRef", f"Invalid value: {shown}: cannot change roleRef"
