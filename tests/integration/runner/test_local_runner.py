"""The runner (`tfcontroller runner run`, issue 15) started as the controller's local mode starts it
(`terraform.sandbox.start_runner`), against the dev cluster, with real terraform and bubblewrap.

A module probes what a tenant escape looks for: the processes and environments around it (a stand-in
controller process carries a marked variable), the controller's kubeconfig, a ServiceAccount token. The
same probe run unsandboxed must find them (so the probe proves something), sandboxed it finds nothing.
The runner reads `varsFrom` with its own identity (a runner ServiceAccount's token, never the admin's):
a Secret its Role does not grant fails with `VarsGenerationFailed` naming the Secret and the fix, and
every Secret value it read is scrubbed from its log and result. A wrong artifact digest is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.terraform import cluster_serving
from tests.support.polling import wait_for
from tfcontroller.api import run_protocol as rp
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import NAMESPACES, SECRETS, SERVICEACCOUNTS, Resource
from tfcontroller.terraform import processes
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.sandbox import probe, runner_kubeconfig, start_runner
from tfcontroller.terraform.state import read_lock

ROLES = Resource("rbac.authorization.k8s.io/v1", "Role", "roles")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")
NS = "team-a"
RUNNER_SA = "tfcontroller-runner"
SECRET_VALUE = "s3cr3t-value-from-team-a"
CONTROLLER_MARK = "TFC_TEST_CONTROLLER_ENV"
OTHER_NS_VALUE = "team-b-secret-value"

MAIN_TF = """
variable "greeting" { type = string }
variable "secret" {
  type    = string
  default = "none"
}
variable "controller_kubeconfig" { type = string }
variable "runner_kubeconfig" { type = string }

resource "terraform_data" "probe" {
  input = var.greeting
  provisioner "local-exec" {
    command = <<-EOT
      n=0; for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ 2>/dev/null | grep -q '^CONTROLLER_MARK=' && n=$((n+1)); done
      echo "probe-controller-env=$n"
      test -e '${var.controller_kubeconfig}' && echo probe-kubeconfig=visible || echo probe-kubeconfig=absent
      test -e /var/run/secrets/kubernetes.io/serviceaccount/token && echo probe-token=visible || echo probe-token=absent
      echo "probe-secret=${var.secret}"
      echo "probe-team-b-as-controller=$(kubectl --kubeconfig '${var.controller_kubeconfig}' get secret other -n team-b -o jsonpath='{.data.secret}' 2>/dev/null | base64 -d)"
      echo "probe-team-b-as-runner=$(kubectl --kubeconfig ${var.runner_kubeconfig} get secret other -n team-b -o name 2>&1 | grep -c Forbidden)"
    EOT
  }
}
""".replace("CONTROLLER_MARK", CONTROLLER_MARK)

SLOW_TF = """
resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "touch started && sleep 120"
  }
}
"""

pytestmark = pytest.mark.skipif(probe() is not None, reason=f"no sandbox here: {probe()}")


@dataclass
class Setup:
    cluster: DevCluster
    admin: KubeClient
    artifact_url: str
    artifact_digest: str
    runner_kubeconfig: dict[str, Any]
    runner_kubeconfig_path: Path  # one per object (unsandboxed, a plan records the backend's kubeconfig path)


def _add_tenant(cluster: DevCluster) -> None:
    """The runner's ServiceAccount and Role as a user sets them up: `tfcontroller tenant add NS` (the real
    CLI, with the admin's kubeconfig; it creates by default since issue 16). The tests below prove its Role
    sufficient and tight."""
    done = subprocess.run([sys.executable, "-m", "tfcontroller", "tenant", "add", NS,
                           "--kubeconfig", cluster.kubeconfig], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for kind in ("serviceaccount", "role", "rolebinding"):
        assert f"{kind}/{RUNNER_SA} created in {NS}" in lines, lines


def _kubeconfig(cluster: DevCluster, account: str) -> dict[str, Any]:
    """A per-run kubeconfig as the controller would hand it in local mode: a token of the namespace's
    runner ServiceAccount, the CA inline (no path of the controller's)."""
    token, _ = cluster.tokens.issue(NS, account, expiration_seconds=600)
    assert cluster.ca_pem is not None
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "run",
        "clusters": [{"name": "c", "cluster": {"server": cluster.url, "certificate-authority-data":
                                                base64.b64encode(cluster.ca_pem).decode()}}],
        "users": [{"name": "runner", "user": {"token": token}}],
        "contexts": [{"name": "run", "context": {"cluster": "c", "user": "runner", "namespace": NS}}],
    }


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with cluster_serving(tmp_path, {"infra/main.tf": MAIN_TF, "slow/main.tf": SLOW_TF}) as served:
        cluster, admin = served.cluster, served.admin
        for ns in (NS, "team-b"):
            admin.create(NAMESPACES, {"metadata": {"name": ns}})
        admin.create(SECRETS, {"metadata": {"name": "creds"}, "stringData": {"secret": SECRET_VALUE}}, NS)
        admin.create(SECRETS, {"metadata": {"name": "other"}, "stringData": {"secret": OTHER_NS_VALUE}}, "team-b")
        _add_tenant(cluster)
        yield Setup(cluster, admin, served.artifact_url, served.artifact_digest, _kubeconfig(cluster, RUNNER_SA),
                    tmp_path / "runner.kubeconfig")


