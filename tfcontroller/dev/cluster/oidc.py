"""The kube-apiserver's OpenID Connect token authenticator (`--oidc-*` flags), as the real one behaves.

Why the dev cluster has one: the dashboard's in-cluster mode logs people in with an OIDC id token that
it verifies with TokenReview and then impersonates; that is only tested if an API server accepts id
tokens the way a real cluster configured with `--oidc-issuer-url` does.

What the real authenticator (k8s.io/apiserver/plugin/pkg/authenticator/token/oidc, over go-oidc) does,
and this one with it:

- a token whose unverified `iss` is not the issuer URL is not its business (the next authenticator, or
  401); one that claims the issuer must pass every check below, else it is refused with the reason;
- the provider is discovered at `<issuer>/.well-known/openid-configuration` over HTTPS (trusting
  `--oidc-ca-file`, else the system's CAs); the document's `issuer` must be the issuer URL; its `jwks_uri`
  gives the signing keys, cached and fetched again when a token names a `kid` the cache lacks (key
  rotation), with concurrent refreshes merged into one, as go-oidc's remote key set does;
- the header's `alg` must be one of `--oidc-signing-algs` (default RS256); signature, `iss`, `aud` (must
  contain `--oidc-client-id`), `exp`, `nbf` and `iat` are checked by PyJWT with `CLOCK_SKEW` of leeway;
- the user name is the `--oidc-username-claim` (default `sub`), which must be a string; with `email`, an
  `email_verified` claim that is present must be true; it gets `--oidc-username-prefix`, whose default
  (flag unset) is `<issuer URL>#` for every claim but `email`, and `-` means none;
- groups come from `--oidc-groups-claim` (a string or a list of strings), each with `--oidc-groups-prefix`;
  the user is also in `system:authenticated`, as every authenticated user is.

Left out (docs/dev-cluster.md): `--oidc-required-claim`, the structured AuthenticationConfiguration (several
issuers, CEL claim mappings and validation rules, `discoveryURL`, `uid` and `extra`), distributed claims,
and the background discovery poll (here discovery happens at the first token and is retried at the next
one when it failed).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import ssl
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt

from tfcontroller.dev.cluster.identity import AUTHENTICATED, UserInfo
from tfcontroller.dev.cluster.tokens import InvalidToken

log = logging.getLogger(__name__)

WELL_KNOWN = "/.well-known/openid-configuration"
# The real allow-list of JOSE algorithms (oidc.go allowedSigningAlgs); anything else is refused at start.
ALLOWED_SIGNING_ALGS = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512")
DEFAULT_SIGNING_ALGS = ("RS256",)  # what OpenID Connect recommends and every provider implements
CLOCK_SKEW = timedelta(seconds=30)  # leeway on exp/nbf/iat for the clocks of the issuer and this server
FETCH_TIMEOUT = 10.0
NO_PREFIX = "-"

# (url, ssl context) -> the JSON document at that URL; replaced in unit tests that need no server.
Fetch = Callable[[str, "ssl.SSLContext | None"], Any]


@dataclass(frozen=True)
class OIDCConfig:
    """The `--oidc-*` flags of kube-apiserver. `username_prefix=None` is the flag left unset."""

    issuer_url: str
    client_id: str
    username_claim: str = "sub"
    username_prefix: str | None = None
    groups_claim: str = ""
    groups_prefix: str = ""
    ca_file: str | None = None
    signing_algs: tuple[str, ...] = DEFAULT_SIGNING_ALGS

    def problems(self) -> list[str]:
        """What is wrong with these flags, in the words of the flag names (empty when usable)."""
        out: list[str] = []
        parts = urlsplit(self.issuer_url)
        if parts.scheme != "https" or not parts.netloc:
            out.append(f"--oidc-issuer-url {self.issuer_url!r}: must be an https:// URL")
        if parts.query or parts.fragment or "@" in parts.netloc:
            out.append(f"--oidc-issuer-url {self.issuer_url!r}: must not contain a query, a fragment, "
                       "a user name or a password")
        if not self.client_id:
            out.append("--oidc-client-id is required with --oidc-issuer-url (tokens must be issued for it)")
        if not self.username_claim:
            out.append("--oidc-username-claim must not be empty")
        bad = [a for a in self.signing_algs if a not in ALLOWED_SIGNING_ALGS]
        if bad or not self.signing_algs:
            out.append(f"--oidc-signing-algs {','.join(self.signing_algs)!r}: each must be one of "
                       f"{', '.join(ALLOWED_SIGNING_ALGS)}")
        return out

    @property
    def effective_username_prefix(self) -> str:
        """kube-apiserver's legacy rule: unset → `<issuer>#` unless the claim is `email`; `-` → none."""
        if self.username_prefix == NO_PREFIX:
            return ""
        if not self.username_prefix:
            return "" if self.username_claim == "email" else self.issuer_url + "#"
        return self.username_prefix


