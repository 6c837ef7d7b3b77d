"""Who is asking, and may they: the three review APIs of Kubernetes, one function each.

- `allowed`: a SelfSubjectAccessReview as the client's own user (impersonated or not). Every authenticated
  user may review itself, so asking needs no permission beyond the client's identity, and the answer is
  the authorizer's that will judge the real request (ManifestSet's ask-before-write, the dashboard's
  disabled buttons).
- `whoami`: a SelfSubjectReview (`kubectl auth whoami`): the identity the API server sees behind a
  kubeconfig — the CLI records it as the approver of a plan.
- `token_review`: a TokenReview of someone else's bearer token (the in-cluster dashboard's login); the
  client needs `create` on `tokenreviews`. A token the server does not accept is `None`, not an error:
  only the API server can say whose a token is, and a refused login is an ordinary answer.

Nothing here logs or keeps a token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import (
    SELF_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_REVIEWS,
    TOKENREVIEWS,
    Resource,
)


@dataclass(frozen=True)
class UserInfo:
    """Kubernetes' `UserInfo` (authentication.k8s.io/v1): as the API server authenticated the caller."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, info: Any) -> UserInfo:
        """From a review's `userInfo`/`user` mapping; missing or mistyped fields read as empty."""
        info = info if isinstance(info, Mapping) else {}
        groups = info.get("groups")
        extra = info.get("extra")
        return cls(
            username=str(info.get("username") or ""),
            uid=str(info.get("uid") or ""),
            groups=tuple(str(g) for g in groups) if isinstance(groups, list) else (),
            extra={str(k): tuple(str(v) for v in vs) for k, vs in extra.items() if isinstance(vs, list)}
            if isinstance(extra, Mapping) else {},
        )


def allowed(client: KubeClient, verb: str, resource: Resource, name: str, namespace: str | None,
            subresource: str = "") -> bool:
    """May `client`'s user do `verb` on `resource` (`name` "" for any, `namespace` None for cluster scope
    or all namespaces)? One SelfSubjectAccessReview."""
    attrs: dict[str, Any] = {"verb": verb, "group": resource.group, "resource": resource.plural}
    if name:
        attrs["name"] = name
    if subresource:
        attrs["subresource"] = subresource
    if resource.namespaced and namespace:
        attrs["namespace"] = namespace
    review = {"apiVersion": SELF_SUBJECT_ACCESS_REVIEWS.api_version, "kind": SELF_SUBJECT_ACCESS_REVIEWS.kind,
              "spec": {"resourceAttributes": attrs}}
    answer = client.create(SELF_SUBJECT_ACCESS_REVIEWS, review)
    return bool((answer.get("status") or {}).get("allowed"))


def whoami(client: KubeClient) -> UserInfo:
    """The identity the API server sees for `client` (a SelfSubjectReview)."""
    answer = client.create(SELF_SUBJECT_REVIEWS, {"apiVersion": SELF_SUBJECT_REVIEWS.api_version,
                                                  "kind": SELF_SUBJECT_REVIEWS.kind})
    return UserInfo.of((answer.get("status") or {}).get("userInfo"))


def token_review(client: KubeClient, token: str, audiences: Sequence[str] = ()) -> UserInfo | None:
    """Whose `token` is, by the API server's TokenReview; None when it does not authenticate it (or not
    for every one of `audiences`)."""
    if not token:
        return None
    spec: dict[str, Any] = {"token": token}
    if audiences:
        spec["audiences"] = list(audiences)
    answer = client.create(TOKENREVIEWS, {"apiVersion": TOKENREVIEWS.api_version, "kind": TOKENREVIEWS.kind,
                                          "spec": spec})
    status = answer.get("status") or {}
    if not status.get("authenticated"):
        return None
    granted = status.get("audiences")
    if audiences and isinstance(granted, list) and not set(audiences) <= {str(a) for a in granted}:
        return None
    user = UserInfo.of(status.get("user"))
    return user if user.username else None
