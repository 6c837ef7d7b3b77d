"""Authorisation of every request, and impersonation, against the RBAC objects stored in the cluster.

Every caller but `system:masters` (the cluster's admin token) is checked by RBAC (rbac.py): ServiceAccounts,
impersonated users and anonymous requests alike. The RBAC index is rebuilt only when a Role,
ClusterRole or binding changes (the store's per-kind revision), so a request costs a few dictionary
look-ups however many objects the cluster holds.

Impersonation (`Impersonate-User`, `-Group`, `-Uid`, `-Extra-<key>`) is itself authorised, as the real
filter does: the caller needs the `impersonate` verb on `users` (or on the `serviceaccounts` object
for `system:serviceaccount:NS:NAME`), on `groups`, on `uids.authentication.k8s.io` and on
`userextras/<key>.authentication.k8s.io`, each by name. The request then runs as that user.

A write that creates is authorised for `create` whatever its verb: a server-side apply (PATCH) of an object
that does not exist, or a PUT to a missing object of a kind that allows create on update, is checked a second
time, as `create` on that name, once the server knows it creates (kube-apiserver's `withAuthorization` around
the create validation of its update and patch handlers); `patch` or `update` alone never creates.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import unquote

from tfcontroller.dev.cluster import errors
from tfcontroller.dev.cluster.identity import (
    ANONYMOUS,
    AUTHENTICATED,
    UNAUTHENTICATED,
    UserInfo,
    service_account_groups,
    split_service_account,
)
from tfcontroller.dev.cluster.rbac import RBAC, Attributes, PolicyIndex, Rule, forbidden, forbidden_for
from tfcontroller.dev.cluster.store import Store

AUTHN_GROUP = "authentication.k8s.io"
_RBAC_KINDS = ("roles", "clusterroles", "rolebindings", "clusterrolebindings")


def request_verb(method: str, query: Mapping[str, str], has_name: bool) -> str:
    """The authorizer's verb of a resource request (apiserver's RequestInfoFactory)."""
    if method in ("GET", "HEAD"):
        if (query.get("watch") or "").lower() in ("1", "true"):
            return "watch"
        return "get" if has_name else "list"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


class Authorizer:
    """RBAC over the store's Roles, ClusterRoles and bindings, with `system:masters` always allowed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._revision: tuple[int, ...] = ()
        self._index = PolicyIndex()

    def index(self) -> PolicyIndex:
        revision = tuple(self.store.revision(RBAC, kind) for kind in _RBAC_KINDS)
        with self._lock:
            if revision != self._revision:
                with self.store.lock:  # one consistent snapshot of the four kinds
                    revision = tuple(self.store.revision(RBAC, kind) for kind in _RBAC_KINDS)
                    lists = [self.store.list(RBAC, kind) for kind in _RBAC_KINDS]
                self._index = PolicyIndex.build(*lists)
                self._revision = revision
            return self._index

    def allowed(self, attrs: Attributes) -> tuple[bool, str]:
        if attrs.user.is_admin:
            return True, ""
        return self.index().authorize(attrs)

    def check(self, attrs: Attributes) -> None:
        """Raise the real 403 unless allowed."""
        ok, _reason = self.allowed(attrs)
        if not ok:
            raise forbidden(attrs)

    def rules_for(self, user: UserInfo, namespace: str) -> list[Rule]:
        return self.index().rules_for(user, namespace)

    def create_check(self, attrs: Attributes) -> Callable[[], None]:
        """The second check of a PUT or PATCH (`attrs`) that turns out to create: `create` on the same
        group, resource, subresource, namespace and name. Its 403 is not the filter's: kube-apiserver builds
        it from the authorizer's reason alone (`configmaps "app" is forbidden: ` plus that reason, which RBAC
        leaves empty when no rule matches)."""
        create = dataclasses.replace(attrs, verb="create")

        def check() -> None:
            ok, reason = self.allowed(create)
            if not ok:
                raise forbidden_for(create.api_group, create.resource, create.name, reason)

        return check


# ---------------------------------------------------------------------------------------- impersonation
def _values(headers: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """A multi-valued header: each header line is one value, as kube-apiserver reads `req.Header[name]` —
    never split on commas (a group may be named "a,b")."""
    return [v.strip() for v in headers.get(name, ()) if v.strip()]


def _single(headers: Mapping[str, Sequence[str]], name: str) -> str:
    """A single-valued header: its first line, as Go's `Header.Get`."""
    found = headers.get(name, ())
    return found[0].strip() if found else ""


def impersonation_requested(headers: Mapping[str, object]) -> bool:
    return any(k.startswith("impersonate-") for k in headers)


def impersonate(authz: Authorizer, caller: UserInfo, headers: Mapping[str, Sequence[str]]) -> UserInfo:
    """The user a request with Impersonate-* headers acts as, after checking the caller may be it.
    `headers`: lower-case name -> every value of that header, one per header line (router.Request)."""
    username = _single(headers, "impersonate-user")
    groups = _values(headers, "impersonate-group")
    uid = _single(headers, "impersonate-uid")
    extra: dict[str, list[str]] = {}
    for key in headers:
        if key.startswith("impersonate-extra-"):
            extra[unquote(key[len("impersonate-extra-"):])] = _values(headers, key)
    if not username:
        raise errors.ApiError(500, "InternalError", "Internal error occurred: requested impersonation of groups, "
                              "a uid or extra values without impersonating a user")

    def check(resource: str, name: str, group: str = "", namespace: str = "", subresource: str = "") -> None:
        authz.check(Attributes(caller, "impersonate", namespace, group, resource, subresource, name))

    sa = split_service_account(username)
    if sa is not None:
        check("serviceaccounts", sa[1], namespace=sa[0])
    else:
        check("users", username)
    for group in groups:
        check("groups", group)
    if uid:
        check("uids", uid, AUTHN_GROUP)
    for key, values in extra.items():
        for value in values:
            check("userextras", value, AUTHN_GROUP, subresource=key)
    return UserInfo(username, uid, tuple(_impersonated_groups(username, groups, sa)), extra)


def _impersonated_groups(username: str, groups: list[str], sa: tuple[str, str] | None) -> list[str]:
    out = list(groups)
    if sa is not None and not groups:
        out = [g for g in service_account_groups(sa[0]) if g != AUTHENTICATED]
    if username == ANONYMOUS:
        if UNAUTHENTICATED not in out:
            out.append(UNAUTHENTICATED)
    elif AUTHENTICATED not in out and UNAUTHENTICATED not in out:
        out.append(AUTHENTICATED)
    return out


def resource_attributes(user: UserInfo, method: str, query: Mapping[str, str], group: str, plural: str,
                        namespace: str | None, name: str | None, subresource: str | None) -> Attributes:
    return Attributes(user, request_verb(method, query, name is not None), namespace or "", group, plural,
                      subresource or "", name or "")


def non_resource_attributes(user: UserInfo, method: str, path: str) -> Attributes:
    verb = "get" if method == "HEAD" else method.lower()
    return Attributes(user, verb, path=path, resource_request=False)
