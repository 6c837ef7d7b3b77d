"""Minimal RBAC for impersonated requests, so that a tenant's apply can really be refused (403).

Why only for impersonation: the dev cluster's own credentials stay all-powerful (tests and the demo
act as cluster admin), while a request carrying `Impersonate-User` (what a controller sends to act as
a ServiceAccount, or `kubectl --as`) is checked against the Roles, ClusterRoles and their bindings
stored in the cluster, as the real RBAC authorizer does:
- a ClusterRoleBinding grants its ClusterRole's rules everywhere; a RoleBinding grants its Role's (or a
  ClusterRole's) rules in its own namespace;
- subjects match by User name, Group, or ServiceAccount (user `system:serviceaccount:<ns>:<name>`, which
  is also in the groups `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated`);
- a rule matches on verbs, apiGroups, resources (`plural` or `plural/subresource`) and resourceNames,
  each with `*` wildcards.
Not implemented: aggregated ClusterRoles, nonResourceURLs, escalation checks, the `impersonate` verb
(any client may impersonate), and Impersonate-Extra headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfcontroller.dev.cluster import errors
from tfcontroller.dev.cluster.store import Store

RBAC = "rbac.authorization.k8s.io"
SA_PREFIX = "system:serviceaccount:"


def request_verb(method: str, query: Mapping[str, str], has_name: bool) -> str:
    if method == "GET":
        if has_name:
            return "get"
        return "watch" if (query.get("watch") or "").lower() in ("1", "true") else "list"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def groups_of(user: str, extra: list[str]) -> set[str]:
    groups = {"system:authenticated", *extra}
    if user.startswith(SA_PREFIX):
        ns = user[len(SA_PREFIX):].split(":", 1)[0]
        groups |= {"system:serviceaccounts", f"system:serviceaccounts:{ns}"}
    return groups


def _subject_matches(subject: Mapping[str, Any], binding_ns: str, user: str, groups: set[str]) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        return user == f"{SA_PREFIX}{subject.get('namespace') or binding_ns}:{name}"
    return False


def _has(values: list[str] | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)  # type: ignore[operator]


def rule_allows(rule: Mapping[str, Any], verb: str, group: str, resource: str, name: str | None) -> bool:
    if not _has(rule.get("verbs"), verb) or not _has(rule.get("apiGroups"), group):
        return False
    resources = rule.get("resources") or []
    base = resource.split("/", 1)[0]
    if not (_has(resources, resource) or ("/" in resource and f"{base}/*" in resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or (name is not None and name in names)


def _rules(store: Store, binding: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    ref = binding.get("roleRef") or {}
    if ref.get("kind") == "ClusterRole":
        role = store.get(RBAC, "clusterroles", "", ref.get("name", ""))
    else:
        role = store.get(RBAC, "roles", (binding.get("metadata") or {}).get("namespace", ""), ref.get("name", ""))
    return list((role or {}).get("rules") or [])


def allowed(store: Store, user: str, groups: set[str], verb: str, group: str, resource: str,
            namespace: str | None, name: str | None) -> bool:
    bindings = list(store.list(RBAC, "clusterrolebindings"))
    if namespace:
        bindings += store.list(RBAC, "rolebindings", namespace)
    for b in bindings:
        b_ns = (b.get("metadata") or {}).get("namespace", "")
        if not any(_subject_matches(s, b_ns, user, groups) for s in b.get("subjects") or []):
            continue
        if any(rule_allows(r, verb, group, resource, name) for r in _rules(store, b)):
            return True
    return False


def authorize(store: Store, method: str, query: Mapping[str, str], headers: Mapping[str, str], group: str,
              plural: str, namespace: str | None, name: str | None, subresource: str | None) -> None:
    """Raise 403 Forbidden when an impersonated request is not allowed; no-op without impersonation."""
    user = headers.get("impersonate-user", "")
    if not user:
        return
    extra = [g.strip() for g in headers.get("impersonate-group", "").split(",") if g.strip()]
    verb = request_verb(method, query, name is not None)
    resource = f"{plural}/{subresource}" if subresource else plural
    if allowed(store, user, groups_of(user, extra), verb, group, resource, namespace, name):
        return
    what = f'{resource} "{name}"' if name else resource
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    raise errors.forbidden(
        f'{what} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API group "{group}" {where}',
        group, plural, name or "",
    )
