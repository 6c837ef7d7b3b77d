"""RBAC as pure functions (rbac.py): rule matching (wildcards, `*/subresource`, resourceNames,
nonResourceURL `*` suffixes), the index of grants by subject and the allowing binding's description,
the real 403 wording, escalation coverage (BreakdownRule/Covers), label selectors and aggregation,
plus the groups an impersonated user gets."""

from __future__ import annotations

import pytest

from tfcontroller.dev.cluster import authz
from tfcontroller.dev.cluster.identity import ANONYMOUS_USER, UserInfo
from tfcontroller.dev.cluster.rbac import (
    Attributes,
    PolicyIndex,
    aggregate_rules,
    compact_rule,
    forbidden,
    rule_allows,
    selector_matches,
    uncovered,
)

JANE = UserInfo("jane", groups=("devs", "system:authenticated"))
SA = UserInfo("system:serviceaccount:team-a:runner",
              groups=("system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"))


def res(verb: str, resource: str, *, group: str = "", ns: str = "team-a", name: str = "", sub: str = "",
        user: UserInfo = JANE) -> Attributes:
    return Attributes(user, verb, ns, group, resource, sub, name)


def path(verb: str, url: str, user: UserInfo = JANE) -> Attributes:
    return Attributes(user, verb, path=url, resource_request=False)


