"""Who a local run is towards the API server (issue 15; controllers/terraform/credentials.py): with no
runner ServiceAccount in the object's namespace, the controller's own identity, said once per namespace
in the log; once `tfcontroller tenant add NS` created it, a short-lived token of that ServiceAccount, so the
tenant namespace's RBAC decides. The module asks the API server itself (`kubectl auth whoami` with the
kubeconfig its run was given) and reports the answer to the test over 127.0.0.1 (tests/support/holds.py).
A controller configured in-cluster writes the same kubeconfig from its in-cluster configuration."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tests.support.holds import HoldServer
from tests.support.paths import REPO_ROOT
from tests.support.terraform_helpers import Harness, ready_reason
from tfcontroller.controllers.terraform.credentials import RunCredentials, kubeconfig_path, token_seconds
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.kube.resources import NAMESPACES, SERVICEACCOUNTS, Resource
from tfcontroller.terraform.sandbox import runner_kubeconfig

RUNNER_SA = "tfcontroller-runner"
ROLES = Resource("rbac.authorization.k8s.io/v1", "Role", "roles")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")

MODULE = """
variable "report" { type = string }
variable "kubeconfig" { type = string }
variable "round" { type = string }
resource "terraform_data" "who" {
  triggers_replace = var.round
  provisioner "local-exec" {
    command = "curl -sf -m 5 -X POST \\"${var.report}/$(kubectl --kubeconfig '${var.kubeconfig}' auth whoami -o jsonpath='{.status.userInfo.username}')\\""
  }
}
"""


def _remove_tenant(kube: KubeClient) -> None:
    for resource in (ROLEBINDINGS, ROLES, SERVICEACCOUNTS):
        try:
            kube.delete(resource, RUNNER_SA, "default")
        except NotFound:
            pass


def _token_lifetime(kubeconfig: Path) -> int:
    token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return int(claims["exp"]) - int(claims["iat"])


def test_a_local_run_is_the_runner_service_account_when_the_namespace_has_one(
        harness: Harness, kube: KubeClient, git_file_remote, holds: HoldServer, runner_mode: str,
        caplog: pytest.LogCaptureFixture) -> None:
    if runner_mode != "local":
        pytest.skip("the identity of a local run; pod mode's runner Pods carry their own token")
    _remove_tenant(kube)
    who = holds.counter()
    path = kubeconfig_path(harness.options.work_dir, "default/app")
    seen = runner_kubeconfig(path, harness.options.runner_sandbox)  # where the run finds it
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": MODULE}))
    variables = [{"name": "report", "value": who.url}, {"name": "kubeconfig", "value": seen}]
    harness.create("app", timeout="5m", vars=[*variables, {"name": "round", "value": "1"}])
    try:
        with caplog.at_level(logging.INFO, logger="tfcontroller.controllers.terraform.credentials"):
            harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")
        controller_user = who.names()
        assert len(controller_user) == 1 and RUNNER_SA not in controller_user[0], controller_user
        told = [r.getMessage() for r in caplog.records if "use the controller's own identity" in r.getMessage()]
        assert len(told) == 1 and "namespace default" in told[0], told  # once, for a plan and an apply run

        done = subprocess.run([sys.executable, "-m", "tfcontroller", "tenant", "add", "default", "--apply",
                               "--kubeconfig", harness.kubeconfig], capture_output=True, text=True, timeout=120,
                              cwd=REPO_ROOT)
        assert done.returncode == 0, done.stderr
        harness.patch("app", {"spec": {"vars": [*variables, {"name": "round", "value": "2"}]}})
        harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded"
                                and o["status"].get("lastAppliedInputsDigest") == o["status"].get("inputsDigest"),
                                what="the apply as the runner ServiceAccount")
        assert who.names()[1:] == [f"system:serviceaccount:default:{RUNNER_SA}"]
        assert _token_lifetime(path) == token_seconds(300, harness.options.terraform.timeouts.grace)
        assert path.stat().st_mode & 0o077 == 0
    finally:
        _remove_tenant(kube)


def test_an_in_cluster_controller_gives_its_runs_a_kubeconfig_without_one_of_its_own(
        kube: KubeClient, dev_cluster: DevCluster, tmp_path: Path) -> None:
    """`--runner=local` needs no `--kubeconfig`: a controller configured in-cluster (the kubernetes
    library's in-cluster loader, here over the dev cluster's CA and admin token as the mounted
    ServiceAccount files) writes the run's kubeconfig from that configuration, every value inline, and the
    run reaches the API server with it. (Without a runner ServiceAccount: the controller's token.)"""
    from kubernetes import client as k8s_client
    from kubernetes.config.incluster_config import InClusterConfigLoader

    admin = yaml.safe_load(Path(dev_cluster.kubeconfig).read_text())
    cluster, user = admin["clusters"][0]["cluster"], admin["users"][0]["user"]
    token_file, ca_file = tmp_path / "sa" / "token", tmp_path / "sa" / "ca.crt"
    token_file.parent.mkdir()
    token_file.write_text(user["token"])
    ca_file.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    server = urlparse(cluster["server"])
    configuration = k8s_client.Configuration()
    InClusterConfigLoader(str(token_file), str(ca_file), environ={
        "KUBERNETES_SERVICE_HOST": server.hostname or "", "KUBERNETES_SERVICE_PORT": str(server.port)},
    ).load_and_set(configuration)
    in_cluster = KubeClient(configuration)

    path = RunCredentials(in_cluster, tmp_path / "work").run_kubeconfig("default", "default/x", "no-such-account",
                                                                       600)
    written = yaml.safe_load(path.read_text())
    assert written["users"][0]["user"] == {"token": user["token"]}  # the controller's: no runner account here
    assert "certificate-authority-data" in written["clusters"][0]["cluster"]
    assert str(tmp_path / "sa") not in path.read_text()  # nothing points at the controller's files
    as_run = KubeClient.load(str(path), static=True)
    try:
        assert as_run.get(NAMESPACES, "default")["metadata"]["name"] == "default"
    finally:
        as_run.close()