def _request(s: Setup, run_id: str, operation: str = rp.PLAN, *, sandboxed: bool = True,
             **fields: Any) -> rp.RunRequest:
    base: dict[str, Any] = dict(
        run_id=run_id, operation=operation, namespace=NS, name="probe", artifact_url=s.artifact_url,
        artifact_digest=s.artifact_digest, path="infra",
        variables={"greeting": "hello", "controller_kubeconfig": s.cluster.kubeconfig,
                   # where the run finds its kubeconfig: a fixed path in the sandbox
                   "runner_kubeconfig": runner_kubeconfig(s.runner_kubeconfig_path, sandboxed)},
        vars_from=(rp.ValuesFrom("Secret", "creds"),))
    base.update(fields)
    return rp.RunRequest(**base)


def _start(s: Setup, exchange: Path, request: rp.RunRequest, *, sandboxed: bool,
           plan: bytes | None = None) -> subprocess.Popen[bytes]:
    exchange.mkdir(mode=0o700)
    (exchange / rp.REQUEST_FILE).write_text(json.dumps(request.to_dict()))
    kubeconfig = s.runner_kubeconfig_path
    kubeconfig.write_text(yaml.safe_dump(s.runner_kubeconfig))
    kubeconfig.chmod(0o600)
    if plan is not None:
        (exchange / rp.PLAN_IN_FILE).write_bytes(plan)
    with open(exchange.parent / f"{exchange.name}.log", "wb") as log:
        return start_runner(exchange, TerraformConfig.from_env(), kubeconfig=kubeconfig, sandboxed=sandboxed,
                            log=log)


def _finish(exchange: Path, proc: subprocess.Popen[bytes]) -> tuple[rp.RunResult, str]:
    assert proc.stdin is not None
    try:
        proc.wait(timeout=300)
    finally:
        proc.stdin.close()
    output = (exchange.parent / f"{exchange.name}.log").read_text()
    result_file = exchange / rp.RESULT_FILE
    assert result_file.is_file(), output
    return rp.RunResult.from_dict(json.loads(result_file.read_text())), output


def _run(s: Setup, exchange: Path, request: rp.RunRequest, *, sandboxed: bool,
         plan: bytes | None = None) -> tuple[rp.RunResult, str]:
    return _finish(exchange, _start(s, exchange, request, sandboxed=sandboxed, plan=plan))


