"""The Terraform controller in every runner mode (issue 15; RUNNER_MODES, tests/fixtures/controllers.py):
the same object — a variable from a Secret (`varsFrom`), a plain one, outputs to a Secret — applies the
same way, and a file of the controller's (here, one beside its work directory) does not exist for the
module (the sandbox of local mode, another Pod in pod mode). (`--runner=inprocess`, where it did, is a
usage error now: tests/e2e/test_run_command.py.)"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.terraform_helpers import Harness, ready_reason
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


@pytest.mark.runner_modes
def test_apply_through_the_runner(kube: KubeClient, harness: Harness, tmp_path: Path, git_file_remote,
                                  caplog: pytest.LogCaptureFixture, runner_mode: str) -> None:
    if runner_mode == "local" and probe() is not None:
        pytest.skip(f"no sandbox here: {probe()}")
    controller_file = tmp_path / "controller-private.txt"
    controller_file.write_text("the controller's")
    kube.create(SECRETS, {"metadata": {"name": "greeting"}, "stringData": {"greeting": "bonjour"}}, "default")
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"tf/main.tf": MODULE}))
    harness.create("app", path="./tf", varsFrom=[{"kind": "Secret", "name": "greeting"}],
                   vars=[{"name": "controller_file", "value": str(controller_file)}],
                   writeOutputsToSecret={"name": "app-outputs"})
    with caplog.at_level(logging.INFO, logger="tfcontroller.terraform.protocol_runner"):
        obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    assert obj["status"]["availableOutputs"] == ["controller_file_visible", "greeting"]
    outputs = harness.secret("app-outputs")
    assert outputs is not None and outputs["greeting"] == "bonjour"
    assert outputs["controller_file_visible"] == "false"
    assert "bonjour" not in caplog.text  # the runner's log lines are scrubbed of the Secret's value
    runs = [r.getMessage() for r in caplog.records if "runner operation=" in r.getMessage()]
    if runner_mode == "local":
        assert [r.split()[1] for r in runs] == ["operation=plan", "operation=apply"], runs

