"""A Pod acts as its ServiceAccount: the kube-api-access projected volume (bound token, ca.crt of the
dev cluster's CA, namespace) and the KUBERNETES_SERVICE_* variables make in-cluster config work, so the
real kubectl and Terraform's `kubernetes` backend (`in_cluster_config = true`) inside a Pod reach the
dev cluster with the Pod's identity, and RBAC decides what they may do."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from tests.integration.dev.node.conftest import logs, logs_so_far, pod, wait_phase
from tfcontroller.dev.cluster import DevCluster

RBAC = "rbac.authorization.k8s.io"


def _namespace(core: kubernetes.client.CoreV1Api, name: str) -> None:
    core.create_namespace({"metadata": {"name": name}})


def _grant(rbac: kubernetes.client.RbacAuthorizationV1Api, namespace: str, account: str,
           rules: list[dict[str, Any]]) -> None:
    rbac.create_namespaced_role(namespace, {"metadata": {"name": account}, "rules": rules})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": account},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": account},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]})


@pytest.fixture
def rbac(node_cluster: DevCluster) -> Any:
    from tests.fixtures.devcluster import api_client_for

    client = api_client_for(node_cluster)
    yield kubernetes.client.RbacAuthorizationV1Api(client)
    client.close()


def test_the_pod_gets_its_token_ca_and_namespace(node_cluster: DevCluster, core: kubernetes.client.CoreV1Api) -> None:
    _namespace(core, "team-a")
    script = ("d=/var/run/secrets/kubernetes.io/serviceaccount; cat $d/namespace; echo; cat $d/ca.crt; "
              "cut -d. -f2 $d/token | tr '_-' '/+' | base64 -d 2>/dev/null | grep -o '\"sub\":\"[^\"]*\"'; "
              "touch $d/x 2>/dev/null || echo read-only")
    core.create_namespaced_pod("team-a", pod("ident", script))
    p = wait_phase(core, "ident", ("Succeeded",), namespace="team-a")
    out = logs(core, "ident", "team-a")
    assert out.startswith("team-a\n")
    assert node_cluster.ca_pem is not None and node_cluster.ca_pem.decode().strip() in out
    assert '"sub":"system:serviceaccount:team-a:default"' in out and out.rstrip().endswith("read-only")
    assert p.spec.service_account_name == "default"
    assert any(v.name.startswith("kube-api-access-") for v in p.spec.volumes)
    assert core.read_namespaced_service_account("default", "team-a").metadata.name == "default"


def test_automount_false_and_a_missing_service_account(core: kubernetes.client.CoreV1Api) -> None:
    spec = pod("notoken", "ls /var/run/secrets 2>&1 || echo none", automountServiceAccountToken=False)
    core.create_namespaced_pod("default", spec)
    wait_phase(core, "notoken", ("Succeeded",))
    assert "none" in logs(core, "notoken")
    with pytest.raises(kubernetes.client.ApiException) as refused:
        core.create_namespaced_pod("default", pod("ghost", "true", serviceAccountName="ghost"))
    assert refused.value.status == 403
    assert 'error looking up service account default/ghost: serviceaccount \\"ghost\\" not found' in refused.value.body


def test_kubectl_in_a_pod_may_read_secrets_in_its_namespace_only(
    core: kubernetes.client.CoreV1Api, rbac: kubernetes.client.RbacAuthorizationV1Api
) -> None:
    for name in ("team-a", "team-b"):
        _namespace(core, name)
        core.create_namespaced_secret(name, {"metadata": {"name": f"{name}-secret"}, "stringData": {"k": "v"}})
    core.create_namespaced_service_account("team-a", {"metadata": {"name": "reader"}})
    _grant(rbac, "team-a", "reader", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}])
    script = ("kubectl get secrets -o name; echo rc=$?; "
              "kubectl get secrets -n team-b -o name 2>&1; echo rc=$?")
    core.create_namespaced_pod("team-a", pod("kubectl", script, serviceAccountName="reader"))
    wait_phase(core, "kubectl", ("Succeeded",), namespace="team-a")
    out = logs(core, "kubectl", "team-a")
    assert "secret/team-a-secret\nrc=0\n" in out
    assert ('Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:team-a:reader" '
            'cannot list resource "secrets" in API group "" in the namespace "team-b"') in out
    assert out.rstrip().endswith("rc=1")


MAIN_TF = """
terraform {
  backend "kubernetes" {
    secret_suffix     = "pod"
    namespace         = "team-a"
    in_cluster_config = true
  }
}

