"""What the development API server serves: one `ResourceInfo` per resource.

This is the contract between the store/HTTP layer (server.py), discovery and OpenAPI documents
(discovery.py), Table output (table.py) and CRD serving: each reads the same registry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ResourceInfo:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    verbs: list[str] = field(
        default_factory=lambda: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    )
    has_status: bool = False  # served with a /status subresource
    printer_columns: list[dict[str, Any]] = field(default_factory=list)  # CRD additionalPrinterColumns
    schema: dict[str, Any] | None = None  # openAPIV3Schema (CRDs); None: stored as plain objects
    list_kind: str = ""
    # A PUT to a missing object creates it (the registry strategy's AllowCreateOnUpdate); else 404.
    allow_create_on_update: bool = False

    def __post_init__(self) -> None:
        if not self.list_kind:
            self.list_kind = f"{self.kind}List"

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version


def _r(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    status: bool = False,
    categories: tuple[str, ...] = (),
    create_on_update: bool = False,
) -> ResourceInfo:
    return ResourceInfo(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=list(short),
        categories=list(categories),
        has_status=status,
        allow_create_on_update=create_on_update,
    )


_ALL = ("all",)


def _review(group: str, kind: str, plural: str, namespaced: bool = False) -> ResourceInfo:
    """A create-only resource that is answered, never stored (reviews.py)."""
    info = _r(group, "v1", kind, plural, namespaced)
    info.verbs = ["create"]
    return info

# Built-in kinds served as plain stored objects (no controllers run behind them). `create_on_update`
# marks the kinds whose Kubernetes 1.32 registry strategy allows create on update (a PUT to a missing
# object creates it): Services, Endpoints, LimitRanges, Events (both APIs share one registry), Leases and the
# four RBAC kinds; every other built-in kind, CRDs and custom resources answer such a PUT 404.
BUILTIN_RESOURCES: tuple[ResourceInfo, ...] = (
    _r("", "v1", "Namespace", "namespaces", False, ("ns",), status=True),
    _r("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _r("", "v1", "Secret", "secrets"),
    _r("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",)),
    _r("", "v1", "Service", "services", short=("svc",), status=True, categories=_ALL, create_on_update=True),
    _r("", "v1", "Pod", "pods", short=("po",), status=True, categories=_ALL),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), status=True),
    _r("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), status=True),
    _r("", "v1", "Event", "events", short=("ev",), create_on_update=True),
    _r("", "v1", "Endpoints", "endpoints", short=("ep",), create_on_update=True),
    _r("", "v1", "Node", "nodes", False, ("no",), status=True),
    _r("", "v1", "LimitRange", "limitranges", short=("limits",), create_on_update=True),
    _r("", "v1", "ResourceQuota", "resourcequotas", short=("quota",), status=True),
    _r("apps", "v1", "Deployment", "deployments", short=("deploy",), status=True, categories=_ALL),
    _r("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), status=True, categories=_ALL),
    _r("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), status=True, categories=_ALL),
    _r("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), status=True, categories=_ALL),
    _r("batch", "v1", "Job", "jobs", status=True, categories=_ALL),
    _r("batch", "v1", "CronJob", "cronjobs", short=("cj",), status=True, categories=_ALL),
    _r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=("hpa",), status=True),
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",), status=True),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), status=True),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles", create_on_update=True),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", create_on_update=True),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, create_on_update=True),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False,
       create_on_update=True),
    _review("authentication.k8s.io", "TokenReview", "tokenreviews"),
    _review("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews"),
    _review("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews"),
    _review("authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreviews", True),
    _review("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews"),
    _review("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews"),
    _r("coordination.k8s.io", "v1", "Lease", "leases", create_on_update=True),
    _r("events.k8s.io", "v1", "Event", "events", short=("ev",), create_on_update=True),
    _r(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ("crd", "crds"),
        status=True,
    ),
)


class Registry:
    """The resources served right now: the built-ins plus whatever established CRDs add.

    Thread-safe because CRD creation (a request thread) changes it while other threads read it.
    Objects are stored per (group, plural), so several versions of one resource share storage.
    """

    def __init__(self, infos: tuple[ResourceInfo, ...] | list[ResourceInfo] = BUILTIN_RESOURCES) -> None:
        self._lock = threading.Lock()
        self._infos: dict[tuple[str, str, str], ResourceInfo] = {}
        for info in infos:
            self.add(info)

    def all(self) -> list[ResourceInfo]:
        with self._lock:
            return list(self._infos.values())

    def lookup(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        with self._lock:
            return self._infos.get((group, version, plural))

    def versions_of(self, group: str, plural: str) -> list[ResourceInfo]:
        """Every served version of one resource (storage is shared between them)."""
        with self._lock:
            return [i for (g, _v, p), i in self._infos.items() if g == group and p == plural]

    def by_kind(self, group: str, kind: str) -> ResourceInfo | None:
        with self._lock:
            for info in self._infos.values():
                if info.group == group and info.kind == kind:
                    return info
        return None

    def add(self, info: ResourceInfo) -> None:
        with self._lock:
            self._infos[(info.group, info.version, info.plural)] = info

    def remove(self, group: str, plural: str) -> None:
        with self._lock:
            for key in [k for k in self._infos if k[0] == group and k[2] == plural]:
                del self._infos[key]
