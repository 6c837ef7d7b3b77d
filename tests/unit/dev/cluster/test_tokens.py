"""ServiceAccount tokens: claims as the real API server writes them, and every reason to refuse one
(signature, expiry, audience, the ServiceAccount or bound object gone or replaced), on a store directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from tfcontroller.dev.cluster.store import Store
from tfcontroller.dev.cluster.tokens import ISSUER, InvalidToken, TokenIssuer


def _put(store: Store, plural: str, ns: str, name: str, uid: str, **extra: object) -> None:
    store.put("", plural, {"metadata": {"name": name, "namespace": ns, "uid": uid}, **extra})


@pytest.fixture
def store() -> Store:
    s = Store()
    _put(s, "serviceaccounts", "team-a", "runner", "sa-uid-1")
    _put(s, "pods", "team-a", "run-1", "pod-uid-1", spec={"nodeName": "dev-node", "serviceAccountName": "runner"})
    _put(s, "pods", "team-a", "other-sa", "pod-uid-2", spec={})  # runs as `default`
    s.put("", "nodes", {"metadata": {"name": "dev-node", "uid": "node-uid"}})
    _put(s, "secrets", "team-a", "tok", "secret-uid")
    return s


def test_claims_have_the_real_shape(store: Store) -> None:
    issuer = TokenIssuer(store)
    token, expires = issuer.issue("team-a", "runner", expiration_seconds=600, bound_object=("Pod", "run-1", "pod-uid-1"))
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "ES256" and header["kid"] == issuer.kid
    assert claims["iss"] == ISSUER and claims["aud"] == [ISSUER]
    assert claims["sub"] == "system:serviceaccount:team-a:runner"
    assert claims["exp"] - claims["iat"] == 600 and claims["nbf"] == claims["iat"]
    assert int(expires.timestamp()) == claims["exp"]
    assert claims["kubernetes.io"] == {
        "namespace": "team-a",
        "serviceaccount": {"name": "runner", "uid": "sa-uid-1"},
        "pod": {"name": "run-1", "uid": "pod-uid-1"},
        "node": {"name": "dev-node", "uid": "node-uid"},
    }
    user = issuer.verify(token)
    assert user is not None
    assert user.username == "system:serviceaccount:team-a:runner" and user.uid == "sa-uid-1"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated")
    assert user.extra["authentication.kubernetes.io/pod-name"] == ["run-1"]
    assert user.extra["authentication.kubernetes.io/pod-uid"] == ["pod-uid-1"]
    assert user.extra["authentication.kubernetes.io/node-name"] == ["dev-node"]
    assert user.extra["authentication.kubernetes.io/credential-id"] == [f"JTI={claims['jti']}"]


def test_audiences(store: Store) -> None:
    issuer = TokenIssuer(store)
    vault, _ = issuer.issue("team-a", "runner", audiences=["vault", "other"])
    assert issuer.verify(vault) is None  # default audience: the API server's own
    assert issuer.verify(vault, "vault") is not None
    verified = issuer.check(vault, ["nope", "other"])
    assert verified is not None and verified.audiences == ["other"]
    with pytest.raises(InvalidToken, match="invalid for the target audiences"):
        issuer.check(vault, "nope")
    api, _ = issuer.issue("team-a", "runner")
    assert issuer.verify(api, "vault") is None


@pytest.mark.parametrize("age,valid", [(timedelta(hours=2), False), (timedelta(minutes=60, seconds=30), True),
                                       (timedelta(minutes=62), False), (timedelta(0), True)])
def test_expiry_with_the_real_one_minute_leeway(store: Store, age: timedelta, valid: bool) -> None:
    issuer = TokenIssuer(store)
    token, _ = issuer.issue("team-a", "runner", expiration_seconds=3600, now=datetime.now(UTC) - age)
    assert (issuer.verify(token) is not None) is valid
    if not valid:
        with pytest.raises(InvalidToken, match="has expired"):
            issuer.check(token)


def test_not_yet_valid(store: Store) -> None:
    issuer = TokenIssuer(store)
    token, _ = issuer.issue("team-a", "runner", now=datetime.now(UTC) + timedelta(minutes=5))
    with pytest.raises(InvalidToken, match="not valid yet"):
        issuer.check(token)


def test_refused_when_the_service_account_or_bound_object_is_gone_or_replaced(store: Store) -> None:
    issuer = TokenIssuer(store)
    plain, _ = issuer.issue("team-a", "runner")
    pod_bound, _ = issuer.issue("team-a", "runner", bound_object=("Pod", "run-1", ""))
    secret_bound, _ = issuer.issue("team-a", "runner", bound_object=("Secret", "tok", "secret-uid"))
    assert all(issuer.verify(t) is not None for t in (plain, pod_bound, secret_bound))
    store.remove("", "pods", "team-a", "run-1")
    with pytest.raises(InvalidToken, match="pod team-a/run-1 has been deleted"):
        issuer.check(pod_bound)
    _put(store, "secrets", "team-a", "tok", "secret-uid-2")  # same name, a new object
    with pytest.raises(InvalidToken, match="secret UID"):
        issuer.check(secret_bound)
    assert issuer.verify(plain) is not None
    store.remove("", "serviceaccounts", "team-a", "runner")
    with pytest.raises(InvalidToken, match="service account team-a/runner has been deleted"):
        issuer.check(plain)
    _put(store, "serviceaccounts", "team-a", "runner", "sa-uid-2")  # re-created: old tokens stay dead
    assert issuer.verify(plain) is None


def test_issue_refuses_what_does_not_exist(store: Store) -> None:
    issuer = TokenIssuer(store)
    for args in [("team-a", "ghost", None), ("team-b", "runner", None), ("team-a", "runner", ("Pod", "ghost", "")),
                 ("team-a", "runner", ("Pod", "run-1", "wrong-uid")), ("team-a", "runner", ("ConfigMap", "x", "")),
                 ("team-a", "runner", ("Pod", "other-sa", ""))]:  # the Pod runs as another ServiceAccount
        with pytest.raises(LookupError):
            issuer.issue(args[0], args[1], bound_object=args[2])


def test_foreign_and_forged_tokens(store: Store) -> None:
    issuer, other = TokenIssuer(store), TokenIssuer(store)
    forged, _ = other.issue("team-a", "runner")  # same issuer name, another key
    with pytest.raises(InvalidToken, match="(?i)signature"):
        issuer.check(forged)
    assert issuer.check("not-a-jwt") is None  # not ours at all: another authenticator's business
    assert issuer.verify("not-a-jwt") is None
    foreign = jwt.encode({"iss": "someone-else", "sub": "x"}, "secret-key-of-32-bytes-or-more!!", algorithm="HS256")
    assert issuer.check(foreign) is None
    claims = jwt.decode(issuer.issue("team-a", "runner")[0], options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(InvalidToken):
        issuer.check(unsigned)


def test_key_kept_in_its_file_survives_a_restart(store: Store, tmp_path: Path) -> None:
    key_file = tmp_path / "state.json.sa.key"
    first = TokenIssuer(store, key_file)
    token, _ = first.issue("team-a", "runner")
    assert key_file.stat().st_mode & 0o777 == 0o600
    second = TokenIssuer(store, key_file)
    assert second.kid == first.kid and second.verify(token) is not None
    assert TokenIssuer(store).verify(token) is None
