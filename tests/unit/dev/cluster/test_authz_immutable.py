"""Dev cluster RBAC for impersonated requests (verbs, rule matching, subjects) and immutable fields of
built-in kinds, on the store directly."""

import pytest

from tfcontroller.dev.cluster import authz, immutable
from tfcontroller.dev.cluster.errors import ApiError
from tfcontroller.dev.cluster.store import Store

RBAC = "rbac.authorization.k8s.io"
SA = "system:serviceaccount:team:deployer"


class _Store(Store):
    def put(self, group: str, plural: str, obj: dict) -> dict:
        obj["metadata"].setdefault("uid", f"{plural}-{obj['metadata']['name']}")
        return super().put(group, plural, obj)


def store_with_rbac() -> Store:
    s = _Store()
    s.put(RBAC, "roles", {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": "cm", "namespace": "team"},
                          "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "patch"]}]})
    s.put(RBAC, "rolebindings", {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding",
                                 "metadata": {"name": "cm", "namespace": "team"},
                                 "roleRef": {"kind": "Role", "name": "cm"},
                                 "subjects": [{"kind": "ServiceAccount", "name": "deployer"}]})
    s.put(RBAC, "clusterroles", {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": "view-ns"},
                                 "rules": [{"apiGroups": ["*"], "resources": ["namespaces"], "verbs": ["list"]}]})
    s.put(RBAC, "clusterrolebindings", {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
                                        "metadata": {"name": "view-ns"}, "roleRef": {"kind": "ClusterRole", "name": "view-ns"},
                                        "subjects": [{"kind": "Group", "name": "system:serviceaccounts:team"}]})
    return s


def check(s: Store, method: str, plural: str, ns: str | None, name: str | None, user: str = SA,
          query: dict | None = None) -> None:
    authz.authorize(s, method, query or {}, {"impersonate-user": user} if user else {}, "", plural, ns, name, None)


def test_rolebinding_and_group_bindings() -> None:
    s = store_with_rbac()
    check(s, "PATCH", "configmaps", "team", "c")
    check(s, "GET", "configmaps", "team", "c")
    check(s, "GET", "namespaces", None, None)  # via the namespace's service-account group
    check(s, "DELETE", "secrets", "team", "x", user="")  # not impersonating: the admin may do anything
    with pytest.raises(ApiError) as err:
        check(s, "GET", "configmaps", "team", None)  # list is not granted
    assert err.value.code == 403
    with pytest.raises(ApiError) as err:
        check(s, "PATCH", "configmaps", "other", "c")  # the RoleBinding is namespaced
    assert 'User "system:serviceaccount:team:deployer" cannot patch resource "configmaps"' in str(err.value.status())
    with pytest.raises(ApiError):
        check(s, "PATCH", "configmaps", "team", "c", user="system:serviceaccount:other:deployer")


def test_verbs_and_rules() -> None:
    assert authz.request_verb("GET", {"watch": "true"}, False) == "watch"
    assert authz.request_verb("DELETE", {}, False) == "deletecollection"
    rule = {"apiGroups": ["apps"], "resources": ["deployments", "deployments/*"], "verbs": ["*"], "resourceNames": ["web"]}
    assert authz.rule_allows(rule, "patch", "apps", "deployments", "web")
    assert authz.rule_allows(rule, "update", "apps", "deployments/status", "web")
    assert not authz.rule_allows(rule, "patch", "apps", "deployments", "api")
    assert not authz.rule_allows(rule, "patch", "", "deployments", "web")


def test_immutable_fields() -> None:
    old = {"spec": {"selector": {"matchLabels": {"app": "a"}}}}
    new = {"spec": {"selector": {"matchLabels": {"app": "b"}}}}
    assert immutable.problems("apps", "Deployment", new, None) == []
    [(field, msg)] = immutable.problems("apps", "Deployment", new, old)
    assert field == "spec.selector" and "field is immutable" in msg
    assert immutable.problems("apps", "Deployment", old, old) == []
    frozen = {"immutable": True, "data": {"k": "v"}}
    assert immutable.problems("", "ConfigMap", {"immutable": True, "data": {"k": "w"}}, frozen)[0][0] == "data"
    assert immutable.problems("", "ConfigMap", {"data": {"k": "v"}}, frozen)[0][0] == "immutable"
    assert immutable.problems("", "ConfigMap", {"data": {"k": "w"}}, {"data": {"k": "v"}}) == []
