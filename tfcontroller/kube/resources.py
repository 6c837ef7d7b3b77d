"""Resource descriptors: what the client needs to build a URL for a kind (group/version, plural, scope).

Kinds the controllers use are declared here once; anything else is found by discovery
(`KubeClient.resource_for`) — ManifestSet applies arbitrary kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Resource:
    api_version: str  # "v1" or "group/version"
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.split("/", 1)[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.rsplit("/", 1)[-1]

    def base_path(self) -> str:
        return f"/apis/{self.api_version}" if "/" in self.api_version else f"/api/{self.api_version}"

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """Collection path (no name) or object path. `namespace=None` on a namespaced kind means all
        namespaces (valid for list and watch only)."""
        parts = [self.base_path()]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.api_version}"


def object_label(resource: Resource, name: str) -> str:
    """How every command names an object it changes: kubectl's singular `kind.group/name`."""
    return f"{resource.kind.lower()}.{resource.group}/{name}"


def object_key(obj: dict[str, Any]) -> str:
    """The work-queue key of an object: `namespace/name`, or `name` for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


def split_key(key: str) -> tuple[str | None, str]:
    """Inverse of `object_key`."""
    if "/" in key:
        ns, name = key.split("/", 1)
        return ns, name
    return None, key


NAMESPACES = Resource("v1", "Namespace", "namespaces", namespaced=False)
CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")
SECRETS = Resource("v1", "Secret", "secrets")
EVENTS = Resource("v1", "Event", "events")
SERVICEACCOUNTS = Resource("v1", "ServiceAccount", "serviceaccounts")
PODS = Resource("v1", "Pod", "pods")
LEASES = Resource("coordination.k8s.io/v1", "Lease", "leases")
TOKENREVIEWS = Resource("authentication.k8s.io/v1", "TokenReview", "tokenreviews", namespaced=False)
SELF_SUBJECT_REVIEWS = Resource("authentication.k8s.io/v1", "SelfSubjectReview", "selfsubjectreviews",
                                namespaced=False)
SELF_SUBJECT_ACCESS_REVIEWS = Resource("authorization.k8s.io/v1", "SelfSubjectAccessReview",
                                       "selfsubjectaccessreviews", namespaced=False)
CRDS = Resource("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False)

GITREPOSITORIES = Resource("tfcontroller.io/v1alpha1", "GitRepository", "gitrepositories")
TERRAFORMS = Resource("tfcontroller.io/v1alpha1", "Terraform", "terraforms")
MANIFESTSETS = Resource("tfcontroller.io/v1alpha1", "ManifestSet", "manifestsets")
PLANPOLICIES = Resource("tfcontroller.io/v1alpha1", "PlanPolicy", "planpolicies")
POLICYEXCEPTIONS = Resource("tfcontroller.io/v1alpha1", "PolicyException", "policyexceptions")
NOTIFICATIONPROVIDERS = Resource("tfcontroller.io/v1alpha1", "NotificationProvider", "notificationproviders")
NOTIFICATIONRULES = Resource("tfcontroller.io/v1alpha1", "NotificationRule", "notificationrules")

WELL_KNOWN: dict[tuple[str, str], Resource] = {
    (r.api_version, r.kind): r
    for r in (NAMESPACES, CONFIGMAPS, SECRETS, EVENTS, SERVICEACCOUNTS, PODS, LEASES, CRDS, GITREPOSITORIES, TERRAFORMS,
              MANIFESTSETS, PLANPOLICIES, POLICYEXCEPTIONS, NOTIFICATIONPROVIDERS, NOTIFICATIONRULES)
}