@pytest.mark.parametrize("rule,attrs,allowed", [
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, res("get", "pods"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, res("list", "pods"), False),
    ({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, res("delete", "deployments", group="apps"), True),
    ({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"]}, res("get", "pods"), False),
    # subresources: exact, */sub, but not pods/* and not the bare resource
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}, res("get", "pods", sub="log"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}, res("get", "pods", sub="log"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/*"]}, res("get", "pods", sub="log"), False),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, res("get", "pods", sub="log"), False),
    ({"verbs": ["update"], "apiGroups": ["*"], "resources": ["*/status"]}, res("update", "widgets", group="x.io", sub="status"), True),
    ({"verbs": ["create"], "apiGroups": [""], "resources": ["serviceaccounts/token"]},
     res("create", "serviceaccounts", sub="token", name="runner"), True),
    # resourceNames: only named requests match a restricted rule
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"]}, res("get", "secrets", name="a"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"]}, res("get", "secrets", name="b"), False),
    ({"verbs": ["list"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"]}, res("list", "secrets"), False),
    # non-resource URLs
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, path("get", "/healthz"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, path("get", "/healthz/etcd"), False),
    ({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}, path("get", "/apis/apps/v1"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}, path("get", "/apis"), False),
    ({"verbs": ["get"], "nonResourceURLs": ["*"]}, path("get", "/anything"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, path("post", "/healthz"), False),
    ({"verbs": ["get"], "apiGroups": ["*"], "resources": ["*"]}, path("get", "/api"), False),
    ({"verbs": ["get"], "nonResourceURLs": ["*"]}, res("get", "pods"), False),
])
def test_rule_allows(rule: dict, attrs: Attributes, allowed: bool) -> None:
    assert rule_allows(rule, attrs) is allowed


def _binding(kind: str, name: str, ns: str, role_kind: str, role: str, subjects: list[dict]) -> dict:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"kind": kind, "metadata": meta, "roleRef": {"kind": role_kind, "name": role}, "subjects": subjects}


def index() -> PolicyIndex:
    read = [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"]}]
    return PolicyIndex.build(
        roles=[{"metadata": {"name": "read", "namespace": "team-a"}, "rules": read}],
        cluster_roles=[{"metadata": {"name": "ns-lister"}, "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["namespaces"]}]},
                       {"metadata": {"name": "cm"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]}]}],
        role_bindings=[
            _binding("RoleBinding", "sa-read", "team-a", "Role", "read", [{"kind": "ServiceAccount", "name": "runner"}]),
            _binding("RoleBinding", "devs-cm", "team-b", "ClusterRole", "cm", [{"kind": "Group", "name": "devs"}]),
            _binding("RoleBinding", "dangling", "team-a", "Role", "missing", [{"kind": "User", "name": "jane"}]),
        ],
        cluster_role_bindings=[_binding("ClusterRoleBinding", "all-sa", "", "ClusterRole", "ns-lister",
                                        [{"kind": "Group", "name": "system:serviceaccounts"}])],
    )


def test_index_grants_by_subject_and_scope() -> None:
    idx = index()
    assert idx.authorize(res("get", "secrets", user=SA)) == (
        True, 'RBAC: allowed by RoleBinding "sa-read/team-a" of Role "read" to ServiceAccount "runner/team-a"')
    assert idx.authorize(res("get", "secrets", ns="team-b", user=SA)) == (False, "")
    assert idx.authorize(res("list", "namespaces", ns="", user=SA)) == (
        True, 'RBAC: allowed by ClusterRoleBinding "all-sa" of ClusterRole "ns-lister" to Group "system:serviceaccounts"')
    assert idx.authorize(res("get", "configmaps", ns="team-b"))[0]  # a ClusterRole bound in one namespace ...
    assert not idx.authorize(res("get", "configmaps", ns="team-a"))[0]  # ... grants only there
    assert not idx.authorize(res("get", "configmaps", ns=""))[0]
    assert not idx.authorize(res("get", "secrets"))[0]  # a binding to a missing role grants nothing
    assert not idx.authorize(res("list", "namespaces", ns="", user=ANONYMOUS_USER))[0]
    other_sa = UserInfo("system:serviceaccount:team-b:runner", groups=("system:serviceaccounts",))
    assert not idx.authorize(res("get", "secrets", user=other_sa))[0]  # the subject's namespace counts
    assert len(idx.rules_for(SA, "team-a")) == 2 and len(idx.rules_for(SA, "")) == 1


def test_forbidden_bodies() -> None:
    err = forbidden(res("get", "secrets", ns="team-b", name="creds", user=SA))
    assert err.status()["message"] == ('secrets "creds" is forbidden: User "system:serviceaccount:team-a:runner" '
                                       'cannot get resource "secrets" in API group "" in the namespace "team-b"')
    assert err.status()["details"] == {"name": "creds", "kind": "secrets"}
    err = forbidden(res("list", "deployments", group="apps", ns=""))
    assert err.status()["message"] == ('deployments.apps is forbidden: User "jane" cannot list resource "deployments" '
                                       'in API group "apps" at the cluster scope')
    assert err.status()["details"] == {"group": "apps", "kind": "deployments"}  # empty fields omitted
    err = forbidden(res("get", "pods", sub="log", name="p"))
    assert err.status()["message"] == ('pods "p" is forbidden: User "jane" cannot get resource "pods/log" in API '
                                       'group "" in the namespace "team-a"')
    err = forbidden(path("get", "/metrics"))
    assert (err.status()["message"], err.status()["details"]) == ('forbidden: User "jane" cannot get path "/metrics"', {})


def test_escalation_coverage() -> None:
    held = [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps", "*/status"]},
            {"verbs": ["*"], "apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"]},
            {"verbs": ["get"], "nonResourceURLs": ["/logs/*"]}]
    assert uncovered(held, [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps", "pods/status"]}]) == []
    assert uncovered(held, [{"verbs": ["get"], "nonResourceURLs": ["/logs/a", "/logs/b/c"]}]) == []
    assert uncovered(held, [{"verbs": ["patch"], "apiGroups": ["apps"], "resources": ["deployments"],
                             "resourceNames": ["web"]}]) == []
    # a name-restricted rule does not cover the unrestricted one; `*` is not covered by named verbs
    assert uncovered(held, [{"verbs": ["patch"], "apiGroups": ["apps"], "resources": ["deployments"]}]) == [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}]
    assert uncovered(held, [{"verbs": ["*"], "apiGroups": [""], "resources": ["configmaps"]}]) == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]
    assert uncovered(held, [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods/status", "pods"]}]) == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    assert uncovered(held, [{"verbs": ["get"], "nonResourceURLs": ["/logs"]}]) == [{"nonResourceURLs": ["/logs"], "verbs": ["get"]}]
    assert compact_rule({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"],
                         "resourceNames": ["a"]}) == '{APIGroups:[""], Resources:["secrets"], ResourceNames:["a"], Verbs:["get" "list"]}'


@pytest.mark.parametrize("selector,labels,matches", [
    ({}, {"a": "1"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
])
def test_selectors(selector: dict, labels: dict, matches: bool) -> None:
    assert selector_matches(selector, labels) is matches


def test_aggregation_is_the_ordered_union_without_duplicates() -> None:
    r1, r2, r3 = ({"verbs": ["get"], "apiGroups": [""], "resources": [x]} for x in ("a", "b", "c"))
    target = {"metadata": {"name": "agg", "labels": {"pick": "yes"}},
              "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"pick": "yes"}},
                                                           {"matchLabels": {"also": "yes"}}]}}
    roles = [target,
             {"metadata": {"name": "z", "labels": {"pick": "yes"}}, "rules": [r2, r1]},
             {"metadata": {"name": "m", "labels": {"also": "yes"}}, "rules": [r1]},
             {"metadata": {"name": "x", "labels": {"pick": "no"}}, "rules": [r3]}]
    assert aggregate_rules(target, roles) == [r1, r2]  # m before z; r1 once; agg itself left out
    assert aggregate_rules(roles[1], roles) is None


def test_impersonated_groups() -> None:
    groups = authz._impersonated_groups
    assert groups("jane", [], None) == ["system:authenticated"]
    assert groups("jane", ["devs"], None) == ["devs", "system:authenticated"]
    assert groups("system:serviceaccount:ns:sa", [], ("ns", "sa")) == [
        "system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"]
    assert groups("system:anonymous", [], None) == ["system:unauthenticated"]
    assert groups("jane", ["system:unauthenticated"], None) == ["system:unauthenticated"]
