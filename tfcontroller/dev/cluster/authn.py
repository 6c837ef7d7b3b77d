"""Authentication: who a request is, from its bearer token, as the real API server's chain decides.

- the cluster's own admin token (the one in the kubeconfig it writes) → `dev-cluster-admin` in
  `system:masters`, which every request is allowed to (the real server's privileged group);
- a ServiceAccount token of this cluster (tokens.py) → `system:serviceaccount:NS:NAME`; a token of
  ours that fails a check (expired, wrong audience, ServiceAccount or bound Pod gone) → 401;
- an OpenID Connect id token of the configured issuer (oidc.py, `DevCluster(oidc=OIDCConfig(...))`,
  `--oidc-*` flags) → the user and groups its claims name, prefixed as the flags say; one of that issuer
  that fails a check (expired, another audience, bad signature, unknown key) → 401;
- any other bearer token → 401 (no other authenticator knows it);
- no `Authorization` header → `system:anonymous` in `system:unauthenticated`, authorised by RBAC like
  anyone else (the real server's anonymous authenticator, on by default).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from tfcontroller.dev.cluster import errors
from tfcontroller.dev.cluster.identity import ADMIN, ANONYMOUS_USER, UserInfo
from tfcontroller.dev.cluster.oidc import OIDCAuthenticator
from tfcontroller.dev.cluster.tokens import InvalidToken, TokenIssuer, Verified


class Authenticator:
    def __init__(self, admin_token: str, tokens: TokenIssuer, oidc: OIDCAuthenticator | None = None) -> None:
        self.admin_token = admin_token
        self.tokens = tokens
        self.oidc = oidc

    def authenticate(self, headers: Mapping[str, str]) -> UserInfo:
        """The user of a request (lower-case header names); raises 401 for credentials that fail."""
        auth = headers.get("authorization", "")
        if not auth:
            return ANONYMOUS_USER
        scheme, _, token = auth.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise errors.unauthorized()
        user = self.user_of_token(token)
        if user is None:
            raise errors.unauthorized()
        return user

    def user_of_token(self, token: str, audiences: list[str] | None = None) -> UserInfo | None:
        """The user a bearer token stands for, or None when it must be refused."""
        try:
            verified = self.check(token, audiences)
        except InvalidToken:
            return None
        return verified.user if verified is not None else None

    def check(self, token: str, audiences: list[str] | None = None) -> Verified | None:
        """The token chain, as TokenReview answers it: the user and the audiences it was accepted for;
        None when no authenticator knows the token; InvalidToken with the reason of the one whose token
        it is. `audiences` (default: the API server's) are those the caller wants the token valid for."""
        api = list(self.tokens.api_audiences)
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Verified(ADMIN, list(audiences or api))
        verified = self.tokens.check(token, audiences)
        if verified is not None or self.oidc is None:
            return verified
        # The OIDC authenticator knows no audiences of its own: as kube-apiserver's audience-agnostic
        # wrapper, it answers only when the wanted audiences include the API server's, with those.
        matched = [a for a in (audiences or api) if a in api]
        if not matched:
            return None
        user = self.oidc.check(token)
        return Verified(user, matched) if user is not None else None