resource "terraform_data" "this" {
  input = "from-a-pod"
}
"""


def _terraform_pod(account: str) -> dict[str, Any]:
    script = ("mkdir /tmp/w && cp /module/main.tf /tmp/w/ && cd /tmp/w && "
              "terraform init -input=false -no-color && terraform apply -auto-approve -input=false -no-color")
    return pod("terraform", script, serviceAccountName=account,
               volumes=[{"name": "module", "configMap": {"name": "module"}}],
               container={"volumeMounts": [{"name": "module", "mountPath": "/module"}],
                          "env": [{"name": "HOME", "value": "/tmp"}, {"name": "TF_IN_AUTOMATION", "value": "1"},
                                  {"name": "CHECKPOINT_DISABLE", "value": "1"}]})


def test_terraform_in_a_pod_keeps_its_state_in_its_namespace_with_rbac(
    core: kubernetes.client.CoreV1Api, rbac: kubernetes.client.RbacAuthorizationV1Api
) -> None:
    _namespace(core, "team-a")
    core.create_namespaced_config_map("team-a", {"metadata": {"name": "module"}, "data": {"main.tf": MAIN_TF}})
    core.create_namespaced_service_account("team-a", {"metadata": {"name": "runner"}})
    _grant(rbac, "team-a", "runner", [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "update", "patch", "delete"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "verbs": ["get", "list", "create", "update", "patch", "delete"]},
    ])
    core.create_namespaced_pod("team-a", _terraform_pod("runner"))
    p = wait_phase(core, "terraform", ("Succeeded", "Failed"), timeout=120, namespace="team-a")
    out = logs(core, "terraform", "team-a")
    assert p.status.phase == "Succeeded", out
    assert "Apply complete! Resources: 1 added" in out
    state = core.read_namespaced_secret("tfstate-default-pod", "team-a")
    assert state.metadata.labels.get("app.kubernetes.io/managed-by") == "terraform"
    coordination = kubernetes.client.CoordinationV1Api(core.api_client)
    assert coordination.read_namespaced_lease("lock-tfstate-default-pod", "team-a").metadata.name


def test_terraform_in_a_pod_without_rbac_on_secrets_fails_with_a_permission_error(
    core: kubernetes.client.CoreV1Api,
) -> None:
    _namespace(core, "team-a")
    core.create_namespaced_config_map("team-a", {"metadata": {"name": "module"}, "data": {"main.tf": MAIN_TF}})
    core.create_namespaced_service_account("team-a", {"metadata": {"name": "nobody"}})
    core.create_namespaced_pod("team-a", _terraform_pod("nobody"))
    p = wait_phase(core, "terraform", ("Succeeded", "Failed"), timeout=120, namespace="team-a")
    out = logs(core, "terraform", "team-a")
    assert p.status.phase == "Failed", out
    assert 'User "system:serviceaccount:team-a:nobody" cannot' in out and '"secrets"' in out, out
    assert not core.list_namespaced_secret("team-a").items


def test_a_projected_token_has_its_audience_and_expiry_and_dies_with_its_pod(
    node_cluster: DevCluster, core: kubernetes.client.CoreV1Api
) -> None:
    import base64
    import json

    from tests.fixtures.devcluster import admin_session, api_client_for
    from tests.support.polling import wait_for

    spec = pod("vaulted", "cat /t/vault; echo; exec sleep 300", automountServiceAccountToken=False,
               volumes=[{"name": "t", "projected": {"sources": [
                   {"serviceAccountToken": {"path": "vault", "audience": "vault", "expirationSeconds": 600}}]}}],
               container={"volumeMounts": [{"name": "t", "mountPath": "/t"}]})
    core.create_namespaced_pod("default", spec)
    token = wait_for(lambda: logs_so_far(core, "vaulted").strip(), 15, "the projected token")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["aud"] == ["vault"] and claims["exp"] - claims["iat"] == 600
    assert claims["kubernetes.io"]["pod"]["name"] == "vaulted"
    client = api_client_for(node_cluster)
    auth = kubernetes.client.AuthenticationV1Api(client)

    def review() -> Any:
        return auth.create_token_review({"spec": {"token": token, "audiences": ["vault"]}}).status

    status = review()
    assert status.authenticated and status.user.username == "system:serviceaccount:default:default"
    assert status.user.extra["authentication.kubernetes.io/pod-name"] == ["vaulted"]
    # not for the API server's own audience
    assert admin_session(node_cluster, token).get(f"{node_cluster.url}/api").status_code == 401
    core.delete_namespaced_pod("vaulted", "default", grace_period_seconds=0)
    wait_for(lambda: not core.list_namespaced_pod("default").items, 15, "the Pod to go")
    assert not review().authenticated  # a token bound to a deleted Pod stops working
    client.close()