def oidc_config(
    issuer_url: str | None,
    client_id: str | None = None,
    *,
    username_claim: str | None = None,
    username_prefix: str | None = None,
    groups_claim: str | None = None,
    groups_prefix: str | None = None,
    ca_file: str | None = None,
    signing_algs: str | None = None,
) -> OIDCConfig | None:
    """The configuration the `--oidc-*` flags of `tfcontroller dev-cluster` describe: None without an
    issuer (then every other flag must be unset too); ValueError naming every wrong flag."""
    others = {"--oidc-client-id": client_id, "--oidc-username-claim": username_claim,
              "--oidc-username-prefix": username_prefix, "--oidc-groups-claim": groups_claim,
              "--oidc-groups-prefix": groups_prefix, "--oidc-ca-file": ca_file, "--oidc-signing-algs": signing_algs}
    if not issuer_url:
        given = [flag for flag, value in others.items() if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} need --oidc-issuer-url")
        return None
    algs = tuple(a.strip() for a in signing_algs.split(",") if a.strip()) if signing_algs else DEFAULT_SIGNING_ALGS
    config = OIDCConfig(issuer_url, client_id or "", username_claim if username_claim is not None else "sub",
                        username_prefix, groups_claim or "", groups_prefix or "", ca_file or None, algs)
    problems = config.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return config


def _fetch_json(url: str, context: ssl.SSLContext | None) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                         urllib.request.ProxyHandler({}))  # the issuer is reached directly
    with opener.open(request, timeout=FETCH_TIMEOUT) as response:
        return json.loads(response.read())


def untrusted_issuer(token: str) -> str | None:
    """The `iss` a compact JWT claims, unverified (only to pick the authenticator), or None for anything
    else. Only the payload is read, as the real authenticator does: a token of this issuer with a broken
    header or signature is still this authenticator's to refuse, with its reason."""
    parts = token.strip().split(".")
    if len(parts) != 3 or token.lstrip().startswith("{"):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    return iss if isinstance(iss, str) else None


