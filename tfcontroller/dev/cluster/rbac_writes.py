"""Privilege-escalation checks on writes of Roles, ClusterRoles and their bindings (the real RBAC
registry's policy-based storage), for every caller but `system:masters`.

- a Role/ClusterRole may be written by whoever may `escalate` roles/clusterroles (there, by that
  name), or holds every rule it grants (in its namespace; cluster-wide for a ClusterRole); an
  `aggregationRule` needs full authority (`*` on everything), as it can gather anything;
- a RoleBinding/ClusterRoleBinding may be written by whoever may `bind` the role it refers to (by
  name), or holds every rule of that role (in the binding's namespace; cluster-wide for a
  ClusterRoleBinding). A binding to a role that does not exist is 404 for such a caller, as on a real cluster.

Refusals are the real 403: `roles.rbac.authorization.k8s.io "x" is forbidden: user "…" (groups=[…]) is
attempting to grant RBAC permissions not currently held:` followed by the missing rules.
"""

from __future__ import annotations

from typing import Any

from tfcontroller.dev.cluster import errors
from tfcontroller.dev.cluster.authz import Authorizer
from tfcontroller.dev.cluster.identity import UserInfo
from tfcontroller.dev.cluster.rbac import (
    FULL_AUTHORITY,
    RBAC,
    Attributes,
    escalation_message,
    forbidden_for,
    uncovered,
)


def check(authz: Authorizer, user: UserInfo, plural: str, namespace: str, url_name: str, obj: Any) -> None:
    """Raise 403 (or 404 for a missing role) when `user` may not write `obj` of `plural`."""
    if user.is_admin or not isinstance(obj, dict):
        return  # an admin holds everything; a malformed body is the write's own 400
    name = str((obj.get("metadata") or {}).get("name") or url_name)
    scope = namespace if plural in ("roles", "rolebindings") else ""
    if plural in ("roles", "clusterroles"):
        _check_role(authz, user, plural, scope, url_name, name, obj)
    elif plural in ("rolebindings", "clusterrolebindings"):
        _check_binding(authz, user, plural, scope, name, obj)


def _check_role(authz: Authorizer, user: UserInfo, plural: str, scope: str, url_name: str, name: str,
                obj: dict[str, Any]) -> None:
    if authz.allowed(Attributes(user, "escalate", scope, RBAC, plural, name=url_name))[0]:
        return
    held = authz.rules_for(user, scope)
    missing = uncovered(held, [r for r in obj.get("rules") or [] if isinstance(r, dict)])
    if missing:
        raise forbidden_for(RBAC, plural, name, escalation_message(user, missing))
    if plural == "clusterroles" and obj.get("aggregationRule") and uncovered(held, FULL_AUTHORITY):
        raise forbidden_for(RBAC, plural, name, "must have cluster-admin privileges to use the aggregationRule")


def _check_binding(authz: Authorizer, user: UserInfo, plural: str, scope: str, name: str, obj: dict[str, Any]) -> None:
    ref = obj.get("roleRef") if isinstance(obj.get("roleRef"), dict) else {}
    assert isinstance(ref, dict)
    role_plural = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
    role_name = str(ref.get("name") or "")
    if authz.allowed(Attributes(user, "bind", scope, RBAC, role_plural, name=role_name))[0]:
        return
    role = authz.store.get(RBAC, role_plural, scope if role_plural == "roles" else "", role_name)
    if role is None:
        raise errors.not_found(RBAC, role_plural, role_name)
    missing = uncovered(authz.rules_for(user, scope), [r for r in role.get("rules") or [] if isinstance(r, dict)])
    if missing:
        raise forbidden_for(RBAC, plural, name, escalation_message(user, missing))
