"""A write that creates needs `create`, whatever its verb, as on kube-apiserver 1.32: a server-side apply
(PATCH) of a missing object and a PUT of a missing object of a kind that allows create on update are
authorised a second time as `create` on that name (403 `<resource> "<name>" is forbidden: ` with RBAC's
empty reason), while `patch`/`update` alone still change existing objects. Checked with real `kubectl apply
--server-side` and the Python client as a ServiceAccount, namespaced and cluster-scoped, with `resourceNames`
and dry runs; PUT creates only for the kinds whose registry allows it (Leases, Roles, Services...), else
404, and no other patch type ever creates."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from tests.fixtures.devcluster import client_for_token
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig

pytestmark = pytest.mark.timeout(120)

RBAC = "rbac.authorization.k8s.io"
NS = "team-a"
APPLY = "application/apply-patch+yaml"
SUBJECT = {"kind": "ServiceAccount", "name": "deployer", "namespace": NS}


@pytest.fixture
def token(admin: kubernetes.client.ApiClient) -> str:
    """A token of ServiceAccount team-a/deployer, which holds only the roles a test binds to it."""
    core = kubernetes.client.CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": NS}})
    core.create_namespaced_service_account(NS, {"metadata": {"name": "deployer"}})
    resp = core.create_namespaced_service_account_token("deployer", NS, {"spec": {}})
    return str(resp.status.token)


@pytest.fixture
def deployer(cluster: DevCluster, token: str, tmp_path: Path) -> Iterator[kubernetes.client.ApiClient]:
    client = client_for_token(cluster, tmp_path, token, "deployer")
    yield client
    client.close()


@pytest.fixture
def kubectl(cluster: DevCluster, token: str, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """kubectl as the deployer; returns the finished process (never raises on a failure)."""
    path = tmp_path / "kubectl.kubeconfig"
    write_kubeconfig(path, cluster.url, token, cluster.ca_pem)
    env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "kube-cache"), "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", "--kubeconfig", str(path), *args], input=stdin, capture_output=True,
                              text=True, env=env, timeout=60)

    return run


def grant(admin: kubernetes.client.ApiClient, name: str, rule: dict[str, Any], cluster_wide: bool = False) -> None:
    """A Role (or ClusterRole) `name` with one rule, bound to the deployer."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(admin)
    role_ref = {"apiGroup": RBAC, "kind": "ClusterRole" if cluster_wide else "Role", "name": name}
    if cluster_wide:
        rbac.create_cluster_role({"metadata": {"name": name}, "rules": [rule]})
        rbac.create_cluster_role_binding({"metadata": {"name": name}, "roleRef": role_ref, "subjects": [SUBJECT]})
    else:
        rbac.create_namespaced_role(NS, {"metadata": {"name": name}, "rules": [rule]})
        rbac.create_namespaced_role_binding(NS, {"metadata": {"name": name}, "roleRef": role_ref, "subjects": [SUBJECT]})


def configmap(name: str, value: str = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}, "data": {"k": value}}


def status_of(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


def refused(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ApiException) as err:
        call()
    return status_of(err.value)


def forbidden_create(plural: str, name: str, group: str = "") -> dict[str, Any]:
    """kube-apiserver's 403 from the create check of an update or patch: RBAC gives no reason on a denial."""
    qualified = f"{plural}.{group}" if group else plural
    details = {"name": name, "group": group, "kind": plural} if group else {"name": name, "kind": plural}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f'{qualified} "{name}" is forbidden: ', "reason": "Forbidden", "details": details, "code": 403}


def cm_exists(admin: kubernetes.client.ApiClient, name: str) -> bool:
    try:
        kubernetes.client.CoreV1Api(admin).read_namespaced_config_map(name, NS)
    except ApiException as exc:
        assert exc.status == 404
        return False
    return True


# ------------------------------------------------------------------------------ server-side apply
def test_kubectl_server_side_apply_needs_create_to_create(admin: kubernetes.client.ApiClient,
                                                          kubectl: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    grant(admin, "patcher", {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["patch"]})
    doc = json.dumps(configmap("app"))

    only_patch = kubectl("apply", "--server-side", "-f", "-", stdin=doc)
    assert only_patch.returncode == 1
    assert 'configmaps "app" is forbidden: ' in only_patch.stderr, only_patch.stderr
    assert "cannot patch" not in only_patch.stderr  # the request itself was allowed: only the create was not
    assert not cm_exists(admin, "app")

    grant(admin, "creator", {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]})
    created = kubectl("apply", "--server-side", "-f", "-", stdin=doc)
    assert (created.returncode, created.stdout.strip()) == (0, "configmap/app serverside-applied"), created.stderr
    assert cm_exists(admin, "app")

    # patch alone is enough for an object that exists.
    kubernetes.client.RbacAuthorizationV1Api(admin).delete_namespaced_role_binding("creator", NS)
    changed = kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(configmap("app", "2")))
    assert changed.returncode == 0, changed.stderr
    assert kubernetes.client.CoreV1Api(admin).read_namespaced_config_map("app", NS).data == {"k": "2"}