class OIDCAuthenticator:
    """Verifies id tokens of one issuer and maps their claims to a user (thread-safe)."""

    def __init__(self, config: OIDCConfig, fetch: Fetch = _fetch_json) -> None:
        problems = config.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.config = config
        self._fetch = fetch
        try:  # read once, at start, as kube-apiserver does: a wrong --oidc-ca-file stops the server
            self._ssl = ssl.create_default_context(cafile=config.ca_file) if config.ca_file \
                else ssl.create_default_context()
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"--oidc-ca-file {config.ca_file}: {exc}") from None
        self._lock = threading.Lock()
        self._jwks_uri: str | None = None
        self._keys: list[jwt.PyJWK] = []
        self._generation = 0  # bumped by every key fetch: concurrent refreshes become one

    # ------------------------------------------------------------------ keys
    def _discover(self) -> str:
        """The provider's jwks_uri from its discovery document (cached once found)."""
        if self._jwks_uri is not None:
            return self._jwks_uri
        issuer = self.config.issuer_url
        doc = self._fetch(issuer.rstrip("/") + WELL_KNOWN, self._ssl)
        if not isinstance(doc, dict) or not isinstance(doc.get("jwks_uri"), str):
            raise ValueError("the discovery document has no jwks_uri")
        if doc.get("issuer") != issuer:
            raise ValueError(f"oidc: issuer did not match the issuer returned by provider, expected {issuer!r} "
                             f"got {doc.get('issuer')!r}")
        self._jwks_uri = str(doc["jwks_uri"])
        return self._jwks_uri

    def _load_keys(self) -> None:
        doc = self._fetch(self._discover(), self._ssl)
        keys: list[jwt.PyJWK] = []
        for entry in (doc.get("keys") if isinstance(doc, dict) else None) or []:
            if isinstance(entry, dict) and entry.get("use", "sig") == "sig":
                try:
                    keys.append(jwt.PyJWK(entry))
                except jwt.PyJWTError:
                    continue  # a key type or curve we cannot use: the provider may publish others
        self._keys = keys
        self._generation += 1

    def _keys_for(self, kid: str | None) -> list[jwt.PyJWK]:
        """The cached keys that may have signed a token with this `kid` (all of them without one); the key
        set is fetched first when never fetched, and again when no cached key has the `kid`."""
        seen = self._generation
        with self._lock:
            try:
                if self._generation == 0:
                    self._load_keys()
                matching = [k for k in self._keys if kid is None or k.key_id == kid]
                if not matching and self._generation == seen:  # nobody refreshed meanwhile: rotation?
                    self._load_keys()
                    matching = [k for k in self._keys if kid is None or k.key_id == kid]
            except (OSError, ValueError) as exc:
                log.warning("oidc authenticator: issuer %s: %s", self.config.issuer_url, exc)
                if self._generation == 0:
                    raise InvalidToken("oidc: authenticator not initialized") from None
                matching = [k for k in self._keys if kid is None or k.key_id == kid]
            return matching

    # ------------------------------------------------------------------ tokens
    def check(self, token: str) -> UserInfo | None:
        """The user of an id token of this issuer; None when the token is not this issuer's at all;
        InvalidToken (the real authenticator's reason) when it is but must be refused."""
        if untrusted_issuer(token) != self.config.issuer_url:
            return None
        return user_of_claims(self.config, self._verify(token))

    def _verify(self, token: str) -> dict[str, Any]:
        cfg = self.config
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"oidc: verify token: oidc: malformed jwt: {exc}") from None
        alg = header.get("alg")
        if alg not in cfg.signing_algs:
            raise InvalidToken(f"oidc: verify token: oidc: id token signed with unsupported algorithm, expected "
                               f"{json.dumps(list(cfg.signing_algs))} got {json.dumps(alg)}")
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        for key in self._keys_for(kid):
            try:
                claims: dict[str, Any] = jwt.decode(
                    token, key.key, algorithms=[str(alg)], audience=cfg.client_id, issuer=cfg.issuer_url,
                    leeway=CLOCK_SKEW, options={"require": ["iss", "aud", "exp", "iat"]})
            except (jwt.InvalidSignatureError, jwt.InvalidKeyError, jwt.InvalidAlgorithmError, TypeError):
                continue  # another key of the set may have signed it (no kid; or a key of another type), or none
            except jwt.DecodeError as exc:  # not base64url, not JSON: nothing to verify
                raise InvalidToken(f"oidc: verify token: oidc: malformed jwt: {exc}") from None
            except jwt.PyJWTError as exc:
                raise InvalidToken(f"oidc: verify token: {self._claim_error(token, exc)}") from None
            return claims
        raise InvalidToken("oidc: verify token: failed to verify signature: failed to verify id token signature")

    def _claim_error(self, token: str, exc: jwt.PyJWTError) -> str:
        """go-oidc's wording for a claim that fails (the signature was good)."""
        claims = jwt.decode(token, options={"verify_signature": False})
        if isinstance(exc, jwt.ExpiredSignatureError):
            expiry = datetime.fromtimestamp(float(claims.get("exp", 0)), UTC).isoformat()
            return f"oidc: token is expired (Token Expiry: {expiry})"
        if isinstance(exc, jwt.ImmatureSignatureError):
            return f"oidc: token is not valid yet ({exc})"
        if isinstance(exc, jwt.InvalidAudienceError):
            aud = claims.get("aud")
            got = aud if isinstance(aud, list) else [aud]
            return f"oidc: expected audience {json.dumps(self.config.client_id)} got {json.dumps(got)}"
        if isinstance(exc, jwt.InvalidIssuerError):
            return f"oidc: id token issued by a different provider, expected {json.dumps(self.config.issuer_url)}"
        return f"oidc: {exc}"



def user_of_claims(config: OIDCConfig, claims: dict[str, Any]) -> UserInfo:
    """The user a verified id token's claims stand for (pure): the username claim with its prefix, the
    groups claim with its prefix, and `system:authenticated`; InvalidToken when a claim is unusable."""
    return UserInfo(_username(config, claims), "", (*_groups(config, claims), AUTHENTICATED))


def _username(config: OIDCConfig, claims: dict[str, Any]) -> str:
    claim = config.username_claim
    if claim not in claims:
        raise InvalidToken(f"oidc: parse username claims {claim!r}: claim not present")
    value = claims[claim]
    if not isinstance(value, str):
        raise InvalidToken(f"oidc: parse username claims {claim!r}: not a string")
    if claim == "email" and "email_verified" in claims:  # OpenID Connect's standard claim, checked only if there
        verified = claims["email_verified"]
        if not isinstance(verified, bool):
            raise InvalidToken("oidc: parse 'email_verified' claim: not a boolean")
        if not verified:
            raise InvalidToken("oidc: email not verified")
    return config.effective_username_prefix + value


def _groups(config: OIDCConfig, claims: dict[str, Any]) -> tuple[str, ...]:
    claim = config.groups_claim
    if not claim or claim not in claims:
        return ()
    value = claims[claim]
    groups = [value] if isinstance(value, str) else value  # a single string is one group (kubernetes#33290)
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise InvalidToken(f"oidc: parse groups claim {claim!r}: not a string or a list of strings")
    return tuple(config.groups_prefix + g for g in groups)
