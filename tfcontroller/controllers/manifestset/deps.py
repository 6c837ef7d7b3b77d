"""ManifestSet relations, as pure functions: is a dependency usable (ready by the shared rule of
runtime/readiness.py, and a Terraform's outputs Secret present), and the index values that let a
change to a GitRepository, Terraform, ManifestSet or outputs Secret re-reconcile its dependants at once.

Index values are `Kind/namespace/name` so that one index ("dependsOn") serves both dependency kinds.
"""

from __future__ import annotations

from typing import Any

from tfcontroller.api.constants import GITREPOSITORY_KIND, TERRAFORM_KIND
from tfcontroller.runtime.readiness import readiness

Obj = dict[str, Any]

INDEX_SOURCE = "sourceRef"
INDEX_DEPENDS_ON = "dependsOn"
INDEX_SUBSTITUTE_FROM = "substituteFrom"


def ref_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def key_of(kind: str, obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return ref_key(kind, meta.get("namespace") or "default", meta.get("name", ""))


def _own_namespace(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("namespace") or "default"


def _spec(obj: Obj) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def index_source_ref(obj: Obj) -> list[str]:
    ref = _spec(obj).get("sourceRef") or {}
    if not isinstance(ref, dict) or not ref.get("name"):
        return []
    return [ref_key(ref.get("kind") or GITREPOSITORY_KIND, ref.get("namespace") or _own_namespace(obj), ref["name"])]


def index_depends_on(obj: Obj) -> list[str]:
    out = []
    for d in _spec(obj).get("dependsOn") or []:
        if isinstance(d, dict) and d.get("kind") and d.get("name"):
            out.append(ref_key(d["kind"], d.get("namespace") or _own_namespace(obj), d["name"]))
    return out


def index_substitute_from(obj: Obj) -> list[str]:
    out = []
    for s in _spec(obj).get("substituteFrom") or []:
        if isinstance(s, dict) and s.get("kind") and s.get("name"):
            out.append(ref_key(s["kind"], _own_namespace(obj), s["name"]))
    return out


def outputs_secret_name(terraform: Obj) -> str | None:
    w = _spec(terraform).get("writeOutputsToSecret")
    return w.get("name") if isinstance(w, dict) and w.get("name") else None


def dependency_problem(kind: str, key: str, obj: Obj | None, outputs_secret_exists: bool | None) -> str | None:
    """None when the dependency is usable, else a message (`key` is `namespace/name`).
    `outputs_secret_exists` is None when the dependency writes no outputs Secret."""
    if obj is None:
        return f"{kind} {key} not found"
    ready = readiness(obj)
    if not ready:
        return f"{kind} {key} is not ready ({ready.why})"
    if kind == TERRAFORM_KIND and outputs_secret_exists is False:
        return f"{kind} {key} is ready but its outputs Secret {outputs_secret_name(obj)} does not exist yet"
    return None
