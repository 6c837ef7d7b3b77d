"""Dev cluster authorisation on a store (request verbs, bindings by subject, the index rebuilt on RBAC
changes, the real 403 wording) and immutable fields of built-in kinds."""

import pytest

from tfcontroller.dev.cluster import authz, immutable
from tfcontroller.dev.cluster.errors import ApiError
from tfcontroller.dev.cluster.identity import (
    ADMIN,
    ANONYMOUS_USER,
    UserInfo,
    service_account_groups,
    split_service_account,
)
from tfcontroller.dev.cluster.router import Request, request_headers
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


def user(name: str = SA, *groups: str) -> UserInfo:
    split = split_service_account(name)
    return UserInfo(name, groups=groups or (service_account_groups(split[0]) if split else ("system:authenticated",)))


def check(s: Store, method: str, plural: str, ns: str | None, name: str | None, who: UserInfo | None = None,
          query: dict | None = None) -> None:
    attrs = authz.resource_attributes(who or user(), method, query or {}, "", plural, ns, name, None)
    authz.Authorizer(s).check(attrs)


def test_rolebinding_and_group_bindings() -> None:
    s = store_with_rbac()
    check(s, "PATCH", "configmaps", "team", "c")
    check(s, "GET", "configmaps", "team", "c")
    check(s, "GET", "namespaces", None, None)  # via the namespace's service-account group
    check(s, "DELETE", "secrets", "team", "x", who=ADMIN)  # system:masters may do anything
    with pytest.raises(ApiError) as err:
        check(s, "GET", "configmaps", "team", None)  # list is not granted
    assert err.value.code == 403
    with pytest.raises(ApiError) as err:
        check(s, "PATCH", "configmaps", "other", "c")  # the RoleBinding is namespaced
    assert err.value.status()["message"] == (
        'configmaps "c" is forbidden: User "system:serviceaccount:team:deployer" cannot patch resource "configmaps" '
        'in API group "" in the namespace "other"')
    with pytest.raises(ApiError):
        check(s, "PATCH", "configmaps", "team", "c", who=user("system:serviceaccount:other:deployer"))
    with pytest.raises(ApiError):
        check(s, "GET", "configmaps", "team", "c", who=ANONYMOUS_USER)


