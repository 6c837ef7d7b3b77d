"""The dev cluster's OpenID Connect authenticator against a real HTTPS issuer (tests/fixtures/oidc.py) and
the real clients: `kubectl --token=<id token> auth whoami` shows the prefixed user and groups for each flag
combination; the `kubernetes` Python client acts as the id token's user and RBAC bound to its OIDC group
decides what it may do; TokenReview answers authenticated/user/groups/audiences; every kind of bad id token
(expired, not yet valid, another audience, another issuer, a stranger's signature, a `kid` the issuer no
longer publishes after a rotation, an algorithm not allowed, an unverified email, a token without `exp`) is
401 on a request and unauthenticated in a TokenReview; a rotation is picked up on the first unknown `kid`;
an issuer the API server cannot trust is never used; `tfcontroller dev-cluster --oidc-*` wires it all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from tests.fixtures.devcluster import admin_session, api_client_for, client_for_token
from tests.fixtures.oidc import OIDCIssuer, SigningKey
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig

pytestmark = pytest.mark.timeout(120)

RBAC = "rbac.authorization.k8s.io"
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"


@pytest.fixture
def cluster(oidc_issuer: OIDCIssuer) -> Iterator[DevCluster]:
    """A dev cluster trusting the issuer: groups from `groups`, prefixed `oidc:`; user names keep the default
    prefix (`<issuer>#` for `sub`)."""
    with DevCluster(oidc=oidc_issuer.config(groups_claim="groups", groups_prefix="oidc:")) as c:
        yield c


def _kubectl(cluster: DevCluster, token: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp / f"k-{abs(hash(token))}.kubeconfig"
    write_kubeconfig(path, cluster.url, token, cluster.ca_pem)
    env = {**os.environ, "KUBECACHEDIR": str(tmp / "kube-cache"), "HOME": str(tmp)}
    env.pop("KUBECONFIG", None)
    return subprocess.run(["kubectl", "--kubeconfig", str(path), *args], capture_output=True, text=True, env=env,
                          timeout=60)


def _whoami(cluster: DevCluster, token: str, tmp: Path) -> dict[str, Any]:
    proc = _kubectl(cluster, token, tmp, "auth", "whoami", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    info: dict[str, Any] = json.loads(proc.stdout)["status"]["userInfo"]
    return info


def _review(cluster: DevCluster, token: str, audiences: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"token": token, **({"audiences": audiences} if audiences else {})}
    with admin_session(cluster) as s:
        r = s.post(cluster.url + "/apis/authentication.k8s.io/v1/tokenreviews",
                   json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}, timeout=10)
    assert r.status_code == 201, r.text
    status: dict[str, Any] = r.json()["status"]
    return status


def _status_code(cluster: DevCluster, token: str) -> int:
    """What a plain request with this bearer token gets (`/version` is allowed to every authenticated user)."""
    with admin_session(cluster, token=token) as s:
        return int(s.get(cluster.url + "/version", timeout=10).status_code)


# ------------------------------------------------------------------------------------------ who
@pytest.mark.parametrize(("flags", "token_args", "username", "groups"), [
    ({"groups_claim": "groups"}, {"subject": "alice", "groups": ["team-a", "ops"]},
     "{issuer}#alice", ["team-a", "ops"]),
    ({"username_claim": "email", "groups_claim": "groups", "groups_prefix": "oidc:"},
     {"subject": "1234", "email": "bob@example.com", "email_verified": True, "groups": "team-b"},
     "bob@example.com", ["oidc:team-b"]),
    ({"username_prefix": "-"}, {"subject": "carol", "groups": ["ignored-without-groups-claim"]}, "carol", []),
    ({"username_claim": "preferred_username", "username_prefix": "sso:", "groups_claim": "roles"},
     {"subject": "x", "extra": {"preferred_username": "dave", "roles": ["approver"]}}, "sso:dave", ["approver"]),
])
def test_kubectl_whoami_shows_the_mapped_user(oidc_issuer: OIDCIssuer, tmp_path: Path, flags: dict[str, Any],
                                              token_args: dict[str, Any], username: str, groups: list[str]) -> None:
    with DevCluster(oidc=oidc_issuer.config(**flags)) as cluster:
        info = _whoami(cluster, oidc_issuer.token(**token_args), tmp_path)
    assert info == {"username": username.format(issuer=oidc_issuer.url), "groups": [*groups, "system:authenticated"]}


def test_python_client_acts_as_the_user_and_rbac_on_its_group_decides(
        cluster: DevCluster, oidc_issuer: OIDCIssuer, tmp_path: Path) -> None:
    admin = api_client_for(cluster)
    core_admin = kubernetes.client.CoreV1Api(admin)
    for ns in ("team-a", "team-b"):
        core_admin.create_namespace({"metadata": {"name": ns}})
        core_admin.create_namespaced_config_map(ns, {"metadata": {"name": "settings"}, "data": {"k": "v"}})
    kubernetes.utils.create_from_dict(admin, {
        "apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": {"name": "team-a-view", "namespace": "team-a"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": "oidc:team-a"}]})
    admin.close()

    member = client_for_token(cluster, tmp_path, oidc_issuer.token("alice", groups=["team-a"]), "alice")
    stranger = client_for_token(cluster, tmp_path, oidc_issuer.token("eve", groups=["team-b"]), "eve")
    try:
        got = kubernetes.client.CoreV1Api(member).read_namespaced_config_map("settings", "team-a")
        assert got.data == {"k": "v"}
        with pytest.raises(ApiException) as err:
            kubernetes.client.CoreV1Api(member).read_namespaced_config_map("settings", "team-b")
        assert err.value.status == 403
        assert f'User "{oidc_issuer.url}#alice" cannot get resource "configmaps"' in json.loads(err.value.body)["message"]
        with pytest.raises(ApiException) as err:
            kubernetes.client.CoreV1Api(stranger).read_namespaced_config_map("settings", "team-a")
        assert err.value.status == 403
        # the group is what the binding names: the same user name without the group claim gets nothing
        review = kubernetes.client.AuthorizationV1Api(stranger).create_self_subject_access_review(
            {"spec": {"resourceAttributes": {"verb": "list", "resource": "configmaps", "namespace": "team-a"}}})
        assert review.status.allowed is False
    finally:
        member.close()
        stranger.close()


def test_token_review_of_an_id_token(cluster: DevCluster, oidc_issuer: OIDCIssuer) -> None:
    token = oidc_issuer.token("alice", groups=["team-a", "ops"])
    status = _review(cluster, token)
    assert status["authenticated"] is True
    assert status["user"] == {"username": f"{oidc_issuer.url}#alice",
                              "groups": ["oidc:team-a", "oidc:ops", "system:authenticated"]}
    assert status["audiences"] == [API_AUDIENCE]
    # The OIDC authenticator has no audiences of its own (kube-apiserver wraps it audience-agnostic):
    # a review for another audience does not authenticate it; one including the API server's does.
    assert _review(cluster, token, ["vault"]).get("authenticated") is not True
    assert _review(cluster, token, ["vault", API_AUDIENCE])["audiences"] == [API_AUDIENCE]


# ------------------------------------------------------------------------------------------ refused
def _stranger_signed(issuer: OIDCIssuer) -> str:
    """Claims of this issuer and its current kid, signed by a key the issuer never published."""
    return issuer.token("mallory", key=SigningKey(), kid=issuer.keys[-1].kid)


@pytest.mark.parametrize(("make", "reason"), [
    (lambda i: i.token("alice", expires_in=-120), "oidc: token is expired"),
    (lambda i: i.token("alice", issued_ago=-3600), "not valid yet"),
    (lambda i: i.token("alice", audience="someone-else"), 'expected audience "tfcontroller-dashboard" got ["someone-else"]'),
    (lambda i: i.token("alice", audience=[]), 'missing the "aud" claim'),
    (lambda i: i.token("alice", issuer="https://accounts.example.com"), "[invalid bearer token]"),  # not this issuer's
    (_stranger_signed, "failed to verify signature"),
    (lambda i: i.token("alice", kid="a-kid-nobody-published"), "failed to verify signature"),
    (lambda i: jwt.encode({"iss": i.url, "sub": "x", "aud": i.client_id, "iat": 1, "exp": 2**40}, "secret" * 8,
                          algorithm="HS256"), 'unsupported algorithm, expected ["RS256"] got "HS256"'),
    (lambda i: jwt.encode({"iss": i.url, "sub": "x", "aud": i.client_id, "iat": 1}, i.keys[-1].private,
                          algorithm="RS256", headers={"kid": i.keys[-1].kid}), 'missing the "exp" claim'),
    (lambda i: "not-a-jwt", "[invalid bearer token]"),
])
def test_bad_id_tokens_are_refused(cluster: DevCluster, oidc_issuer: OIDCIssuer, make: Any, reason: str) -> None:
    token = make(oidc_issuer)
    status = _review(cluster, token)
    assert status.get("authenticated") is not True and not status.get("user")
    assert reason in status["error"], status
    assert _status_code(cluster, token) == 401


def test_unverified_email_is_refused(oidc_issuer: OIDCIssuer) -> None:
    with DevCluster(oidc=oidc_issuer.config(username_claim="email")) as cluster:
        token = oidc_issuer.token("1", email="x@example.com", email_verified=False)
        assert "oidc: email not verified" in _review(cluster, token)["error"]
        assert _status_code(cluster, token) == 401
        assert _status_code(cluster, oidc_issuer.token("1", email="x@example.com", email_verified=True)) == 200


def test_key_rotation(cluster: DevCluster, oidc_issuer: OIDCIssuer) -> None:
    before = oidc_issuer.token("alice")
    assert _status_code(cluster, before) == 200
    fetched = oidc_issuer.jwks_fetches
    assert _status_code(cluster, oidc_issuer.token("alice")) == 200
    assert oidc_issuer.jwks_fetches == fetched  # a known kid: the cached key set serves

    oidc_issuer.rotate(keep_old=True)  # the new key is published before it is used, the old one still is
    after = oidc_issuer.token("alice")
    assert _status_code(cluster, after) == 200 and _status_code(cluster, before) == 200
    assert oidc_issuer.jwks_fetches == fetched + 1  # the unknown kid made it fetch the keys again, once

    oidc_issuer.rotate()  # now the provider drops every older key
    assert _status_code(cluster, oidc_issuer.token("alice")) == 200
    for old in (before, after):
        assert "failed to verify signature" in _review(cluster, old)["error"]
        assert _status_code(cluster, old) == 401


def test_an_issuer_the_server_cannot_trust_is_never_used(oidc_issuer: OIDCIssuer, tmp_path: Path) -> None:
    other = OIDCIssuer().start()  # a CA that did not sign this issuer's certificate
    other.stop()
    with DevCluster(oidc=oidc_issuer.config(ca_file=str(other.ca_file))) as cluster:
        token = oidc_issuer.token("alice")
        assert "oidc: authenticator not initialized" in _review(cluster, token)["error"]
        assert _status_code(cluster, token) == 401
    assert oidc_issuer.jwks_fetches == 0


# ------------------------------------------------------------------------------------------ the command
def test_dev_cluster_command_takes_the_oidc_flags(oidc_issuer: OIDCIssuer, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfcontroller", "dev-cluster", "--port", "0", "--no-node", "--kubeconfig",
         str(kubeconfig), "--oidc-issuer-url", oidc_issuer.url, "--oidc-client-id", oidc_issuer.client_id,
         "--oidc-ca-file", str(oidc_issuer.ca_file), "--oidc-username-claim", "email", "--oidc-groups-claim",
         "groups", "--oidc-groups-prefix", "oidc:", "--oidc-signing-algs", "RS256,ES256"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "ready" in line, proc.stderr.read() if proc.stderr else line
        url = line.split(" at ")[1].split(" ")[0]
        token = oidc_issuer.token("1", email="erin@example.com", groups=["team-a"])
        env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
        out = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "--token", token, "auth", "whoami", "-o",
                              "json"], capture_output=True, text=True, env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["status"]["userInfo"] == {
            "username": "erin@example.com", "groups": ["oidc:team-a", "system:authenticated"]}
        assert url.startswith("https://127.0.0.1:")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.parametrize(("args", "message"), [
    (["--oidc-issuer-url", "http://127.0.0.1:1", "--oidc-client-id", "c"], "must be an https:// URL"),
    (["--oidc-issuer-url", "https://127.0.0.1:1"], "--oidc-client-id is required"),
    (["--oidc-client-id", "c"], "--oidc-client-id need --oidc-issuer-url"),
    (["--oidc-issuer-url", "https://127.0.0.1:1", "--oidc-client-id", "c", "--oidc-signing-algs", "HS256"],
     "--oidc-signing-algs 'HS256'"),
    (["--oidc-issuer-url", "https://127.0.0.1:1", "--oidc-client-id", "c", "--oidc-ca-file", "/nonexistent/ca.crt"],
     "--oidc-ca-file /nonexistent/ca.crt"),
])
def test_dev_cluster_command_refuses_wrong_oidc_flags(tmp_path: Path, args: list[str], message: str) -> None:
    out = subprocess.run([sys.executable, "-m", "tfcontroller", "dev-cluster", "--port", "0", "--no-node",
                          "--kubeconfig", str(tmp_path / "kubeconfig"), *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out
    assert message in out.stderr
