"""ServiceAccount tokens: signed JWTs as the real API server issues and checks them.

Why a JWT and not a random string in a table: a Pod's projected `kube-api-access` token, `kubectl create
token` and TokenReview must behave as on a real cluster, and clients (or tests) decode the token to
read its claims. The claims are the real server's (pkg/serviceaccount/claims.go):

    {"iss": ISSUER, "sub": "system:serviceaccount:NS:NAME", "aud": [...], "exp", "iat", "nbf", "jti",
     "kubernetes.io": {"namespace": NS, "serviceaccount": {"name", "uid"},
                       "pod": {"name", "uid"} | "secret": {"name", "uid"}, "node": {"name", "uid"}}}

Checks on every use, as the real authenticator makes them: signature (ES256, this cluster's key; the
header's `kid` is the real server's key id, base64url(sha256(DER public key))), `exp`/`nbf` with the
real one-minute leeway, audience (the token's `aud` must share one with the audiences asked for; by
default the API server's own, which is the issuer), and that the ServiceAccount (same uid) and the
bound Pod or Secret (same uid) still exist: a deleted ServiceAccount's token stops working at once.

The signing key lives in memory, or in the file given (the dev cluster keeps it beside its state
file), so tokens survive a restart of a cluster with a state file.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tfcontroller.dev.cluster.identity import UserInfo, service_account_groups, service_account_username
from tfcontroller.dev.cluster.store import Store

ISSUER = "https://kubernetes.default.svc.cluster.local"  # kubeadm's default --service-account-issuer
ALGORITHM = "ES256"
LEEWAY = timedelta(minutes=1)  # go-jose's DefaultLeeway, which the real validator uses for exp/nbf
CLAIMS = "kubernetes.io"
EXTRA_POD_NAME = "authentication.kubernetes.io/pod-name"
EXTRA_POD_UID = "authentication.kubernetes.io/pod-uid"
EXTRA_NODE_NAME = "authentication.kubernetes.io/node-name"
EXTRA_NODE_UID = "authentication.kubernetes.io/node-uid"
EXTRA_CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
BOUND_KINDS = {"Pod": "pods", "Secret": "secrets"}


class InvalidToken(Exception):
    """A token of this issuer that must be refused; the message is the real authenticator's wording."""


@dataclass(frozen=True)
class Verified:
    user: UserInfo
    audiences: list[str]  # the token's audiences that were asked for (TokenReview status.audiences)


def _load_or_create_key(path: Path | None) -> ec.EllipticCurvePrivateKey:
    if path is not None and path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path}: not an EC private key")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # a signing key: owner only
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ))
        os.replace(tmp, path)
    return key