def test_python_client_apply_as_a_service_account(admin: kubernetes.client.ApiClient,
                                                  deployer: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(deployer)
    grant(admin, "patcher", {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["patch"]})

    def apply(name: str, value: str = "1", **kw: Any) -> Any:
        return core.patch_namespaced_config_map(name, NS, configmap(name, value), field_manager="deployer",
                                                _content_type=APPLY, **kw)

    assert refused(lambda: apply("cm")) == forbidden_create("configmaps", "cm")
    assert refused(lambda: apply("cm", dry_run="All")) == forbidden_create("configmaps", "cm")  # dry runs too
    assert not cm_exists(admin, "cm")

    # The create check names the object: a create grant limited by resourceNames creates that name only.
    grant(admin, "create-one", {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"],
                                "resourceNames": ["cm"]})
    assert refused(lambda: apply("other")) == forbidden_create("configmaps", "other")
    assert apply("cm").data == {"k": "1"}
    assert apply("cm", "2").data == {"k": "2"}  # an existing object: patch suffices

    # Bad input is still reported as such before the create check, as kube-apiserver validates first.
    bad = {**configmap("Bad_Name")}
    err = refused(lambda: core.patch_namespaced_config_map("Bad_Name", NS, bad, field_manager="deployer",
                                                           _content_type=APPLY))
    assert err["code"] == 422, err


def test_cluster_scoped_apply_needs_create(admin: kubernetes.client.ApiClient,
                                           deployer: kubernetes.client.ApiClient) -> None:
    grant(admin, "ns-patcher", {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["patch"]}, cluster_wide=True)
    core = kubernetes.client.CoreV1Api(deployer)
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh", "labels": {"a": "b"}}}
    assert refused(lambda: core.patch_namespace("fresh", body, field_manager="deployer", _content_type=APPLY)) == \
        forbidden_create("namespaces", "fresh")
    # An existing namespace is patched with patch alone.
    assert core.patch_namespace(NS, {**body, "metadata": {"name": NS, "labels": {"a": "b"}}}, field_manager="deployer",
                                _content_type=APPLY).metadata.labels["a"] == "b"


def test_other_patch_types_never_create(admin: kubernetes.client.ApiClient) -> None:
    """Only apply creates on PATCH, even for kinds that allow create on update and for system:masters."""
    core = kubernetes.client.CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": NS}})
    svc = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    for content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        err = refused(lambda ct=content_type: core.patch_namespaced_service("web", NS, svc, _content_type=ct))
        assert (err["code"], err["message"]) == (404, 'services "web" not found')


# ------------------------------------------------------------------------------ PUT
def test_put_creates_only_where_the_kind_allows_it_and_needs_create(admin: kubernetes.client.ApiClient,
                                                                    deployer: kubernetes.client.ApiClient) -> None:
    coordination = kubernetes.client.CoordinationV1Api(deployer)
    grant(admin, "lease-updater", {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["update"]})
    lease = {"metadata": {"name": "lock"}, "spec": {"holderIdentity": "me"}}
    assert refused(lambda: coordination.replace_namespaced_lease("lock", NS, lease)) == \
        forbidden_create("leases", "lock", "coordination.k8s.io")

    grant(admin, "lease-creator", {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]})
    created, code, _ = coordination.replace_namespaced_lease_with_http_info("lock", NS, lease)
    assert (code, created.spec.holder_identity) == (201, "me")
    assert created.metadata.uid and created.metadata.resource_version
    lease["metadata"]["resourceVersion"] = created.metadata.resource_version
    lease["spec"]["holderIdentity"] = "you"
    updated, code, _ = coordination.replace_namespaced_lease_with_http_info("lock", NS, lease)
    assert (code, updated.spec.holder_identity) == (200, "you")

    # Kinds whose registry allows create on update: a PUT creates them (here as system:masters).
    rbac = kubernetes.client.RbacAuthorizationV1Api(admin)
    _, code, _ = rbac.replace_namespaced_role_with_http_info("r", NS, {"metadata": {"name": "r"}, "rules": []})
    assert code == 201
    core_admin = kubernetes.client.CoreV1Api(admin)
    _, code, _ = core_admin.replace_namespaced_service_with_http_info(
        "web", NS, {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    assert code == 201
    # ... others answer 404, whoever asks and whatever resourceVersion is sent.
    for call in (lambda: core_admin.replace_namespaced_config_map("c", NS, {"metadata": {"name": "c"}}),
                 lambda: core_admin.replace_namespaced_secret("s", NS, {"metadata": {"name": "s"}}),
                 lambda: kubernetes.client.AppsV1Api(admin).replace_namespaced_deployment("d", NS, {
                     "metadata": {"name": "d", "resourceVersion": "5"}, "spec": {
                         "selector": {"matchLabels": {"a": "b"}},
                         "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                             {"name": "c", "image": "x"}]}}}})):
        assert refused(call)["code"] == 404
