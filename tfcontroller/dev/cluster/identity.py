"""Who a request is: the user info that authentication produces and authorisation reads.

The shape is the real API server's `user.Info` (and `authentication.k8s.io/v1` UserInfo in
TokenReview / SelfSubjectReview answers): a name, a uid, groups and extra values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SA_PREFIX = "system:serviceaccount:"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
MASTERS = "system:masters"  # the real API server's privileged group: every request allowed
ADMIN_USER = "dev-cluster-admin"


@dataclass(frozen=True)
class UserInfo:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The `authentication.k8s.io/v1` UserInfo (empty fields left out, as the real server does)."""
        doc: dict[str, Any] = {"username": self.username}
        if self.uid:
            doc["uid"] = self.uid
        if self.groups:
            doc["groups"] = list(self.groups)
        if self.extra:
            doc["extra"] = {k: list(v) for k, v in self.extra.items()}
        return doc

    @property
    def is_admin(self) -> bool:
        return MASTERS in self.groups


ANONYMOUS_USER = UserInfo(ANONYMOUS, groups=(UNAUTHENTICATED,))
ADMIN = UserInfo(ADMIN_USER, groups=(MASTERS, AUTHENTICATED))


def service_account_username(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def split_service_account(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a `system:serviceaccount:NS:NAME` user name; None for other users."""
    if not username.startswith(SA_PREFIX):
        return None
    ns, sep, name = username[len(SA_PREFIX):].partition(":")
    if not sep or not ns or not name or ":" in name:
        return None
    return ns, name


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED)
