"""The Terraform controller in every runner mode (issue 15): `local` (each command by `tfcontroller runner
run` through the run protocol, sandboxed) and `pod` (each command in a runner Pod on the dev cluster's node,
as the namespace's runner ServiceAccount): the same object — a variable from a Secret (`varsFrom`), a plain
one, outputs to a Secret — applies the same way, and a file of the controller's (here, one beside its work
directory) does not exist for the module (the sandbox of local mode, another Pod in pod mode).
(`--runner=inprocess`, where it did, is a usage error now: tests/e2e/test_run_command.py.)"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.terraform_helpers import Harness, ready_reason
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import SECRETS
from tfcontroller.terraform.sandbox import probe

MODULE = """
variable "greeting" { type = string }
variable "controller_file" { type = string }
resource "terraform_data" "this" {
  input = var.greeting
}
output "greeting" { value = terraform_data.this.output }
output "controller_file_visible" { value = fileexists(var.controller_file) }
"""


@pytest.mark.parametrize("mode", ["local", "pod"])
def test_apply_through_either_runner(kube: KubeClient, dev_cluster: DevCluster, tmp_path: Path, git_file_remote,
                                     caplog: pytest.LogCaptureFixture, mode: str) -> None:
    if mode == "local" and probe() is not None:
        pytest.skip(f"no sandbox here: {probe()}")
    harness = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode=mode)
    try:
        _apply(harness, kube, tmp_path, git_file_remote, caplog, mode)
    finally:
        harness.close()


def _apply(harness: Harness, kube: KubeClient, tmp_path: Path, git_file_remote, caplog: pytest.LogCaptureFixture,
           mode: str) -> None:
    controller_file = tmp_path / "controller-private.txt"
    controller_file.write_text("the controller's")
    kube.create(SECRETS, {"metadata": {"name": "greeting"}, "stringData": {"greeting": "bonjour"}}, "default")
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"tf/main.tf": MODULE}))
    harness.create("app", path="./tf", varsFrom=[{"kind": "Secret", "name": "greeting"}],
                   vars=[{"name": "controller_file", "value": str(controller_file)}],
                   writeOutputsToSecret={"name": "app-outputs"})
    with caplog.at_level(logging.INFO, logger="tfcontroller.terraform"):
        obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", timeout=120,
                                      what="apply")
    assert obj["status"]["availableOutputs"] == ["controller_file_visible", "greeting"]
    outputs = harness.secret("app-outputs")
    assert outputs is not None and outputs["greeting"] == "bonjour"
    assert outputs["controller_file_visible"] == "false"
    assert "bonjour" not in caplog.text  # the runner's log lines are scrubbed of the Secret's value
    runs = [r.getMessage() for r in caplog.records if "runner operation=" in r.getMessage()]
    pods = [r.getMessage().split()[2] for r in caplog.records if r.getMessage().startswith("runner pod=")]
    assert pods == (["operation=plan", "operation=apply"] if mode == "pod" else []), pods
    if mode == "local":
        assert [r.split()[1] for r in runs] == ["operation=plan", "operation=apply"], runs
        # auto-approved: one runner process served both (issue 21), the plan's kept for its apply
        assert "held for its apply" in runs[0], runs
        assert any("the apply handed over to the plan's runner" in r.getMessage() for r in caplog.records)

