"""The create-only "review" APIs and TokenRequest, answered as the real API server answers them.

- `authentication.k8s.io/v1` TokenReview (is this token valid, for which audiences, whose is it) and
  SelfSubjectReview (`kubectl auth whoami`: who am I);
- `authorization.k8s.io/v1` SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectAccessReview
  (`kubectl auth can-i`) and SelfSubjectRulesReview (`kubectl auth can-i --list`);
- `POST /api/v1/namespaces/NS/serviceaccounts/NAME/token` (TokenRequest, `kubectl create token`).

Nothing is stored: each request gets its object back with `status` filled in (201).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfcontroller.dev.cluster import errors
from tfcontroller.dev.cluster.authn import Authenticator
from tfcontroller.dev.cluster.authz import Authorizer
from tfcontroller.dev.cluster.identity import UserInfo
from tfcontroller.dev.cluster.rbac import Attributes, Rule
from tfcontroller.dev.cluster.tokens import InvalidToken, TokenIssuer

AUTHN = "authentication.k8s.io"
AUTHZ = "authorization.k8s.io"
MIN_EXPIRATION = 600  # "may not specify a duration less than 10 minutes"
MAX_EXPIRATION = 2**32

REVIEW_KINDS: dict[tuple[str, str], tuple[str, bool]] = {  # (group, plural) -> (kind, namespaced)
    (AUTHN, "tokenreviews"): ("TokenReview", False),
    (AUTHN, "selfsubjectreviews"): ("SelfSubjectReview", False),
    (AUTHZ, "subjectaccessreviews"): ("SubjectAccessReview", False),
    (AUTHZ, "localsubjectaccessreviews"): ("LocalSubjectAccessReview", True),
    (AUTHZ, "selfsubjectaccessreviews"): ("SelfSubjectAccessReview", False),
    (AUTHZ, "selfsubjectrulesreviews"): ("SelfSubjectRulesReview", False),
}


class Reviews:
    def __init__(self, authn: Authenticator, authz: Authorizer, tokens: TokenIssuer) -> None:
        self.authn = authn
        self.authz = authz
        self.tokens = tokens
        self._handlers: dict[str, Callable[[UserInfo, str, dict[str, Any]], dict[str, Any]]] = {
            "tokenreviews": self._token_review,
            "selfsubjectreviews": self._self_subject_review,
            "subjectaccessreviews": self._subject_access_review,
            "localsubjectaccessreviews": self._local_subject_access_review,
            "selfsubjectaccessreviews": self._self_subject_access_review,
            "selfsubjectrulesreviews": self._self_subject_rules_review,
        }

    def review(self, user: UserInfo, group: str, plural: str, namespace: str, body: Any) -> dict[str, Any]:
        kind, _ = REVIEW_KINDS[(group, plural)]
        if not isinstance(body, dict):
            raise errors.bad_request(f"{kind} in version \"v1\" cannot be handled as a {kind}: body must be an object")
        spec = body.get("spec")
        if not isinstance(spec, dict):
            spec = {}
        status = self._handlers[plural](user, namespace, spec)
        meta = dict(body.get("metadata") or {})
        meta.setdefault("creationTimestamp", None)
        return {"kind": kind, "apiVersion": f"{group}/v1", "metadata": meta, "spec": spec, "status": status}

    # ------------------------------------------------------------------ authentication
    def _token_review(self, user: UserInfo, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
        token = str(spec.get("token") or "")
        if not token:
            raise errors.invalid(AUTHN, "TokenReview", "", [("spec.token", "Required value")], ["FieldValueRequired"])
        wanted = [str(a) for a in spec.get("audiences") or []] or None
        try:
            verified = self.authn.check(token, wanted)
        except InvalidToken as exc:
            return {"user": {}, "error": f"[invalid bearer token, {exc}]"}
        if verified is None:  # not a token of any authenticator here
            return {"user": {}, "error": "[invalid bearer token]"}
        return {"authenticated": True, "user": verified.user.to_dict(), "audiences": verified.audiences}

    def _self_subject_review(self, user: UserInfo, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"userInfo": user.to_dict()}

    # ------------------------------------------------------------------ authorisation
    def _attributes(self, subject: UserInfo, spec: dict[str, Any]) -> Attributes:
        res, nonres = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if isinstance(res, dict):
            return Attributes(subject, str(res.get("verb") or ""), str(res.get("namespace") or ""),
                              str(res.get("group") or ""), str(res.get("resource") or ""),
                              str(res.get("subresource") or ""), str(res.get("name") or ""))
        if isinstance(nonres, dict):
            return Attributes(subject, str(nonres.get("verb") or ""), path=str(nonres.get("path") or ""),
                              resource_request=False)
        raise errors.invalid(AUTHZ, "SubjectAccessReview", "", [
            ("spec.resourceAttributes", "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified")
        ], ["FieldValueRequired"])

    def _decide(self, attrs: Attributes) -> dict[str, Any]:
        allowed, reason = self.authz.allowed(attrs)
        status: dict[str, Any] = {"allowed": allowed}
        if reason:
            status["reason"] = reason
        return status

    def _subject_access_review(self, user: UserInfo, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
        name = str(spec.get("user") or "")
        groups = tuple(str(g) for g in spec.get("groups") or [])
        if not name and not groups:
            raise errors.invalid(AUTHZ, "SubjectAccessReview", "", [
                ("spec.user", "Invalid value: \"\": at least one of user or group must be specified")])
        extra = {str(k): [str(v) for v in vs] for k, vs in (spec.get("extra") or {}).items()}
        subject = UserInfo(name, str(spec.get("uid") or ""), groups, extra)
        return self._decide(self._attributes(subject, spec))

    def _local_subject_access_review(self, user: UserInfo, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
        res = spec.get("resourceAttributes")
        if isinstance(res, dict) and res.get("namespace") not in (None, "", namespace):
            raise errors.invalid(AUTHZ, "LocalSubjectAccessReview", "", [
                ("spec.resourceAttributes.namespace", f'Invalid value: "{res.get("namespace")}": must match metadata.namespace')])
        if isinstance(res, dict):
            res["namespace"] = namespace
        return self._subject_access_review(user, namespace, spec)

    def _self_subject_access_review(self, user: UserInfo, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
        return self._decide(self._attributes(user, spec))

    def _self_subject_rules_review(self, user: UserInfo, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
        rules = self.authz.rules_for(user, str(spec.get("namespace") or ""))
        return {
            "resourceRules": [_resource_rule(r) for r in rules if r.get("resources")],
            "nonResourceRules": [{"verbs": list(r.get("verbs") or []), "nonResourceURLs": list(r["nonResourceURLs"])}
                                 for r in rules if r.get("nonResourceURLs")],
            "incomplete": False,
        }

    # ------------------------------------------------------------------ TokenRequest
    def token_request(self, namespace: str, name: str, body: Any) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        spec = dict(body.get("spec") or {})
        seconds = spec.get("expirationSeconds")
        seconds = 3600 if seconds is None else seconds
        if not isinstance(seconds, int) or seconds < MIN_EXPIRATION or seconds > MAX_EXPIRATION:
            why = "may not specify a duration less than 10 minutes" if isinstance(seconds, int) and seconds < MIN_EXPIRATION \
                else "may not specify a duration larger than 2^32 seconds"
            raise errors.invalid(AUTHN, "TokenRequest", name, [("spec.expirationSeconds", f"Invalid value: {seconds}: {why}")])
        audiences = [str(a) for a in spec.get("audiences") or []] or list(self.tokens.api_audiences)
        bound = spec.get("boundObjectRef")
        bound_ref = None
        if isinstance(bound, dict) and bound.get("name"):
            bound_ref = (str(bound.get("kind") or ""), str(bound["name"]), str(bound.get("uid") or ""))
        if self.tokens.store.get("", "serviceaccounts", namespace, name) is None:
            raise errors.not_found("", "serviceaccounts", name)
        try:
            token, expires = self.tokens.issue(namespace, name, audiences=audiences, expiration_seconds=seconds,
                                               bound_object=bound_ref)
        except LookupError as exc:
            raise errors.bad_request(str(exc).strip("'\"")) from None
        spec.update({"audiences": audiences, "expirationSeconds": seconds})
        spec.setdefault("boundObjectRef", None)
        return {
            "kind": "TokenRequest", "apiVersion": f"{AUTHN}/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
        }


def _resource_rule(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"verbs": list(rule.get("verbs") or []), "apiGroups": list(rule.get("apiGroups") or []),
                           "resources": list(rule.get("resources") or [])}
    if rule.get("resourceNames"):
        out["resourceNames"] = list(rule["resourceNames"])
    return out
