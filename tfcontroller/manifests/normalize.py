"""Prepare rendered objects for apply: where each one goes, which labels mark it ours, in what order.

Pure functions. The namespace rule: a namespaced object goes into `targetNamespace` when set, else keeps
its own namespace, else the ManifestSet's; a cluster-scoped object never carries a namespace (a stray
one would make the API path wrong). Apply order: CustomResourceDefinitions, then Namespaces, then the
rest (in render order), so that kinds and namespaces exist before what uses them.

A Secret's `stringData` is sent as base64 `data` (as Flux does): `stringData` is write-only, so the
`data` keys the server derives from it are never owned by our field manager, and server-side apply could
not remove a key that Git no longer declares. Sent as `data`, every key is ours and leaves with Git.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from tfcontroller.api.constants import LABEL_MANIFESTSET_NAME, LABEL_MANIFESTSET_NAMESPACE

STAGE_CRD = 0
STAGE_NAMESPACE = 1
STAGE_REST = 2


def apply_stage(obj: dict[str, Any]) -> int:
    kind = obj.get("kind")
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    if kind == "CustomResourceDefinition" and group == "apiextensions.k8s.io":
        return STAGE_CRD
    if kind == "Namespace" and group == "":
        return STAGE_NAMESPACE
    return STAGE_REST


def label_of(obj: dict[str, Any]) -> str:
    """`Kind/namespace/name` (or `Kind/name` when cluster-scoped): how messages name an object."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind', '?')}/{ns + '/' if ns else ''}{meta.get('name', '?')}"


def owner_labels(name: str, namespace: str) -> dict[str, str]:
    """The labels put on every object a ManifestSet applies (prune checks them before deleting)."""
    return {LABEL_MANIFESTSET_NAME: name, LABEL_MANIFESTSET_NAMESPACE: namespace}


def normalize(
    obj: dict[str, Any],
    *,
    namespaced: bool,
    default_namespace: str,
    target_namespace: str | None,
    labels: dict[str, str],
) -> dict[str, Any]:
    """A copy of `obj` with its namespace settled and the owner labels added; server-owned metadata
    (resourceVersion, uid, managedFields, ...) and status are dropped, as an apply must not send them."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.setdefault("metadata", {})
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink"):
        meta.pop(key, None)
    if namespaced:
        meta["namespace"] = target_namespace or meta.get("namespace") or default_namespace
    else:
        meta.pop("namespace", None)
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    fold_string_data(out)
    return out


def is_secret(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1"


def fold_string_data(obj: dict[str, Any]) -> None:
    """Move a Secret's `stringData` into `data` (base64), in place; a key in both takes the `stringData`
    value, as the API server does. Other kinds, and a `stringData` that is not a map of strings (the API
    server's error then names it), are left alone."""
    string_data = obj.get("stringData")
    if not is_secret(obj) or not isinstance(string_data, dict):
        return
    if not all(isinstance(v, str) for v in string_data.values()):
        return
    del obj["stringData"]
    data = dict(obj.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data


def ordered(items: list[Any], obj_of: Any = lambda x: x) -> list[Any]:
    """Stable sort by apply stage (CRDs, Namespaces, the rest)."""
    return sorted(items, key=lambda item: apply_stage(obj_of(item)))
