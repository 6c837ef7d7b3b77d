"""Cross-namespace references checked against the cluster (issue 16), for every controller that has a
`sourceRef` or `dependsOn`: read what the pure rules of api/access.py need (the referring namespace's
labels, the GitRepository's accessFrom) and answer with the refusal's message or None.

The index `crossNamespaceRefs` lists, for an object with a reference into another namespace, its *own*
namespace: a change to that Namespace's labels (a watch on Namespaces) re-enqueues exactly the objects
whose access may have changed. A change to a GitRepository's `accessFrom` re-enqueues through the
controllers' existing `sourceRef` index.
"""

from __future__ import annotations

from typing import Any

from tfcontroller.api.access import access_from_of, dependency_access, is_cross_namespace, source_access
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import NAMESPACES

INDEX_CROSS_NAMESPACE = "crossNamespaceRefs"


def namespace_labels(kube: KubeClient, namespace: str) -> dict[str, str]:
    """The labels of a Namespace ({} when it cannot be read: nothing is selected then)."""
    obj = kube.get_or_none(NAMESPACES, namespace, None)
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


def refused_source(kube: KubeClient, kind: str, ref_namespace: str, ref_name: str, own_namespace: str,
                   repo: dict[str, Any] | None, allow_all: bool) -> str | None:
    """Why an object of `own_namespace` may not use the source `repo` (already read), or None."""
    if not is_cross_namespace(own_namespace, ref_namespace) or allow_all:
        return None
    return source_access(kind, ref_namespace, ref_name, own_namespace, allow_all=allow_all,
                         access_from=access_from_of(repo), own_namespace_labels=namespace_labels(kube, own_namespace))


def refused_dependency(kind: str, ref_namespace: str, ref_name: str, own_namespace: str,
                       allow_all: bool) -> str | None:
    return dependency_access(kind, ref_namespace, ref_name, own_namespace, allow_all=allow_all)


def cross_namespace_index(obj: dict[str, Any]) -> list[str]:
    """[own namespace] when `sourceRef` or a `dependsOn` names another namespace, else []."""
    own = (obj.get("metadata") or {}).get("namespace") or "default"
    raw = obj.get("spec")
    spec: dict[str, Any] = raw if isinstance(raw, dict) else {}
    refs = [spec.get("sourceRef")] + list(spec.get("dependsOn") or [])
    for ref in refs:
        if isinstance(ref, dict) and is_cross_namespace(own, str(ref.get("namespace") or own)):
            return [own]
    return []


def namespace_name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")
