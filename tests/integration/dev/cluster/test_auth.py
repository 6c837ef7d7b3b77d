"""Authentication and RBAC of the dev cluster with the real clients: the Python client and `kubectl`
(auth whoami, auth can-i incl. --list and --as, create token, get) as the admin, a ServiceAccount and
anonymous; a RoleBinding in one namespace gives exactly that namespace; the real 403 bodies (namespaced,
cluster scope, subresource, non-resource path); impersonation needs the `impersonate` verb; escalation
is refused unless `escalate`/`bind` or the rules are held; tokens stop working when their
ServiceAccount or bound Pod is deleted, when they expire, or for another audience; ClusterRole aggregation."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import urllib3
from kubernetes.client.rest import ApiException

from tests.fixtures.devcluster import admin_session, client_for_token
from tests.support.polling import wait_for
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.reviews import UserInfo, whoami

pytestmark = pytest.mark.timeout(120)

RBAC = "rbac.authorization.k8s.io"
RUNNER = "system:serviceaccount:team-a:runner"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl_as(cluster: DevCluster, tmp_path: Path) -> Callable[[str], Kubectl]:
    """kubectl_as(token) → a kubectl runner with a kubeconfig holding that token ("" = anonymous)."""
    env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "kube-cache"), "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)

    def make(token: str) -> Kubectl:
        path = tmp_path / f"kubectl-{abs(hash(token))}.kubeconfig"
        write_kubeconfig(path, cluster.url, token, cluster.ca_pem)

        def run(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
            proc = subprocess.run(["kubectl", "--kubeconfig", str(path), *args], input=stdin, capture_output=True,
                                  text=True, env=env, timeout=60)
            if check and proc.returncode != 0:
                raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
            return proc

        return run

    return make


def _apply(admin: kubernetes.client.ApiClient, *docs: dict[str, Any]) -> None:
    for doc in docs:
        kubernetes.utils.create_from_dict(admin, doc)


def _ns(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _sa(ns: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}


def _role(ns: str | None, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": f"{RBAC}/v1", "kind": "Role" if ns else "ClusterRole", "metadata": meta, "rules": rules}


def _binding(ns: str | None, name: str, role_kind: str, role: str, subjects: list[dict[str, Any]]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding" if ns else "ClusterRoleBinding", "metadata": meta,
            "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role}, "subjects": subjects}


RUNNER_SUBJECT = {"kind": "ServiceAccount", "name": "runner", "namespace": "team-a"}


@pytest.fixture
def teams(admin: kubernetes.client.ApiClient) -> None:
    """team-a and team-b, a Secret in each, ServiceAccount team-a/runner that may read Secrets in team-a."""
    _apply(admin, _ns("team-a"), _ns("team-b"), _sa("team-a", "runner"),
           _role("team-a", "secret-reader", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]),
           _binding("team-a", "runner-reads", "Role", "secret-reader", [RUNNER_SUBJECT]))
    core = kubernetes.client.CoreV1Api(admin)
    for ns in ("team-a", "team-b"):
        core.create_namespaced_secret(ns, {"metadata": {"name": "creds"}, "stringData": {"k": "v"}})


def _token(admin: kubernetes.client.ApiClient, ns: str = "team-a", name: str = "runner", **spec: Any) -> str:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    resp = kubernetes.client.CoreV1Api(admin).create_namespaced_service_account_token(name, ns, body)
    return str(resp.status.token)


def _status(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


# ------------------------------------------------------------------------------------------ whoami
def test_whoami_for_admin_service_account_and_anonymous(cluster: DevCluster, admin: kubernetes.client.ApiClient,
                                                        teams: None, kubectl_as: Callable[[str], Kubectl]) -> None:
    out = json.loads(kubectl_as(cluster.token)("auth", "whoami", "-o", "json").stdout)
    assert out["kind"] == "SelfSubjectReview"
    assert out["status"]["userInfo"] == {"username": "dev-cluster-admin", "groups": ["system:masters", "system:authenticated"]}

    token = kubectl_as(cluster.token)("create", "token", "runner", "-n", "team-a").stdout.strip()
    info = json.loads(kubectl_as(token)("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert info["username"] == RUNNER
    assert info["groups"] == ["system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"]
    sa_uid = kubernetes.client.CoreV1Api(admin).read_namespaced_service_account("runner", "team-a").metadata.uid
    assert info["uid"] == sa_uid and info["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")

    # Anonymous callers may not create SelfSubjectReviews (system:basic-user is for system:authenticated),
    # exactly as on a kubeadm cluster. (kubectl itself prompts for a password without credentials.)
    with admin_session(cluster, token="") as anonymous:
        r = anonymous.post(cluster.url + "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                           json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}, timeout=5)
    assert r.status_code == 403 and r.json()["message"] == (
        'selfsubjectreviews.authentication.k8s.io is forbidden: User "system:anonymous" cannot create resource '
        '"selfsubjectreviews" in API group "authentication.k8s.io" at the cluster scope')


# ------------------------------------------------------------------------------------------ can-i and 403s
def test_rolebinding_gives_exactly_its_namespace(cluster: DevCluster, admin: kubernetes.client.ApiClient, teams: None,
                                                 kubectl_as: Callable[[str], Kubectl], tmp_path: Path) -> None:
    token = _token(admin)
    sa = kubectl_as(token)
    assert sa("auth", "can-i", "get", "secrets", "-n", "team-a").stdout.strip() == "yes"
    assert sa("auth", "can-i", "list", "secrets", "-n", "team-a").stdout.strip() == "yes"
    for args in (["delete", "secrets", "-n", "team-a"], ["get", "secrets", "-n", "team-b"],
                 ["get", "secrets", "--all-namespaces"], ["get", "configmaps", "-n", "team-a"]):
        no = sa("auth", "can-i", *args, check=False)
        assert (no.returncode, no.stdout.strip()) == (1, "no"), args
    listed = sa("auth", "can-i", "--list", "-n", "team-a").stdout
    assert any(line.split()[:1] == ["secrets"] and "[get list]" in line for line in listed.splitlines()), listed
    assert "selfsubjectaccessreviews.authorization.k8s.io" in listed  # system:basic-user
    assert sa("get", "secrets", "-n", "team-a", "-o", "name").stdout.split() == ["secret/creds"]
    refused = sa("get", "secrets", "-n", "team-b", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:team-a:runner" cannot '
        'list resource "secrets" in API group "" in the namespace "team-b"')

    core = kubernetes.client.CoreV1Api(client_for_token(cluster, tmp_path, token, "runner"))
    assert core.read_namespaced_secret("creds", "team-a").data == {"k": "dg=="}
    with pytest.raises(ApiException) as err:
        core.read_namespaced_secret("creds", "team-b")
    assert err.value.status == 403
    assert _status(err.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'secrets "creds" is forbidden: User "system:serviceaccount:team-a:runner" cannot get resource '
                   '"secrets" in API group "" in the namespace "team-b"',
        "reason": "Forbidden", "details": {"name": "creds", "kind": "secrets"}, "code": 403,
    }
    with pytest.raises(ApiException) as err:
        core.list_namespace()
    assert _status(err.value)["message"] == (
        'namespaces is forbidden: User "system:serviceaccount:team-a:runner" cannot list resource "namespaces" '
        'in API group "" at the cluster scope')
    with pytest.raises(ApiException) as err:
        kubernetes.client.RbacAuthorizationV1Api(core.api_client).read_namespaced_role("secret-reader", "team-a")
    assert _status(err.value)["details"] == {"name": "secret-reader", "group": RBAC, "kind": "roles"}
    kubectl_as(cluster.token)("create", "serviceaccount", "other", "-n", "team-a")
    sub = sa("create", "token", "other", "-n", "team-a", check=False)
    assert ('serviceaccounts "other" is forbidden: User "system:serviceaccount:team-a:runner" cannot create resource '
            '"serviceaccounts/token" in API group "" in the namespace "team-a"') in sub.stderr


def test_admin_answers_and_can_i_as_others(cluster: DevCluster, teams: None,
                                           kubectl_as: Callable[[str], Kubectl]) -> None:
    admin = kubectl_as(cluster.token)
    assert admin("auth", "can-i", "*", "*", "--all-namespaces").stdout.strip() == "yes"
    assert admin("auth", "can-i", "get", "secrets", "-n", "team-a", "--as", RUNNER).stdout.strip() == "yes"
    assert admin("auth", "can-i", "get", "secrets", "-n", "team-b", "--as", RUNNER, check=False).stdout.strip() == "no"
    assert admin("auth", "can-i", "get", "/api", "--as", "someone").stdout.strip() == "yes"  # system:discovery
    assert admin("auth", "can-i", "get", "/logs/x", "--as", "someone", check=False).stdout.strip() == "no"
    # anonymous may not even ask (no system:basic-user), as on a real cluster ...
    refused = admin("auth", "can-i", "get", "/version", "--as", "system:anonymous", check=False)
    assert ('selfsubjectaccessreviews.authorization.k8s.io is forbidden: User "system:anonymous" cannot create '
            'resource "selfsubjectaccessreviews"') in refused.stderr
    # ... so the admin asks for it with a SubjectAccessReview
    for attrs, allowed in [({"nonResourceAttributes": {"path": "/version", "verb": "get"}}, True),
                           ({"nonResourceAttributes": {"path": "/api", "verb": "get"}}, False),
                           ({"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "team-a"}}, False)]:
        sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
               "spec": {"user": "system:anonymous", "groups": ["system:unauthenticated"], **attrs}}
        out = json.loads(admin("create", "-f", "-", "-o", "json", stdin=json.dumps(sar)).stdout)
        assert out["status"]["allowed"] is allowed, (attrs, out)
        if allowed:
            assert out["status"]["reason"] == ('RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of '
                                               'ClusterRole "system:public-info-viewer" to Group "system:unauthenticated"')
    # nonResourceURLs with a `*` suffix
    kubectl_grant = [
        _role(None, "logs-reader", [{"nonResourceURLs": ["/logs/*"], "verbs": ["get"]}]),
        _binding(None, "someone-logs", "ClusterRole", "logs-reader", [{"kind": "User", "name": "someone"}]),
    ]
    for doc in kubectl_grant:
        admin("create", "-f", "-", stdin=json.dumps(doc))
    assert admin("auth", "can-i", "get", "/logs/kube/x.log", "--as", "someone").stdout.strip() == "yes"
    assert admin("auth", "can-i", "get", "/logsx", "--as", "someone", check=False).stdout.strip() == "no"
    listed = admin("auth", "can-i", "--list").stdout
    assert any(line.split()[:4] == ["*.*", "[]", "[]", "[*]"] for line in listed.splitlines()), listed


def test_anonymous_is_authorised_like_anyone(cluster: DevCluster, admin: kubernetes.client.ApiClient, teams: None,
                                             tmp_path: Path) -> None:
    with admin_session(cluster, token="") as anonymous:
        assert anonymous.get(cluster.url + "/version", timeout=5).status_code == 200
        assert anonymous.get(cluster.url + "/healthz", timeout=5).text == "ok"
        r = anonymous.get(cluster.url + "/api", timeout=5)
        assert (r.status_code, r.json()["message"], r.json()["details"]) == (
            403, 'forbidden: User "system:anonymous" cannot get path "/api"', {})
    core = kubernetes.client.CoreV1Api(client_for_token(cluster, tmp_path, "", "anonymous"))
    with pytest.raises(ApiException) as err:
        core.list_namespaced_secret("team-a")
    assert _status(err.value)["message"] == (
        'secrets is forbidden: User "system:anonymous" cannot list resource "secrets" in API group "" in the '
        'namespace "team-a"')
    # granted by RBAC like any other subject
    _apply(admin, _role("team-a", "anon-cm", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]),
           _binding("team-a", "anon-cm", "Role", "anon-cm", [{"kind": "Group", "name": "system:unauthenticated"}]))
    assert [s.metadata.name for s in core.list_namespaced_secret("team-a").items] == ["creds"]


# ------------------------------------------------------------------------------------------ impersonation
def test_impersonation_needs_the_verb(cluster: DevCluster, admin: kubernetes.client.ApiClient, teams: None,
                                      kubectl_as: Callable[[str], Kubectl]) -> None:
    token = _token(admin)
    sa = kubectl_as(token)
    refused = sa("get", "secrets", "-n", "team-a", "--as", "jane", check=False)
    assert refused.returncode == 1 and "Error from server (Forbidden)" in refused.stderr
    url = cluster.url + "/api/v1/namespaces/team-a/secrets"
    with admin_session(cluster, token=token) as http:
        for headers, message in [
            ({"Impersonate-User": "jane"}, 'users "jane" is forbidden: User "system:serviceaccount:team-a:runner" '
                                           'cannot impersonate resource "users" in API group "" at the cluster scope'),
            ({"Impersonate-User": "system:serviceaccount:team-a:other"},
             'serviceaccounts "other" is forbidden: User "system:serviceaccount:team-a:runner" cannot impersonate '
             'resource "serviceaccounts" in API group "" in the namespace "team-a"'),
        ]:
            r = http.get(url, headers=headers, timeout=5)
            assert (r.status_code, r.json()["message"]) == (403, message)

    _apply(admin, _role(None, "impersonate-jane", [
        {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["jane"]},
        {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"], "resourceNames": ["devs"]},
    ]), _binding(None, "runner-impersonates", "ClusterRole", "impersonate-jane", [RUNNER_SUBJECT]))
    who = json.loads(sa("auth", "whoami", "--as", "jane", "--as-group", "devs", "-o", "json").stdout)
    assert who["status"]["userInfo"] == {"username": "jane", "groups": ["devs", "system:authenticated"]}
    assert sa("get", "secrets", "--as", "john", check=False).returncode == 1
    with admin_session(cluster, token=token) as http:
        r = http.get(url, headers={"Impersonate-User": "jane", "Impersonate-Group": "admins"}, timeout=5)
        assert r.json()["message"].startswith(
            'groups "admins" is forbidden: User "system:serviceaccount:team-a:runner" cannot impersonate resource "groups"')
        r = http.get(url, headers={"Impersonate-Group": "devs"}, timeout=5)  # a group without a user
        assert r.status_code == 500
    # jane herself holds nothing: the request runs as her, not as the ServiceAccount
    assert sa("auth", "can-i", "get", "secrets", "-n", "team-a", "--as", "jane", check=False).stdout.strip() == "no"


def test_each_impersonate_group_header_is_one_group(cluster: DevCluster, admin: kubernetes.client.ApiClient,
                                                   teams: None, kubectl_as: Callable[[str], Kubectl],
                                                   tmp_path: Path) -> None:
    """kube-apiserver keeps every `Impersonate-Group` (and `Impersonate-Extra-*`) header line as one value:
    a group named "a,b" is one group, checked and granted by that name, never split on the comma."""
    _apply(admin, _role(None, "impersonate-commas", [
        {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["jane"]},
        {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"], "resourceNames": ["a,b", "ops"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["userextras/scopes"], "verbs": ["impersonate"],
         "resourceNames": ["x,y", "z"]},
    ]), _binding(None, "runner-impersonates-commas", "ClusterRole", "impersonate-commas", [RUNNER_SUBJECT]))
    sa = kubectl_as(_token(admin))
    token = _token(admin)
    who = json.loads(sa("auth", "whoami", "--as", "jane", "--as-group", "a,b", "--as-group", "ops", "-o",
                        "json").stdout)
    assert who["status"]["userInfo"] == {"username": "jane", "groups": ["a,b", "ops", "system:authenticated"]}
    # raw HTTP with repeated header lines (this kubectl has no --as-user-extra)
    def review(*lines: tuple[str, str]) -> urllib3.BaseHTTPResponse:
        headers = urllib3.HTTPHeaderDict({"Authorization": f"Bearer {token}", "Impersonate-User": "jane",
                                          "Content-Type": "application/json"})
        for name, value in lines:
            headers.add(name, value)
        with urllib3.PoolManager(ca_certs=str(cluster.ca_file)) as http:
            return http.request("POST", cluster.url + "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                body=b'{"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}',
                                headers=headers, timeout=10)

    answer = review(("Impersonate-Group", "a,b"), ("Impersonate-Extra-Scopes", "x,y"),
                    ("Impersonate-Extra-Scopes", "z"))
    assert answer.status == 201, answer.data
    assert json.loads(answer.data)["status"]["userInfo"] == {
        "username": "jane", "groups": ["a,b", "system:authenticated"], "extra": {"scopes": ["x,y", "z"]}}
    # the groups "a" and "b" are not granted: splitting the header would have been refused
    refused = review(("Impersonate-Group", "a"))
    assert refused.status == 403 and json.loads(refused.data)["message"].startswith('groups "a" is forbidden')
    # tfcontroller's own client (the dashboard impersonating a viewer) sends one header line per group
    write_kubeconfig(tmp_path / "runner.kubeconfig", cluster.url, token, cluster.ca_pem)
    client = KubeClient.load(str(tmp_path / "runner.kubeconfig"))
    try:
        assert whoami(client.impersonating("jane", ("a,b", "ops"))) == UserInfo(
            "jane", "", ("a,b", "ops", "system:authenticated"))
    finally:
        client.close()


# ------------------------------------------------------------------------------------------ escalation
def test_escalation_is_refused_unless_held_or_granted(cluster: DevCluster, admin: kubernetes.client.ApiClient,
                                                      teams: None, tmp_path: Path) -> None:
    _apply(admin, _role("team-a", "rbac-manager", [
        {"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": ["create", "update", "patch", "get"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
    ]), _binding("team-a", "runner-manages", "Role", "rbac-manager", [RUNNER_SUBJECT]))
    rbac = kubernetes.client.RbacAuthorizationV1Api(client_for_token(cluster, tmp_path, _token(admin), "runner"))

    held = _role("team-a", "cm-reader", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])
    rbac.create_namespaced_role("team-a", held)  # every rule is held: allowed
    more = _role("team-a", "cm-writer", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "delete"]},
                                          {"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}])
    with pytest.raises(ApiException) as err:
        rbac.create_namespaced_role("team-a", more)
    status = _status(err.value)
    assert (status["code"], status["reason"], status["details"]) == (403, "Forbidden",
                                                                     {"name": "cm-writer", "group": RBAC, "kind": "roles"})
    assert status["message"] == (
        'roles.rbac.authorization.k8s.io "cm-writer" is forbidden: user "system:serviceaccount:team-a:runner" '
        '(groups=["system:serviceaccounts" "system:serviceaccounts:team-a" "system:authenticated"]) is attempting to '
        'grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["configmaps"], Verbs:["delete"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["*"]}')
    with pytest.raises(ApiException) as err:  # a patch that adds a rule not held: checked on the patched object
        rbac.patch_namespaced_role("cm-reader", "team-a", [
            {"op": "add", "path": "/rules/-", "value": {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}}])
    assert "Resources:[\"pods\"]" in _status(err.value)["message"]

    # bindings: to a role whose rules are held (allowed), to one that is not (refused), then with `bind`
    subject = [{"kind": "User", "name": "jane"}]
    rbac.create_namespaced_role_binding("team-a", _binding("team-a", "jane-cm", "Role", "cm-reader", subject))
    with pytest.raises(ApiException) as err:
        rbac.create_namespaced_role_binding("team-a", _binding("team-a", "jane-admin", "ClusterRole", "admin", subject))
    assert _status(err.value)["message"].startswith(
        'rolebindings.rbac.authorization.k8s.io "jane-admin" is forbidden: user "system:serviceaccount:team-a:runner"')
    with pytest.raises(ApiException) as err:
        rbac.create_namespaced_role_binding("team-a", _binding("team-a", "jane-view", "ClusterRole", "view", subject))
    _apply(admin, _role(None, "bind-view", [{"apiGroups": [RBAC], "resources": ["clusterroles"], "verbs": ["bind"],
                                             "resourceNames": ["view"]}]),
           _binding("team-a", "runner-binds-view", "ClusterRole", "bind-view", [RUNNER_SUBJECT]))
    rbac.create_namespaced_role_binding("team-a", _binding("team-a", "jane-view", "ClusterRole", "view", subject))
    with pytest.raises(ApiException):  # `bind` names view only
        rbac.create_namespaced_role_binding("team-a", _binding("team-a", "jane-edit", "ClusterRole", "edit", subject))

    # `escalate` lifts the check on roles
    _apply(admin, _role("team-a", "escalator", [{"apiGroups": [RBAC], "resources": ["roles"], "verbs": ["escalate"]}]),
           _binding("team-a", "runner-escalates", "Role", "escalator", [RUNNER_SUBJECT]))
    rbac.create_namespaced_role("team-a", more)


# ------------------------------------------------------------------------------------------ tokens
def test_tokens_are_refused_when_deleted_expired_or_for_another_audience(
        cluster: DevCluster, admin: kubernetes.client.ApiClient, teams: None, tmp_path: Path) -> None:
    core_admin = kubernetes.client.CoreV1Api(admin)

    def can_read(token: str) -> int:
        client = client_for_token(cluster, tmp_path, token, "probe")
        try:
            kubernetes.client.CoreV1Api(client).read_namespaced_secret("creds", "team-a")
            return 200
        except ApiException as exc:
            return int(exc.status)
        finally:
            client.close()

    assert can_read(_token(admin)) == 200
    expired, _ = cluster.tokens.issue("team-a", "runner", now=datetime.now(UTC) - timedelta(hours=2))
    assert can_read(expired) == 401
    vault = _token(admin, audiences=["vault"])
    assert can_read(vault) == 401
    review = kubernetes.client.AuthenticationV1Api(admin).create_token_review(
        {"spec": {"token": vault, "audiences": ["vault"]}})
    assert review.status.authenticated and review.status.user.username == RUNNER and review.status.audiences == ["vault"]
    review = kubernetes.client.AuthenticationV1Api(admin).create_token_review({"spec": {"token": vault}})
    assert not review.status.authenticated and "invalid for the target audiences" in review.status.error

    # a Pod-bound token dies with its Pod
    core_admin.create_namespaced_pod("team-a", {"metadata": {"name": "run"}, "spec": {
        "serviceAccountName": "runner", "containers": [{"name": "c", "image": "busybox"}]}})
    pod_uid = core_admin.read_namespaced_pod("run", "team-a").metadata.uid
    bound = _token(admin, boundObjectRef={"kind": "Pod", "apiVersion": "v1", "name": "run", "uid": pod_uid})
    assert can_read(bound) == 200
    core_admin.delete_namespaced_pod("run", "team-a", grace_period_seconds=0)
    wait_for(lambda: not core_admin.list_namespaced_pod("team-a").items, 30, "the Pod to go")
    assert can_read(bound) == 401

    short = _token(admin, expirationSeconds=600)
    with pytest.raises(ApiException) as err:
        _token(admin, expirationSeconds=60)
    assert err.value.status == 422 and "may not specify a duration less than 10 minutes" in err.value.body
    plain = _token(admin)
    core_admin.delete_namespaced_service_account("runner", "team-a")
    assert can_read(plain) == 401 and can_read(short) == 401
    core_admin.create_namespaced_service_account("team-a", _sa("team-a", "runner"))  # same name, new uid
    assert can_read(plain) == 401
    with pytest.raises(ApiException) as err:
        _token(admin, name="ghost")
    assert err.value.status == 404


# ------------------------------------------------------------------------------------------ aggregation
def test_clusterrole_aggregation(admin: kubernetes.client.ApiClient) -> None:
    rbac = kubernetes.client.RbacAuthorizationV1Api(admin)
    widget_rule = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]}
    role = _role(None, "widgets-view", [widget_rule])
    role["metadata"]["labels"] = {"rbac.authorization.k8s.io/aggregate-to-view": "true"}
    rbac.create_cluster_role(role)

    def rules_of(name: str) -> list[dict[str, Any]]:
        return [admin.sanitize_for_serialization(r) for r in rbac.read_cluster_role(name).rules or []]

    for name in ("view", "edit", "admin"):  # admin ⊇ edit ⊇ view, through the labels of the bootstrap roles
        assert {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]} in rules_of(name)
    assert not any("secrets" in r.get("resources", []) for r in rules_of("view"))
    assert any("secrets" in r.get("resources", []) for r in rules_of("edit"))
    rbac.delete_cluster_role("widgets-view")
    assert all("widgets" not in r.get("resources", []) for r in rules_of("admin"))


# ------------------------------------------------------------------------------------------ restart
def test_credentials_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    """Admin token, CA and ServiceAccount signing key are kept beside the state file: a client configured
    before the restart (the old kubeconfig, a ServiceAccount token) still connects and authenticates."""
    state = tmp_path / "state.json"
    with DevCluster(state_file=state) as first:
        old_kubeconfig = tmp_path / "old.kubeconfig"
        old_kubeconfig.write_text(Path(first.kubeconfig).read_text())
        port = first.port
        with kubernetes.config.new_client_from_config(config_file=str(old_kubeconfig)) as admin:
            _apply(admin, _sa("default", "keeper"))
            token = _token(admin, ns="default", name="keeper")
    auth_dir = tmp_path / "state.json.auth"
    assert sorted(p.name for p in auth_dir.iterdir()) == ["admin-token", "ca.crt", "sa.key", "server.crt", "server.key"]
    assert all(auth_dir.joinpath(n).stat().st_mode & 0o077 == 0 for n in ("admin-token", "sa.key", "server.key"))
    with DevCluster(port=port, state_file=state) as second:
        with kubernetes.config.new_client_from_config(config_file=str(old_kubeconfig)) as admin:
            review = kubernetes.client.AuthenticationV1Api(admin).create_token_review({"spec": {"token": token}})
            assert review.status.authenticated and review.status.user.username == "system:serviceaccount:default:keeper"
        assert second.token == Path(auth_dir / "admin-token").read_text()


def test_every_namespace_has_a_default_service_account(admin: kubernetes.client.ApiClient,
                                                       kubectl_as: Callable[[str], Kubectl],
                                                       cluster: DevCluster) -> None:
    core = kubernetes.client.CoreV1Api(admin)
    names = lambda ns: [sa.metadata.name for sa in core.list_namespaced_service_account(ns).items]  # noqa: E731
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert names(ns) == ["default"], ns
    core.create_namespace({"metadata": {"name": "fresh"}})
    assert names("fresh") == ["default"]
    kubectl_as(cluster.token)("apply", "-f", "-", stdin=json.dumps(_ns("applied")))  # created by a patch
    assert names("applied") == ["default"]
    core.delete_namespaced_service_account("default", "fresh")
    assert names("fresh") == ["default"]  # made again, as the ServiceAccount controller does
    token = _token(admin, ns="fresh", name="default")
    review = kubernetes.client.AuthenticationV1Api(admin).create_token_review({"spec": {"token": token}})
    assert review.status.user.username == "system:serviceaccount:fresh:default"


def test_access_reviews_through_the_python_client(cluster: DevCluster, admin: kubernetes.client.ApiClient,
                                                  teams: None, tmp_path: Path) -> None:
    authz = kubernetes.client.AuthorizationV1Api(admin)
    attrs = {"verb": "get", "resource": "secrets", "name": "creds"}
    local = authz.create_namespaced_local_subject_access_review("team-a", {
        "metadata": {"namespace": "team-a"},
        "spec": {"user": RUNNER, "groups": ["system:serviceaccounts"], "resourceAttributes": attrs}})
    assert local.status.allowed and local.status.reason == (
        'RBAC: allowed by RoleBinding "runner-reads/team-a" of Role "secret-reader" to ServiceAccount "runner/team-a"')
    with pytest.raises(ApiException) as err:  # a local review may not look into another namespace
        authz.create_namespaced_local_subject_access_review("team-a", {
            "metadata": {"namespace": "team-a"},
            "spec": {"user": RUNNER, "resourceAttributes": {**attrs, "namespace": "team-b"}}})
    assert err.value.status == 422
    sar = authz.create_subject_access_review({"spec": {"user": RUNNER, "resourceAttributes": {**attrs, "namespace": "team-b"}}})
    assert sar.status.allowed is False and not sar.status.reason

    sa_authz = kubernetes.client.AuthorizationV1Api(client_for_token(cluster, tmp_path, _token(admin), "runner"))
    review = sa_authz.create_self_subject_rules_review({"spec": {"namespace": "team-a"}})
    rules = admin.sanitize_for_serialization(review.status)
    assert {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"]} in rules["resourceRules"]
    assert any("/api" in r["nonResourceURLs"] for r in rules["nonResourceRules"])
    assert rules["incomplete"] is False
    with pytest.raises(ApiException) as err:  # reviewing others needs more than system:basic-user
        sa_authz.create_subject_access_review({"spec": {"user": "jane", "resourceAttributes": attrs}})
    assert err.value.status == 403
