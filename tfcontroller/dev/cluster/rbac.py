"""RBAC as the real authorizer evaluates it (plugin/pkg/auth/authorizer/rbac), as pure functions.

- A request is `Attributes`: the user, a verb, and either a resource (group, resource, subresource,
  namespace, name) or a non-resource path.
- A rule allows a resource request when verbs, apiGroups, resources and resourceNames match: `*`
  matches anything; a subresource request `pods/log` matches `pods/log` or `*/log` (not `pods/*`, as on
  a real cluster); an empty resourceNames allows every name. A non-resource request matches
  `nonResourceURLs` exactly or by a `*` suffix (`/apis/*`).
- ClusterRoleBindings grant their ClusterRole everywhere; RoleBindings grant their Role (or a
  ClusterRole) in their own namespace. Subjects: User, Group, ServiceAccount (the user
  `system:serviceaccount:NS:NAME`).
- `PolicyIndex` holds every binding's rules by subject, built once per change of the RBAC objects, so a
  request costs a few dictionary look-ups however many objects the cluster holds.
- Escalation: `uncovered(owner_rules, requested)` is the real `ConfirmNoEscalation` (each requested rule
  broken down to one verb/group/resource/name and covered by some rule the user holds).
- Aggregation: `aggregate_rules` is what the clusterrole-aggregation controller writes into the
  `.rules` of a ClusterRole with an `aggregationRule`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.dev.cluster import errors
from tfcontroller.dev.cluster.identity import UserInfo, service_account_username

RBAC = "rbac.authorization.k8s.io"
Rule = Mapping[str, Any]


@dataclass(frozen=True)
class Attributes:
    """One request as the authorizer sees it (apiserver's authorizer.Attributes)."""

    user: UserInfo
    verb: str
    namespace: str = ""
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""
    resource_request: bool = True

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


# ---------------------------------------------------------------------------------------- matching
def _has(values: Iterable[str] | None, wanted: str) -> bool:
    values = list(values or [])
    return "*" in values or wanted in values


def _resource_matches(rule: Rule, combined: str, subresource: str) -> bool:
    for res in rule.get("resources") or []:
        if res in ("*", combined):
            return True
        if subresource and res == f"*/{subresource}":
            return True
    return False


def url_matches(pattern: str, path: str) -> bool:
    return pattern in ("*", path) or (pattern.endswith("*") and path.startswith(pattern.rstrip("*")))


def rule_allows(rule: Rule, attrs: Attributes) -> bool:
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        return any(url_matches(p, attrs.path) for p in rule.get("nonResourceURLs") or [])
    if not _has(rule.get("apiGroups"), attrs.api_group):
        return False
    if not _resource_matches(rule, attrs.combined_resource, attrs.subresource):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


# ---------------------------------------------------------------------------------------- messages
def forbidden_message(attrs: Attributes) -> str:
    """apiserver's responsewriters.forbiddenMessage."""
    who = f'User "{attrs.user.username}"'
    if not attrs.resource_request:
        return f'{who} cannot {attrs.verb} path "{attrs.path}"'
    res = attrs.combined_resource
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return f'{who} cannot {attrs.verb} resource "{res}" in API group "{attrs.api_group}" {where}'


def forbidden(attrs: Attributes, reason: str = "") -> errors.ApiError:
    """The real 403: apierrors.NewForbidden(group/resource, name, forbiddenMessage[: reason])."""
    message = forbidden_message(attrs) + (f": {reason}" if reason else "")
    return forbidden_for(attrs.api_group if attrs.resource_request else "",
                         attrs.resource if attrs.resource_request else "", attrs.name, message)


def forbidden_for(group: str, resource: str, name: str, message: str) -> errors.ApiError:
    if not resource:
        return errors.ApiError(403, "Forbidden", f"forbidden: {message}", {})
    qualified = f"{resource}.{group}" if group else resource
    head = f'{qualified} "{name}"' if name else qualified
    details = {k: v for k, v in (("name", name), ("group", group), ("kind", resource)) if v}  # omitempty
    return errors.ApiError(403, "Forbidden", f"{head} is forbidden: {message}", details)


def compact_rule(rule: Rule) -> str:
    """rbacv1helpers.CompactString: `{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}`."""
    parts = []
    for key, label in (("apiGroups", "APIGroups"), ("resources", "Resources"), ("nonResourceURLs", "NonResourceURLs"),
                       ("resourceNames", "ResourceNames"), ("verbs", "Verbs")):
        values = rule.get(key) or []
        if values:
            parts.append(f"{label}:[{' '.join(_go_quote(v) for v in values)}]")
    return "{" + ", ".join(parts) + "}"


def _go_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def escalation_message(user: UserInfo, missing: list[Rule]) -> str:
    groups = "[" + " ".join(_go_quote(g) for g in user.groups) + "]"
    return (f'user "{user.username}" (groups={groups}) is attempting to grant RBAC permissions not currently held:\n'
            + "\n".join(compact_rule(r) for r in missing))


# ---------------------------------------------------------------------------------------- bindings
def subject_key(subject: Mapping[str, Any], binding_namespace: str) -> tuple[str, str] | None:
    kind, name = subject.get("kind"), str(subject.get("name") or "")
    if kind == "ServiceAccount":
        return "User", service_account_username(str(subject.get("namespace") or binding_namespace), name)
    if kind in ("User", "Group"):
        return str(kind), name
    return None


def _describe_subject(subject: Mapping[str, Any], binding_namespace: str) -> str:
    name = str(subject.get("name") or "")
    if subject.get("kind") == "ServiceAccount":
        name = f"{name}/{subject.get('namespace') or binding_namespace}"
    return f'{subject.get("kind")} "{name}"'


def user_keys(user: UserInfo) -> list[tuple[str, str]]:
    return [("User", user.username), *(("Group", g) for g in user.groups)]


@dataclass(frozen=True)
class Grant:
    """Rules one binding gives one subject, with the real authorizer's description of the source."""

    source: str  # e.g. `RoleBinding "read/team-a" of Role "read" to ServiceAccount "runner/team-a"`
    rules: tuple[Rule, ...]


@dataclass
class PolicyIndex:
    """Grants by subject: cluster-wide (ClusterRoleBindings) and per namespace (RoleBindings)."""

    cluster: dict[tuple[str, str], list[Grant]] = field(default_factory=dict)
    namespaced: dict[str, dict[tuple[str, str], list[Grant]]] = field(default_factory=dict)

    @classmethod
    def build(cls, roles: Iterable[Mapping[str, Any]], cluster_roles: Iterable[Mapping[str, Any]],
              role_bindings: Iterable[Mapping[str, Any]], cluster_role_bindings: Iterable[Mapping[str, Any]]) -> PolicyIndex:
        role_rules = {(_meta(r).get("namespace", ""), _meta(r).get("name", "")): tuple(r.get("rules") or []) for r in roles}
        cr_rules = {_meta(r).get("name", ""): tuple(r.get("rules") or []) for r in cluster_roles}
        index = cls()
        for b in cluster_role_bindings:
            ref = b.get("roleRef") or {}
            if ref.get("kind") != "ClusterRole" or ref.get("name") not in cr_rules:
                continue
            index._add(index.cluster, b, "", "ClusterRoleBinding", _meta(b).get("name", ""), cr_rules[ref["name"]])
        for b in role_bindings:
            ns = _meta(b).get("namespace", "")
            ref = b.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole":
                rules = cr_rules.get(ref.get("name", ""))
            elif ref.get("kind") == "Role":
                rules = role_rules.get((ns, ref.get("name", "")))
            else:
                rules = None
            if rules is None:
                continue
            index._add(index.namespaced.setdefault(ns, {}), b, ns, "RoleBinding", f"{_meta(b).get('name', '')}/{ns}", rules)
        return index

    @staticmethod
    def _add(table: dict[tuple[str, str], list[Grant]], binding: Mapping[str, Any], ns: str, kind: str,
             shown: str, rules: tuple[Rule, ...]) -> None:
        ref = binding.get("roleRef") or {}
        for subject in binding.get("subjects") or []:
            key = subject_key(subject, ns)
            if key is None:
                continue
            source = f'{kind} "{shown}" of {ref.get("kind")} "{ref.get("name")}" to {_describe_subject(subject, ns)}'
            table.setdefault(key, []).append(Grant(source, rules))

    def grants(self, user: UserInfo, namespace: str) -> Iterator[Grant]:
        """Cluster-wide grants first, then those of `namespace` (as the real resolver visits them)."""
        keys = user_keys(user)
        for key in keys:
            yield from self.cluster.get(key, ())
        if namespace:
            table = self.namespaced.get(namespace, {})
            for key in keys:
                yield from table.get(key, ())

    def authorize(self, attrs: Attributes) -> tuple[bool, str]:
        """(allowed, reason) — the reason names the binding that allowed it, as the real one does."""
        for grant in self.grants(attrs.user, attrs.namespace if attrs.resource_request else ""):
            if any(rule_allows(rule, attrs) for rule in grant.rules):
                return True, f"RBAC: allowed by {grant.source}"
        return False, ""

    def rules_for(self, user: UserInfo, namespace: str) -> list[Rule]:
        return [rule for grant in self.grants(user, namespace) for rule in grant.rules]


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


# ---------------------------------------------------------------------------------------- escalation
def breakdown(rule: Rule) -> list[dict[str, list[str]]]:
    """rbac's BreakdownRule: one rule per (group, resource, verb[, name]) and per (url, verb)."""
    out: list[dict[str, list[str]]] = []
    verbs = list(rule.get("verbs") or [])
    for group in rule.get("apiGroups") or []:
        for res in rule.get("resources") or []:
            for verb in verbs:
                names = list(rule.get("resourceNames") or [])
                for name in names or [None]:
                    sub: dict[str, list[str]] = {"apiGroups": [group], "resources": [res], "verbs": [verb]}
                    if name is not None:
                        sub["resourceNames"] = [name]
                    out.append(sub)
    for url in rule.get("nonResourceURLs") or []:
        for verb in verbs:
            out.append({"nonResourceURLs": [url], "verbs": [verb]})
    return out


def _resource_covers(owner: list[str], wanted: list[str]) -> bool:
    if "*" in owner:
        return True
    for res in wanted:
        if res in owner:
            continue
        if "/" not in res or f"*/{res.split('/', 1)[1]}" not in owner:
            return False
    return True


def _covers(owner: Rule, sub: Mapping[str, list[str]]) -> bool:
    o_verbs, o_groups = list(owner.get("verbs") or []), list(owner.get("apiGroups") or [])
    if not ("*" in o_verbs or all(v in o_verbs for v in sub.get("verbs", []))):
        return False
    if not ("*" in o_groups or all(g in o_groups for g in sub.get("apiGroups", []))):
        return False
    if not _resource_covers(list(owner.get("resources") or []), sub.get("resources", [])):
        return False
    o_urls = list(owner.get("nonResourceURLs") or [])
    if not all(any(url_matches(o, u) for o in o_urls) for u in sub.get("nonResourceURLs", [])):
        return False
    o_names, names = list(owner.get("resourceNames") or []), sub.get("resourceNames", [])
    return not o_names or (bool(names) and all(n in o_names for n in names))


def uncovered(owner_rules: Iterable[Rule], requested: Iterable[Rule]) -> list[Rule]:
    """The broken-down requested rules that no owner rule covers (empty: no escalation)."""
    owned = list(owner_rules)
    return [sub for rule in requested for sub in breakdown(rule) if not any(_covers(o, sub) for o in owned)]


FULL_AUTHORITY: tuple[Rule, ...] = (
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"nonResourceURLs": ["*"], "verbs": ["*"]},
)


# ---------------------------------------------------------------------------------------- aggregation
def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels, matchExpressions); the empty selector matches everything."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator"), list(expr.get("values") or [])
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def aggregate_rules(target: Mapping[str, Any], cluster_roles: Iterable[Mapping[str, Any]]) -> list[Rule] | None:
    """The rules the aggregation controller writes into `target` (None: it has no aggregationRule):
    the union, in name order and without duplicates, of the rules of every other ClusterRole whose
    labels match one of its selectors."""
    rule_spec = target.get("aggregationRule")
    if not isinstance(rule_spec, Mapping):
        return None
    selectors = [s for s in rule_spec.get("clusterRoleSelectors") or [] if isinstance(s, Mapping)]
    name = _meta(target).get("name")
    out: list[Rule] = []
    for role in sorted(cluster_roles, key=lambda r: str(_meta(r).get("name", ""))):
        if _meta(role).get("name") == name:
            continue
        labels = _meta(role).get("labels") or {}
        if not any(selector_matches(s, labels) for s in selectors):
            continue
        for rule in role.get("rules") or []:
            if rule not in out:
                out.append(rule)
    return out