@pytest.fixture
def stand_in_controller() -> Iterator[None]:
    """A process of 'the controller' whose environment holds a marked variable, as the real one holds
    its credentials."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                            env={**os.environ, CONTROLLER_MARK: "controller-credential"})
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def _probes(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        _, _, tail = line.partition("probe-")
        if "=" in tail and "(local-exec)" in line:
            key, _, value = tail.partition("=")
            found[key] = value.strip()
    return found


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "unsandboxed-control"])
def test_plan_and_apply_see_nothing_of_the_controller_when_sandboxed(
    setup: Setup, tmp_path: Path, stand_in_controller: None, sandboxed: bool
) -> None:
    planned, plan_log = _run(setup, tmp_path / "plan", _request(setup, "run-plan", sandboxed=sandboxed),
                             sandboxed=sandboxed)
    assert planned.succeeded and planned.reason == "PlanGenerated", (planned, plan_log)
    assert planned.plan is not None and (planned.plan.add, planned.plan.change, planned.plan.destroy) == (1, 0, 0)
    plan_file = (tmp_path / "plan" / rp.PLAN_OUT_FILE).read_bytes()
    assert planned.plan.digest == "sha256:" + hashlib.sha256(plan_file).hexdigest()
    assert planned.show is not None and planned.show["resource_changes"][0]["address"] == "terraform_data.probe"

    applied, apply_log = _run(setup, tmp_path / "apply", _request(setup, "run-apply", rp.APPLY, plan_id="p1",
                                                                         sandboxed=sandboxed),
                              sandboxed=sandboxed, plan=plan_file)
    assert applied.succeeded and applied.reason == "ApplySucceeded", (applied, apply_log)
    probes = _probes(apply_log)
    if sandboxed:
        assert probes == {"controller-env": "0", "kubeconfig": "absent", "token": "absent", "secret": "***",
                          "team-b-as-controller": "", "team-b-as-runner": "1"}, apply_log
    else:  # the same probe finds the controller when nothing isolates the run: the probe is not blind
        assert probes["controller-env"] != "0" and probes["kubeconfig"] == "visible", apply_log
        assert probes["team-b-as-controller"] == OTHER_NS_VALUE, apply_log
    # the state lives in the object's namespace, written with the runner's identity
    assert setup.admin.get_or_none(SECRETS, "tfstate-default-probe", NS) is not None
    # a value read from a Secret is in no log line and in no field of a result but the plan's own show
    # document, which is plan content: it travels as the plan file does and is stored encrypted with it
    without_show = {**planned.to_dict(), "show": None}
    for text in (plan_log, apply_log, json.dumps(without_show), json.dumps(applied.to_dict())):
        assert SECRET_VALUE not in text


def test_a_secret_the_runner_may_not_read_fails_naming_it(setup: Setup, tmp_path: Path) -> None:
    """A tenant that narrows its runner's Role (here: only Secret `creds`) gets a run that stops at the
    first reference it may not read, with the fix in the message; no value of it anywhere."""
    admin = setup.admin
    admin.create(SECRETS, {"metadata": {"name": "db"}, "stringData": {"password": "not-for-the-runner"}}, NS)
    admin.create(SERVICEACCOUNTS, {"metadata": {"name": "narrow"}}, NS)
    admin.create(ROLES, {"metadata": {"name": "narrow"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["creds"]}]}, NS)
    admin.create(ROLEBINDINGS, {"metadata": {"name": "narrow"},
                                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "narrow"},
                                "subjects": [{"kind": "ServiceAccount", "name": "narrow", "namespace": NS}]}, NS)
    setup.runner_kubeconfig = _kubeconfig(setup.cluster, "narrow")
    request = _request(setup, "run-refused", vars_from=(rp.ValuesFrom("Secret", "creds"), rp.ValuesFrom("Secret", "db")))
    result, output = _run(setup, tmp_path / "x", request, sandboxed=True)
    assert not result.succeeded and result.failure == rp.STALLING, (result, output)
    assert result.reason == "VarsGenerationFailed"
    assert "spec.varsFrom[1]: the runner may not read Secret team-a/db" in result.message
    assert f"system:serviceaccount:{NS}:narrow" in result.message
    assert "grant its ServiceAccount `get` on secrets 'db' in namespace team-a" in result.message
    assert "not-for-the-runner" not in output + result.message and SECRET_VALUE not in output + result.message


@pytest.mark.parametrize("digest", ["sha256:" + "0" * 64, "sha256:" + "f" * 64])
def test_an_artifact_with_another_digest_is_refused(setup: Setup, tmp_path: Path, digest: str) -> None:
    result, output = _run(setup, tmp_path / "x", _request(setup, "run-digest", artifact_digest=digest),
                          sandboxed=True)
    assert not result.succeeded and result.reason == "ArtifactFailed", (result, output)
    assert f"expected {digest}" in result.message and result.failure == rp.TRANSIENT


@pytest.mark.parametrize(("stop", "sandboxed"), [("stdin-eof", True), ("sigterm", False)])
def test_a_stopped_runner_stops_its_apply_gracefully(setup: Setup, tmp_path: Path, stop: str,
                                                     sandboxed: bool) -> None:
    """Local mode's crash rule: the controller holds the runner's stdin; when it dies (here: closes it),
    Terraform is interrupted, saves the state it has and releases its lock. SIGTERM to the runner (how a
    kubelet stops a Pod's PID 1) does the same; it is sent unsandboxed, because bwrap's monitor does not
    forward signals (start_runner's docstring). While it runs, the controller's liveness rule (the run
    marker, through /proc) sees the run, across the sandbox's PID namespace too."""
    planned, output = _run(setup, tmp_path / "plan", _request(setup, "slow-plan", path="slow", vars_from=(),
                                                               variables={}), sandboxed=sandboxed)
    assert planned.succeeded, output
    plan_file = (tmp_path / "plan" / rp.PLAN_OUT_FILE).read_bytes()
    apply = tmp_path / "apply"
    proc = _start(setup, apply, _request(setup, "slow-apply", rp.APPLY, path="slow", vars_from=(), variables={},
                                         plan_id="p1"), sandboxed=sandboxed, plan=plan_file)
    try:
        wait_for(lambda: list(apply.glob("work/*/src/slow/started")), timeout=120, what="the provisioner to start")
        assert processes.run_alive("slow-apply")
        lock = read_lock(setup.admin, NS, "lock-tfstate-default-probe")
        assert lock is not None and lock.operation == "OperationTypeApply"
    finally:
        assert proc.stdin is not None
        if stop == "sigterm":
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.stdin.close()  # as when the controller dies: the pipe's write end is gone
    result, output = _finish(apply, proc)
    assert not result.succeeded and result.reason == "TerraformCancelled", (result, output)
    assert result.failure == rp.TRANSIENT
    assert read_lock(setup.admin, NS, "lock-tfstate-default-probe") is None, "the lock was released"
    assert setup.admin.get_or_none(SECRETS, "tfstate-default-probe", NS) is not None, "the state was saved"
    assert not processes.run_processes("slow-apply"), "nothing of the run is left"
