"""The dev cluster's OpenID Connect authenticator, its pure parts: kube-apiserver's `--oidc-*` flag rules
(the username prefix default `<issuer>#` except for `email`, `-` for none; https issuer; client id; the
allowed signing algorithms) and the mapping of verified claims to a user (username claim, `email_verified`,
groups as a string or a list, prefixes, `system:authenticated`). Verification against a real HTTPS issuer
is in tests/integration/dev/cluster/test_oidc.py."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.dev.cluster.oidc import OIDCConfig, oidc_config, user_of_claims
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
