"""Ask before writing (issue 16): when a ManifestSet applies as a ServiceAccount (impersonation), every
object of the render is checked with a SelfSubjectAccessReview *as that ServiceAccount* before the first
write, so that an object RBAC refuses (a ClusterRoleBinding, a Deployment in another team's namespace)
stops the run with nothing applied, instead of after half the set.

Why SelfSubjectAccessReview through the impersonating client: it needs no permission of the controller
beyond impersonating the ServiceAccount (every authenticated user may review itself), and the answer is
the same authorizer's that will judge the apply. Verbs asked per object: `get` (the applier reads the
live object first), `patch` (server-side apply) and — for an object that does not exist yet, read as the
ServiceAccount — `create` (kube-apiserver authorizes an apply that creates the object as `create` too).
A kind the cluster does not serve yet (a CRD of the same set) cannot be asked about; the apply itself
reports a refusal of such an object, and names what was applied before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import Resource
from tfcontroller.kube.reviews import allowed

__all__ = ["Refusal", "allowed", "refusals"]


@dataclass(frozen=True)
class Refusal:
    label: str  # Kind/namespace/name or Kind/name
    source: str  # the file it was rendered from
    verbs: tuple[str, ...]
    resource: str  # plural, with its group: "clusterrolebindings.rbac.authorization.k8s.io"
    namespace: str | None

    def describe(self) -> str:
        where = f"in namespace {self.namespace}" if self.namespace else "(cluster-scoped)"
        return f"{self.label} (from {self.source}): may not {'/'.join(self.verbs)} {self.resource} {where}"


def refusals(kube: KubeClient, objects: list[tuple[Resource, dict[str, Any], str, str]]) -> list[Refusal]:
    """The objects (resource, normalised object, label, source file) RBAC refuses to `kube`'s user."""
    out = []
    for res, obj, label, source in objects:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") if res.namespaced else None
        name = str(meta.get("name") or "")
        denied = [v for v in ("get", "patch") if not allowed(kube, v, res, name, ns)]
        missing = "get" in denied or kube.get_or_none(res, name, ns) is None
        if missing and not allowed(kube, "create", res, name, ns):
            denied.append("create")
        if denied:
            plural = f"{res.plural}.{res.group}" if res.group else res.plural
            out.append(Refusal(label, source, tuple(denied), plural, ns))
    return out
