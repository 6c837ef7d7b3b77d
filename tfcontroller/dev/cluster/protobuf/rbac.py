"""rbac.authorization.k8s.io/v1: what `kubectl create role|clusterrole|rolebinding|clusterrolebinding` send.

Field numbers from k8s.io/api rbac/v1/generated.proto; JSON shapes from the Go types (`verbs` and `rules`
have no omitempty, so an aggregated ClusterRole's absent rules are `null` as in its JSON form).
"""

from __future__ import annotations

from tfcontroller.dev.cluster.protobuf.meta import LABEL_SELECTOR, OBJECT_META
from tfcontroller.dev.cluster.protobuf.wire import KEEP, OMIT, PTR, Message, many, one, s, strs

GROUP = "rbac.authorization.k8s.io/v1"

POLICY_RULE = Message("PolicyRule", {
    1: strs("verbs", KEEP), 2: strs("apiGroups"), 3: strs("resources"), 4: strs("resourceNames"),
    5: strs("nonResourceURLs"),
})
_RULES = many("rules", POLICY_RULE, KEEP)
_METADATA = one("metadata", OBJECT_META)

ROLE = Message("Role", {1: _METADATA, 2: _RULES})
CLUSTER_ROLE = Message("ClusterRole", {
    1: _METADATA, 2: _RULES,
    3: one("aggregationRule", Message("AggregationRule", {1: many("clusterRoleSelectors", LABEL_SELECTOR)}), PTR),
})

SUBJECT = Message("Subject", {1: s("kind", KEEP), 2: s("apiGroup"), 3: s("name", KEEP), 4: s("namespace", OMIT)})
ROLE_REF = Message("RoleRef", {1: s("apiGroup", KEEP), 2: s("kind", KEEP), 3: s("name", KEEP)})
BINDING = Message("RoleBinding", {1: _METADATA, 2: many("subjects", SUBJECT), 3: one("roleRef", ROLE_REF)})

KINDS = {
    (GROUP, "Role"): ROLE,
    (GROUP, "ClusterRole"): CLUSTER_ROLE,
    (GROUP, "RoleBinding"): BINDING,
    (GROUP, "ClusterRoleBinding"): BINDING,
}
