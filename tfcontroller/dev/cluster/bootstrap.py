"""The default RBAC policy a real cluster creates at start (the API server's bootstrap policy), so that
`kubectl auth can-i` and the default roles answer as on a kubeadm cluster.

Created (when missing) at every start, like the real server's `rbac/bootstrap-roles` post-start hook:
- `cluster-admin` (everything), bound to the group `system:masters`;
- `admin`, `edit`, `view`, aggregated (admin ⊇ edit ⊇ view) from `system:aggregate-to-admin`/`-edit`/`-view`
  through the `rbac.authorization.k8s.io/aggregate-to-*` labels, so a CRD's own ClusterRole labelled
  `aggregate-to-view: "true"` joins `view` as on a real cluster; their rules are those of Kubernetes 1.32;
- `system:discovery` (the discovery and health paths) and `system:basic-user` (SelfSubjectAccessReview,
  SelfSubjectRulesReview, SelfSubjectReview), bound to `system:authenticated`;
- `system:public-info-viewer` (`/healthz`, `/livez`, `/readyz`, `/version`), bound to
  `system:authenticated` and `system:unauthenticated`: all an anonymous caller may do, as on kubeadm.
Left out: the controller-manager, scheduler, node and kubelet roles (nothing here runs as them).
"""

from __future__ import annotations

from typing import Any

from tfcontroller.dev.cluster.rbac import RBAC

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def _rule(verbs: list[str], groups: list[str], resources: list[str]) -> dict[str, Any]:
    return {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}


def _urls(verbs: list[str], urls: list[str]) -> dict[str, Any]:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def _role(name: str, rules: list[dict[str, Any]], labels: dict[str, str] | None = None,
          aggregate_from: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {**_LABELS, **(labels or {})}, "annotations": dict(_ANNOTATIONS)},
        "rules": rules,
    }
    if aggregate_from is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE + aggregate_from: "true"}}]}
    return obj


def _binding(name: str, role: str, groups: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": dict(_LABELS), "annotations": dict(_ANNOTATIONS)},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": g} for g in groups],
    }


_VIEW = [
    _rule(READ, [""], ["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
                       "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
                       "services/status"]),
    _rule(READ, [""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
                       "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"]),
    _rule(READ, [""], ["namespaces"]),
    _rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
    _rule(READ, ["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                           "deployments/status", "replicasets", "replicasets/scale", "replicasets/status",
                           "statefulsets", "statefulsets/scale", "statefulsets/status"]),
    _rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
    _rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
    _rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
    _rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
]

_EDIT = [
    _rule(READ, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"]),
    _rule(["impersonate"], [""], ["serviceaccounts"]),
    _rule(WRITE, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
    _rule(["create"], [""], ["pods/eviction"]),
    _rule(WRITE, [""], ["configmaps", "endpoints", "events", "persistentvolumeclaims", "replicationcontrollers",
                        "replicationcontrollers/scale", "secrets", "services", "services/proxy"]),
    _rule(["create"], [""], ["serviceaccounts/token"]),
    _rule(WRITE, [""], ["serviceaccounts"]),
    _rule(WRITE, ["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
                            "replicasets/scale", "statefulsets", "statefulsets/scale"]),
    _rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
    _rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
    _rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
    _rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
]

_ADMIN = [
    _rule(READ + WRITE, [RBAC], ["rolebindings", "roles"]),
    _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
]

DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
                  "/version", "/version/"]
PUBLIC_INFO_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]

CLUSTER_ROLES: tuple[dict[str, Any], ...] = (
    _role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]),
    _role("admin", [], aggregate_from="admin"),
    _role("edit", [], {AGGREGATE + "admin": "true"}, aggregate_from="edit"),
    _role("view", [], {AGGREGATE + "edit": "true"}, aggregate_from="view"),
    _role("system:aggregate-to-admin", _ADMIN, {AGGREGATE + "admin": "true"}),
    _role("system:aggregate-to-edit", _EDIT, {AGGREGATE + "edit": "true"}),
    _role("system:aggregate-to-view", _VIEW, {AGGREGATE + "view": "true"}),
    _role("system:discovery", [_urls(["get"], DISCOVERY_URLS)]),
    _role("system:public-info-viewer", [_urls(["get"], PUBLIC_INFO_URLS)]),
    _role("system:basic-user", [
        _rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
        _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
    ]),
)

CLUSTER_ROLE_BINDINGS: tuple[dict[str, Any], ...] = (
    _binding("cluster-admin", "cluster-admin", ["system:masters"]),
    _binding("system:discovery", "system:discovery", ["system:authenticated"]),
    _binding("system:basic-user", "system:basic-user", ["system:authenticated"]),
    _binding("system:public-info-viewer", "system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]),
)