def key_id(public: ec.EllipticCurvePublicKey) -> str:
    """The real API server's `kid`: unpadded base64url of the SHA-256 of the DER public key."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _ref(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    return {"name": str(meta.get("name", "")), "uid": str(meta.get("uid", ""))}


class TokenIssuer:
    """Issues and verifies this cluster's ServiceAccount tokens (one per DevCluster)."""

    def __init__(self, store: Store, key_file: Path | None = None, issuer: str = ISSUER,
                 api_audiences: list[str] | None = None) -> None:
        self.store = store
        self.issuer = issuer
        self.api_audiences = list(api_audiences or [issuer])
        self._key = _load_or_create_key(key_file)
        self._public = self._key.public_key()
        self.kid = key_id(self._public)

    @property
    def public_key_pem(self) -> bytes:
        return self._public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    # ------------------------------------------------------------------ issue
    def issue(
        self,
        namespace: str,
        service_account: str,
        *,
        audiences: list[str] | None = None,
        expiration_seconds: int = 3600,
        bound_object: tuple[str, str, str] | None = None,
        now: datetime | None = None,
    ) -> tuple[str, datetime]:
        """A signed token for the ServiceAccount, and its expiry.

        Raises LookupError when the ServiceAccount (or the bound object, or its uid) does not exist,
        as TokenRequest answers 404/400 then. `now` is for tests that need a token issued in the past.
        """
        sa = self.store.get("", "serviceaccounts", namespace, service_account)
        if sa is None:
            raise LookupError(f'serviceaccounts "{service_account}" not found')
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        expires = issued + timedelta(seconds=expiration_seconds)
        private: dict[str, Any] = {"namespace": namespace, "serviceaccount": _ref(sa)}
        if bound_object is not None:
            private.update(self._bound_claims(namespace, service_account, bound_object))
        claims = {
            "aud": list(audiences or self.api_audiences),
            "exp": int(expires.timestamp()),
            "iat": int(issued.timestamp()),
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            CLAIMS: private,
            "nbf": int(issued.timestamp()),
            "sub": service_account_username(namespace, service_account),
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return token, expires

    def _bound_claims(self, namespace: str, service_account: str, bound: tuple[str, str, str]) -> dict[str, Any]:
        kind, name, uid = bound
        plural = BOUND_KINDS.get(kind)
        if plural is None:
            raise LookupError(f"cannot bind token to object of kind {kind!r}: only Pod and Secret are supported")
        obj = self.store.get("", plural, namespace, name)
        if obj is None:
            raise LookupError(f'{plural} "{name}" not found')
        ref = _ref(obj)
        if uid and uid != ref["uid"]:
            raise LookupError(f"the UID in the bound object reference ({uid}) does not match the UID in record ({ref['uid']})")
        if kind == "Pod" and ((obj.get("spec") or {}).get("serviceAccountName") or "default") != service_account:
            raise LookupError(f'cannot bind token for serviceaccount "{service_account}" to pod running with '
                              "different serviceaccount name.")
        out: dict[str, Any] = {kind.lower(): ref}
        node_name = (obj.get("spec") or {}).get("nodeName") if kind == "Pod" else None
        if node_name:
            node = self.store.get("", "nodes", "", node_name)
            if node is not None:
                out["node"] = _ref(node)
        return out

    # ------------------------------------------------------------------ verify
    def verify(self, token: str, audience: str | list[str] | None = None) -> UserInfo | None:
        """The user of a valid token of this issuer; None for any token that must be refused."""
        try:
            verified = self.check(token, audience)
        except InvalidToken:
            return None
        return verified.user if verified is not None else None

    def is_ours(self, token: str) -> bool:
        """Whether the token claims to be this issuer's (then its errors are ours to report)."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return isinstance(claims, dict) and claims.get("iss") == self.issuer

    def check(self, token: str, audience: str | list[str] | None = None) -> Verified | None:
        """Verify fully: None when the token is not a JWT of this issuer at all (another authenticator's
        business); InvalidToken with the reason when it is ours but must be refused."""
        if not self.is_ours(token):
            return None
        wanted = [audience] if isinstance(audience, str) else list(audience or self.api_audiences)
        try:
            claims = jwt.decode(
                token, self._public, algorithms=[ALGORITHM], leeway=LEEWAY,
                options={"require": ["exp", "iat", "nbf", "sub", "iss"], "verify_aud": False},
                issuer=self.issuer,
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("service account token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("service account token is not valid yet") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {exc}") from None
        aud = claims.get("aud")
        token_auds = [aud] if isinstance(aud, str) else list(aud or [])
        matched = [a for a in wanted if a in token_auds]
        if not matched:
            raise InvalidToken(f"token audiences {token_auds!r} is invalid for the target audiences {wanted!r}")
        return Verified(self._user(claims), matched)

    def _user(self, claims: dict[str, Any]) -> UserInfo:
        private = claims.get(CLAIMS)
        if not isinstance(private, dict):
            raise InvalidToken("service account token claims are missing the kubernetes.io section")
        namespace = str(private.get("namespace") or "")
        sa_ref = private.get("serviceaccount") or {}
        name, uid = str(sa_ref.get("name") or ""), str(sa_ref.get("uid") or "")
        if claims.get("sub") != service_account_username(namespace, name):
            raise InvalidToken("service account token subject does not match its kubernetes.io claims")
        sa = self.store.get("", "serviceaccounts", namespace, name)
        if sa is None:
            raise InvalidToken(f"service account {namespace}/{name} has been deleted")
        if _ref(sa)["uid"] != uid:
            raise InvalidToken(f"service account UID ({_ref(sa)['uid']}) does not match claim ({uid})")
        extra: dict[str, list[str]] = {EXTRA_CREDENTIAL_ID: [f"JTI={claims.get('jti', '')}"]}
        for kind, plural in BOUND_KINDS.items():
            ref = private.get(kind.lower())
            if not isinstance(ref, dict):
                continue
            obj = self.store.get("", plural, namespace, str(ref.get("name") or ""))
            if obj is None:
                raise InvalidToken(f"{kind.lower()} {namespace}/{ref.get('name')} has been deleted")
            if _ref(obj)["uid"] != ref.get("uid"):
                raise InvalidToken(f"{kind.lower()} UID ({_ref(obj)['uid']}) does not match claim ({ref.get('uid')})")
            if kind == "Pod":
                extra[EXTRA_POD_NAME], extra[EXTRA_POD_UID] = [str(ref["name"])], [str(ref["uid"])]
        node = private.get("node")
        if isinstance(node, dict) and node.get("name"):
            extra[EXTRA_NODE_NAME] = [str(node["name"])]
            if node.get("uid"):
                extra[EXTRA_NODE_UID] = [str(node["uid"])]
        return UserInfo(claims["sub"], uid, service_account_groups(namespace), extra)
