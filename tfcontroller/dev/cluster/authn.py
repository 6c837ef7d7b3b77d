"""Authentication: who a request is, from its bearer token, as the real API server's chain decides.

- the cluster's own admin token (the one in the kubeconfig it writes) → `dev-cluster-admin` in
  `system:masters`, which every request is allowed to (the real server's privileged group);
- a ServiceAccount token of this cluster (tokens.py) → `system:serviceaccount:NS:NAME`; a token of
  ours that fails a check (expired, wrong audience, ServiceAccount or bound Pod gone) → 401;
- any other bearer token → 401 (no other authenticator knows it);
- no `Authorization` header → `system:anonymous` in `system:unauthenticated`, authorised by RBAC like
  anyone else (the real server's anonymous authenticator, on by default).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from tfcontroller.dev.cluster import errors
from tfcontroller.dev.cluster.identity import ADMIN, ANONYMOUS_USER, UserInfo
from tfcontroller.dev.cluster.tokens import InvalidToken, TokenIssuer


class Authenticator:
    def __init__(self, admin_token: str, tokens: TokenIssuer) -> None:
        self.admin_token = admin_token
        self.tokens = tokens

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
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return ADMIN
        try:
            verified = self.tokens.check(token, audiences)
        except InvalidToken:
            return None
        return verified.user if verified is not None else None