def test_index_follows_rbac_changes() -> None:
    s = store_with_rbac()
    az = authz.Authorizer(s)
    attrs = authz.resource_attributes(user(), "GET", {}, "", "secrets", "team", "x", None)
    assert not az.allowed(attrs)[0]
    first = az.index()
    assert az.index() is first  # no RBAC change: the same index
    s.put("", "configmaps", {"metadata": {"name": "unrelated", "namespace": "team"}})
    assert az.index() is first  # other kinds do not rebuild it
    role = s.get(RBAC, "roles", "team", "cm")
    assert role is not None
    role["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})
    s.put(RBAC, "roles", role)
    assert az.allowed(attrs) == (True, 'RBAC: allowed by RoleBinding "cm/team" of Role "cm" to ServiceAccount "deployer/team"')


def test_verbs() -> None:
    assert authz.request_verb("GET", {"watch": "true"}, False) == "watch"
    assert authz.request_verb("GET", {"watch": "1"}, True) == "watch"
    assert authz.request_verb("HEAD", {}, True) == "get"
    assert authz.request_verb("DELETE", {}, False) == "deletecollection"
    assert authz.request_verb("DELETE", {}, True) == "delete"
    assert authz.request_verb("PUT", {}, True) == "update"


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


def test_role_ref_of_bindings_is_immutable() -> None:
    old = {"roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "a"}, "subjects": []}
    same = {"roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "a"}, "subjects": [{"kind": "User", "name": "x"}]}
    assert immutable.problems(RBAC, "RoleBinding", same, old) == []
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        changed = {"roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "admin"}}
        assert immutable.problems(RBAC, kind, changed, old) == [("roleRef", (
            'Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"admin"}: '
            "cannot change roleRef"))]


def test_impersonation_of_uids_and_extras_needs_each_grant() -> None:
    s = store_with_rbac()
    caller = user("system:serviceaccount:team:deployer")
    headers = {"impersonate-user": ["jane"], "impersonate-uid": ["u-1"],
               "impersonate-extra-scopes": ["view", "edit"], "impersonate-group": ["devs", "ops"]}
    with pytest.raises(ApiError) as err:
        authz.impersonate(authz.Authorizer(s), caller, headers)
    assert 'users "jane" is forbidden' in err.value.message
    grants = [
        {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["jane"]},
        {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["uids"], "verbs": ["impersonate"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["userextras/scopes"], "verbs": ["impersonate"],
         "resourceNames": ["view"]},
    ]
    s.put(RBAC, "clusterroles", {"metadata": {"name": "imp"}, "rules": grants})
    s.put(RBAC, "clusterrolebindings", {"metadata": {"name": "imp"}, "roleRef": {"kind": "ClusterRole", "name": "imp"},
                                        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "team"}]})
    with pytest.raises(ApiError) as err:  # "edit" is not among the extra values it may set
        authz.impersonate(authz.Authorizer(s), caller, headers)
    assert err.value.message == (
        'userextras.authentication.k8s.io "edit" is forbidden: User "system:serviceaccount:team:deployer" cannot '
        'impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope')
    grants[3]["resourceNames"].append("edit")
    s.put(RBAC, "clusterroles", {"metadata": {"name": "imp"}, "rules": grants})
    as_jane = authz.impersonate(authz.Authorizer(s), caller, headers)
    assert as_jane == UserInfo("jane", "u-1", ("devs", "ops", "system:authenticated"), {"scopes": ["view", "edit"]})
    with pytest.raises(ApiError) as err:
        authz.impersonate(authz.Authorizer(s), caller, {"impersonate-group": ["devs"]})
    assert err.value.code == 500
    # each header line is one value, as kube-apiserver reads them: a comma is part of the name
    as_jane = authz.impersonate(authz.Authorizer(s), caller, {"impersonate-user": ["jane"],
                                                              "impersonate-group": ["a,b", "c, d"]})
    assert as_jane.groups == ("a,b", "c, d", "system:authenticated")


def test_create_check_is_create_on_the_same_name_with_the_update_handlers_403() -> None:
    """A PUT or PATCH that creates is authorised again as `create`; the 403 carries RBAC's (empty) reason
    only, as kube-apiserver's withAuthorization builds it."""
    s = store_with_rbac()  # the deployer may get and patch configmaps in team, not create them
    patch = authz.resource_attributes(user(), "PATCH", {}, "", "configmaps", "team", "app", None)
    az = authz.Authorizer(s)
    az.check(patch)
    with pytest.raises(ApiError) as err:
        az.create_check(patch)()
    assert err.value.code == 403
    assert err.value.message == 'configmaps "app" is forbidden: '
    assert err.value.details == {"name": "app", "kind": "configmaps"}
    az.create_check(authz.resource_attributes(ADMIN, "PUT", {}, "", "configmaps", "team", "app", None))()
    s.put(RBAC, "roles", {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": "one", "namespace": "team"},
                          "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"],
                                     "resourceNames": ["app"]}]})
    s.put(RBAC, "rolebindings", {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding",
                                 "metadata": {"name": "one", "namespace": "team"}, "roleRef": {"kind": "Role", "name": "one"},
                                 "subjects": [{"kind": "ServiceAccount", "name": "deployer"}]})
    az.create_check(patch)()  # by name
    other = authz.resource_attributes(user(), "PATCH", {}, "", "configmaps", "team", "other", None)
    with pytest.raises(ApiError):
        az.create_check(other)()


def test_request_headers_keep_every_line_of_a_repeated_header() -> None:
    """Single-valued headers read the first line (Go's `Header.Get`); a repeated header keeps each line as
    one value, never joined or split on commas."""
    first, repeated = request_headers([("Impersonate-Group", "a,b"), ("Authorization", "Bearer x"),
                                       ("impersonate-group", "c"), ("Accept", "application/json"),
                                       ("Authorization", "Bearer y")])
    assert first == {"impersonate-group": "a,b", "authorization": "Bearer x", "accept": "application/json"}
    assert repeated == {"impersonate-group": ("a,b", "c"), "authorization": ("Bearer x", "Bearer y")}
    req = Request("GET", "/", first, b"", repeated)
    assert req.header_values("Impersonate-Group") == ("a,b", "c")
    assert req.header_values("accept") == ("application/json",)
    assert req.header_values("impersonate-uid") == ()
    assert req.header("Authorization") == "Bearer x"
