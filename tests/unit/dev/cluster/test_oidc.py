"""The dev cluster's OpenID Connect authenticator, its pure parts: kube-apiserver's `--oidc-*` flag rules
(the username prefix default `<issuer>#` except for `email`, `-` for none; https issuer; client id; the
allowed signing algorithms) and the mapping of verified claims to a user (username claim, `email_verified`,
groups as a string or a list, prefixes, `system:authenticated`); when the provider's documents are fetched
(once, again for an unknown `kid`, retried while it is down, never trusted for another issuer). Verification
against a real HTTPS issuer is in tests/integration/dev/cluster/test_oidc.py."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tfcontroller.dev.cluster.oidc import OIDCAuthenticator, OIDCConfig, oidc_config, user_of_claims
from tfcontroller.dev.cluster.tokens import InvalidToken

ISSUER = "https://issuer.example"


@pytest.mark.parametrize(("claim", "prefix", "want"), [
    ("sub", None, ISSUER + "#"),        # unset: non-email claims get the issuer URL and #
    ("name", None, ISSUER + "#"),
    ("preferred_username", "", ISSUER + "#"),  # an empty flag is the same as unset
    ("email", None, ""),                # email is unprefixed by default
    ("sub", "-", ""),                   # `-`: no prefix at all
    ("email", "-", ""),
    ("sub", "oidc:", "oidc:"),
    ("email", "corp:", "corp:"),
])
def test_username_prefix_follows_the_flag_rules(claim: str, prefix: str | None, want: str) -> None:
    assert OIDCConfig(ISSUER, "c", username_claim=claim, username_prefix=prefix).effective_username_prefix == want


@pytest.mark.parametrize(("config", "fragment"), [
    (OIDCConfig("http://issuer.example", "c"), "must be an https:// URL"),
    (OIDCConfig("issuer.example", "c"), "must be an https:// URL"),
    (OIDCConfig("https://issuer.example?x=1", "c"), "must not contain a query"),
    (OIDCConfig("https://u:p@issuer.example", "c"), "must not contain a query, a fragment, a user name"),
    (OIDCConfig(ISSUER, ""), "--oidc-client-id is required"),
    (OIDCConfig(ISSUER, "c", username_claim=""), "--oidc-username-claim must not be empty"),
    (OIDCConfig(ISSUER, "c", signing_algs=("HS256",)), "--oidc-signing-algs 'HS256'"),
    (OIDCConfig(ISSUER, "c", signing_algs=("RS256", "none")), "each must be one of"),
    (OIDCConfig(ISSUER, "c", signing_algs=()), "each must be one of"),
])
def test_unusable_flags_are_named(config: OIDCConfig, fragment: str) -> None:
    assert any(fragment in p for p in config.problems()), config.problems()


def test_usable_flags_have_no_problems() -> None:
    assert OIDCConfig(ISSUER, "c", signing_algs=("RS256", "ES256", "PS512")).problems() == []
    assert OIDCConfig("https://127.0.0.1:8443/realms/dev", "c").problems() == []


def test_flags_build_the_config_or_say_what_is_wrong() -> None:
    assert oidc_config(None) is None
    got = oidc_config(ISSUER, "dash", username_claim="email", groups_claim="groups", groups_prefix="oidc:",
                      signing_algs="RS256, ES256")
    assert got == OIDCConfig(ISSUER, "dash", "email", None, "groups", "oidc:", None, ("RS256", "ES256"))
    with pytest.raises(ValueError, match="--oidc-client-id, --oidc-groups-claim need --oidc-issuer-url"):
        oidc_config(None, "dash", groups_claim="groups")
    with pytest.raises(ValueError, match="--oidc-client-id is required"):
        oidc_config(ISSUER)
    with pytest.raises(ValueError, match="https"):
        oidc_config("http://insecure.example", "dash")


@pytest.mark.parametrize(("flags", "claims", "username", "groups"), [
    ({}, {"sub": "alice"}, ISSUER + "#alice", ()),
    ({"username_prefix": "-"}, {"sub": "alice"}, "alice", ()),
    ({"username_claim": "email"}, {"sub": "1", "email": "a@x.io"}, "a@x.io", ()),
    ({"username_claim": "email"}, {"email": "a@x.io", "email_verified": True}, "a@x.io", ()),
    ({"username_claim": "name", "username_prefix": "oidc:"}, {"name": "Al"}, "oidc:Al", ()),
    ({"groups_claim": "groups"}, {"sub": "a", "groups": ["team-a", "ops"]}, ISSUER + "#a", ("team-a", "ops")),
    ({"groups_claim": "role"}, {"sub": "a", "role": "admin"}, ISSUER + "#a", ("admin",)),  # one string
    ({"groups_claim": "groups", "groups_prefix": "oidc:"}, {"sub": "a", "groups": ["t"]}, ISSUER + "#a", ("oidc:t",)),
    ({"groups_claim": "groups"}, {"sub": "a"}, ISSUER + "#a", ()),          # absent: no groups, no error
    ({}, {"sub": "a", "groups": ["ignored"]}, ISSUER + "#a", ()),           # no --oidc-groups-claim
])
def test_claims_map_to_the_user(flags: dict[str, Any], claims: dict[str, Any], username: str,
                                groups: tuple[str, ...]) -> None:
    user = user_of_claims(OIDCConfig(ISSUER, "c", **flags), claims)
    assert user.username == username
    assert user.groups == (*groups, "system:authenticated")
    assert user.uid == "" and user.extra == {}


@pytest.mark.parametrize(("flags", "claims", "reason"), [
    ({}, {"email": "a@x.io"}, "oidc: parse username claims 'sub': claim not present"),
    ({}, {"sub": 42}, "oidc: parse username claims 'sub': not a string"),
    ({"username_claim": "email"}, {"email": "a@x.io", "email_verified": False}, "oidc: email not verified"),
    ({"username_claim": "email"}, {"email": "a@x.io", "email_verified": "true"}, "'email_verified' claim: not a boolean"),
    ({"groups_claim": "groups"}, {"sub": "a", "groups": [1, 2]}, "parse groups claim 'groups'"),
    ({"groups_claim": "groups"}, {"sub": "a", "groups": {"a": 1}}, "not a string or a list of strings"),
])
def test_unusable_claims_refuse_the_token(flags: dict[str, Any], claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason):
        user_of_claims(OIDCConfig(ISSUER, "c", **flags), claims)


def test_email_verified_is_only_checked_for_the_email_claim() -> None:
    user = user_of_claims(OIDCConfig(ISSUER, "c"), {"sub": "a", "email": "a@x.io", "email_verified": False})
    assert user.username == ISSUER + "#a"


# ------------------------------------------------------------------------------------------ discovery and keys
# The provider is reached through the authenticator's `fetch` (urllib over HTTPS in the dev cluster; the real
# issuer of tests/fixtures/oidc.py in tests/integration/dev/cluster/test_oidc.py). Here a table of documents
# stands in for it, to drive what a live server cannot easily do: be down at first, or lie about its issuer.


class Provider:
    """Discovery and JWKS documents by URL; `down` makes every fetch fail as an unreachable host does."""

    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self.keys = [_key("k1")]
        self.down = False
        self.fetched: list[str] = []

    def __call__(self, url: str, context: Any) -> Any:
        self.fetched.append(url)
        if self.down:
            raise OSError("connection refused")
        if url == ISSUER + "/.well-known/openid-configuration":
            return {"issuer": self.issuer, "jwks_uri": ISSUER + "/keys"}
        if url == ISSUER + "/keys":
            return {"keys": [jwk for _, jwk in self.keys]}
        raise OSError(f"404 {url}")

    def token(self, kid: str = "k1", **claims: Any) -> str:
        private = next(k for k, jwk in self.keys if jwk["kid"] == kid)
        body = {"iss": ISSUER, "sub": "alice", "aud": "c", "iat": int(time.time()), "exp": int(time.time()) + 600,
                **claims}
        return jwt.encode(body, private, algorithm="ES256", headers={"kid": kid})


def _key(kid: str) -> tuple[Any, dict[str, Any]]:
    private = ec.generate_private_key(ec.SECP256R1())
    return private, {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key())), "kid": kid, "use": "sig"}


def _authenticator(provider: Provider) -> OIDCAuthenticator:
    return OIDCAuthenticator(OIDCConfig(ISSUER, "c", signing_algs=("ES256",)), fetch=provider)


def test_keys_are_fetched_once_and_again_only_for_an_unknown_kid() -> None:
    provider = Provider()
    auth = _authenticator(provider)
    for _ in range(3):
        assert auth.check(provider.token()) is not None
    assert len(provider.fetched) == 2  # discovery, keys
    provider.keys.append(_key("k2"))
    assert auth.check(provider.token("k2")) is not None
    assert provider.fetched[2:] == [ISSUER + "/keys"]  # discovery is kept; the key set fetched again, once


def test_an_unreachable_provider_refuses_until_it_answers() -> None:
    provider = Provider()
    provider.down = True
    auth = _authenticator(provider)
    with pytest.raises(InvalidToken, match="oidc: authenticator not initialized"):
        auth.check(provider.token())
    provider.down = False
    assert auth.check(provider.token()) is not None  # retried at the next token


def test_a_provider_down_after_start_keeps_the_cached_keys() -> None:
    provider = Provider()
    auth = _authenticator(provider)
    assert auth.check(provider.token()) is not None
    provider.down = True
    assert auth.check(provider.token()) is not None  # a known kid needs no fetch
    with pytest.raises(InvalidToken, match="malformed jwt"):
        auth.check(provider.token(sub="x") + "x")  # a mangled signature is still refused, as this issuer's
    header, payload, _ = provider.token().split(".")
    _, _, other = provider.token(sub="mallory").split(".")
    with pytest.raises(InvalidToken, match="failed to verify signature"):
        auth.check(f"{header}.{payload}.{other}")  # another token's signature


def test_a_discovery_document_of_another_issuer_is_not_trusted() -> None:
    provider = Provider(issuer="https://evil.example")
    auth = _authenticator(provider)
    with pytest.raises(InvalidToken, match="not initialized"):
        auth.check(provider.token())
    assert provider.fetched == [ISSUER + "/.well-known/openid-configuration"]  # its keys were never fetched


def test_tokens_of_other_issuers_are_not_its_business() -> None:
    provider = Provider()
    auth = _authenticator(provider)
    assert auth.check(provider.token(iss="https://other.example")) is None
    assert auth.check("not a jwt") is None
    assert provider.fetched == []  # nothing fetched for a token it does not verify


def test_without_a_kid_every_published_key_is_tried_whatever_its_type() -> None:
    provider = Provider()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider.keys.append((rsa_key, {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())),
                                    "kid": "r1"}))
    auth = OIDCAuthenticator(OIDCConfig(ISSUER, "c", signing_algs=("ES256", "RS256")), fetch=provider)
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "alice", "aud": "c", "iat": now, "exp": now + 600}
    for key, alg in ((rsa_key, "RS256"), (provider.keys[0][0], "ES256")):
        user = auth.check(jwt.encode(claims, key, algorithm=alg))  # no kid in the header
        assert user is not None and user.username == ISSUER + "#alice"
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidToken, match="failed to verify signature"):
        auth.check(jwt.encode(claims, stranger, algorithm="ES256"))
