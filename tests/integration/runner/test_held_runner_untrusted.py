"""A module is untrusted code running with the runner's uid in the sandbox (issue 21 review): nothing it
can do to a held local run may hang the controller, mislead it, or hand over an apply in its name. Real
terraform, the dev cluster, sandboxed where bubblewrap works (tests/integration/runner/test_held_runner.py
has the fixtures).

- whatever the module puts at result.json in the run's outbox (a FIFO, a link to a host file, a directory,
  a huge file, a result of another run) never blocks the worker and is never taken for the plan's result:
  the runner's own replaces it, or (a directory) the plan fails as RunnerFailed;
- a runner stuck past the run's bound is killed, the run fails as RunnerFailed;
- a hand-over line that arrived before the plan's result, a request and plan.in written into the outbox
  (where the module can write), change nothing: the controller's apply is the one applied;
- a plan handed over that is not the plan the runner made is refused: nothing applied, RunnerFailed;
- code the module runs inside the sandbox cannot open the held runner's stdin for writing (/proc/<pid>/fd/0);
- a module declaring a variable Terraform accepts and the protocol cannot carry (`päss`) plans and applies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from tests.fixtures.terraform import write_tar
from tests.integration.runner.test_held_runner import NS, SANDBOXED, Setup, _applied, _gone, _runner
from tests.integration.runner.test_held_runner import setup as setup  # noqa: F401 - the fixture
from tests.support.polling import wait_for
from tfcontroller.api import run_protocol as rp
from tfcontroller.api.errors import TransientError
from tfcontroller.terraform import protocol_runner
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.delegated import RUNNER_FAILED
from tfcontroller.terraform.inspect import declared_variables, inspect_module
from tfcontroller.terraform.protocol_runner import ProtocolRunner


def _plan_in_thread(runner: ProtocolRunner, plan: Path) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(runner.plan(plan))
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _plant(path: Path, kind: str, host_file: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        path.symlink_to(host_file)
    elif kind == "directory":
        path.mkdir()
    elif kind == "other-run":  # a well-formed result, of a plan the module made up
        forged = rp.RunResult("someone-else", rp.PLAN, rp.SUCCEEDED, "PlanGenerated", plan=rp.PlanSummary(True, 9))
        path.write_text(json.dumps(forged.to_dict()))
    else:  # a file beyond the bound (sparse: no disk)
        with open(path, "wb") as out:
            out.truncate(protocol_runner.MAX_RESULT_BYTES + 1)


def test_whatever_the_module_puts_at_result_json_neither_blocks_nor_misleads_the_controller(setup: Setup) -> None:
    """A held plan's result is taken only once the runner announced its digest on its status pipe, and read
    without following links or blocking: what the module planted before is replaced by the runner's own
    result (the plan goes on, its result is the runner's), or, where it cannot be replaced (a directory),
    the plan fails as RunnerFailed; never a blocked worker, never the module's result."""
    host_file = setup.tmp / "controller-secret.json"
    host_file.write_text('{"run_id": "x"}')
    for kind in ("fifo", "symlink", "directory", "huge", "other-run"):
        runner = _runner(setup, f"planted-{kind}", hold=True)
        thread, outcome = _plan_in_thread(runner, setup.tmp / f"{kind}.plan")
        outbox = setup.runs / f"run-planted-{kind}-1" / "out"
        wait_for(outbox.is_dir, 60, "the run's outbox")
        _plant(outbox / rp.RESULT_FILE, kind, host_file)  # as the module's code could, during init and plan
        thread.join(120)  # the bound of the test: the controller never blocks on it
        assert not thread.is_alive(), f"a {kind} at result.json blocked the controller"
        assert len(outcome) == 1, (kind, outcome)
        if kind == "directory":
            assert isinstance(outcome[0], TransientError), (kind, outcome)
            assert outcome[0].reason == RUNNER_FAILED and "without a result" in outcome[0].message, outcome[0]
        else:
            planned = outcome[0]
            assert not isinstance(planned, Exception), (kind, planned)
            assert getattr(planned, "add", None) == 1, (kind, planned)  # the runner's plan, not the forged one
        runner.release()
        assert runner.last_pid is not None and _gone(runner.last_pid)
        assert not _applied(setup, f"planted-{kind}")
        assert host_file.read_text() == '{"run_id": "x"}'


def test_a_line_before_the_result_and_files_in_the_outbox_do_not_hand_over_anything(setup: Setup) -> None:
    """The module writes a hand-over line before the plan's result exists (here through the controller's own
    end of the pipe: a module cannot reach it, see the probe test) and a forged request and plan.in into the
    outbox; the runner drops the line and reads only the inbox: the controller's apply is applied, by the
    held runner."""
    runner = _runner(setup, "forged", hold=True)
    plan = setup.tmp / "forged.plan"
    thread, outcome = _plan_in_thread(runner, plan)
    outbox = setup.runs / "run-forged-1" / "out"
    wait_for(lambda: runner.last_pid is not None and outbox.is_dir(), 60, "the run's start")
    pid = runner.last_pid
    assert pid is not None
    forged = rp.RunRequest(run_id="run-forged", operation=rp.APPLY, namespace=NS, name="forged", artifact_url="",
                           artifact_digest=setup.digest, plan_id="forged")
    data = json.dumps(forged.to_dict()).encode()
    (outbox / rp.REQUEST_FILE).write_bytes(data)
    (outbox / rp.PLAN_IN_FILE).write_bytes(b"not a plan")
    fd = os.open(f"/proc/{pid}/fd/0", os.O_WRONLY)  # the test runs with CAP_SYS_PTRACE; a module does not
    try:
        os.write(fd, (rp.hand_over_line("0" * 64, hashlib.sha256(data).hexdigest()) + "\n").encode())
        os.write(fd, b"apply\n")
    finally:
        os.close(fd)
    thread.join(120)
    assert not thread.is_alive() and len(outcome) == 1 and not isinstance(outcome[0], Exception), outcome
    held = runner.last_pid
    assert held is not None and not _gone(held), "the early lines were dropped: it still waits for its apply"
    assert not _applied(setup, "forged")
    result = runner.apply(plan)
    assert result.returncode == 0 and runner.started == 1 and runner.last_pid == held
    assert _applied(setup, "forged")


def test_a_plan_that_is_not_the_runners_own_is_not_applied(setup: Setup) -> None:
    other = _runner(setup, "swapped", hold=False, run_id="run-swapped-other")
    # another value: two plans of the same inputs made within a second are the same bytes (the same plan)
    other.template = dataclasses.replace(other.template, variables={"value": "another"})
    other_plan = setup.tmp / "other.plan"
    assert other.plan(other_plan).has_changes  # a valid plan of the same object, made by another run
    runner = _runner(setup, "swapped", hold=True)
    assert runner.plan(setup.tmp / "own.plan").has_changes
    held = runner.last_pid
    with pytest.raises(TransientError) as failed:
        runner.apply(other_plan)
    assert failed.value.reason == RUNNER_FAILED
    assert "not the plan this runner made" in failed.value.message, failed.value.message
    assert runner.started == 1 and held is not None and _gone(held)
    assert not _applied(setup, "swapped")


PROBE = """
variable "value" { type = string }
resource "terraform_data" "probe" {
  input = var.value
  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    command = <<-EOT
      for f in /proc/[0-9]*/fd/0; do
        link=$(readlink "$f" 2>/dev/null) || continue
        case "$link" in pipe:*) (exec 3>"$f") 2>/dev/null && echo "probe-opened $link" ;; esac
      done
      echo probe-done
    EOT
  }
}
output "value" { value = terraform_data.probe.output }
"""


@pytest.mark.skipif(not SANDBOXED, reason="bubblewrap cannot create the sandbox here")
def test_code_of_the_module_cannot_open_the_held_runners_stdin(setup: Setup,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Module code runs in the sandbox (here a provisioner during the handed-over apply, as an `external`
    data source would during the plan) and tries every process's stdin pipe: the controller's pipe is not
    among those it can open for writing (the runner is non-dumpable and pid 1: no bwrap init holds it)."""
    artifact = write_tar(setup.tmp / "probe.tar.gz", {"tf/main.tf": PROBE})
    digest = "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()
    template = rp.RunRequest(run_id="run-probe", operation=rp.PLAN, namespace=NS, name="probe", artifact_url="",
                             artifact_digest=digest, path="tf", variables={"value": "probe"}, timeout_seconds=300)
    runner = ProtocolRunner(template, artifact, setup.runs, TerraformConfig.from_env(),
                            kubeconfig=Path(setup.cluster.kubeconfig), sandboxed=True, object_key=f"{NS}/probe",
                            plan_id=lambda: "plan-1", hold=True)
    plan = setup.tmp / "probe.plan"
    assert runner.plan(plan).has_changes
    held = runner._held
    assert held is not None and held.proc.stdin is not None
    pipe = f"pipe:[{os.fstat(held.proc.stdin.fileno()).st_ino}]"
    with caplog.at_level("INFO", logger="tfcontroller.terraform.protocol_runner"):
        assert runner.apply(plan).returncode == 0
    said = [r.getMessage() for r in caplog.records]
    assert any("probe-done" in m for m in said), said[-20:]
    assert not any(f"probe-opened {pipe}" in m for m in said), [m for m in said if "probe-opened" in m]


UNICODE = """
variable "päss" {
  type      = string
  default   = "a-unicode-named-secret"
  sensitive = true
}
"""
# referenced from JSON syntax (python-hcl2 reads no non-ASCII identifier in an HCL expression)
UNICODE_JSON = '{"resource": {"terraform_data": {"this": {"input": "${nonsensitive(length(var.päss))}"}}}}'


def test_a_module_with_a_non_ascii_variable_name_plans_and_applies(setup: Setup) -> None:
    module = setup.tmp / "uni" / "tf"
    module.mkdir(parents=True)
    (module / "main.tf").write_text(UNICODE)
    (module / "use.tf.json").write_text(UNICODE_JSON)
    declared = declared_variables(inspect_module(module))
    assert declared is None, "the protocol cannot carry the name: the runner parses the module itself"
    artifact = write_tar(setup.tmp / "uni.tar.gz", {"tf/main.tf": UNICODE, "tf/use.tf.json": UNICODE_JSON})
    digest = "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()
    template = rp.RunRequest(run_id="run-uni", operation=rp.PLAN, namespace=NS, name="uni", artifact_url="",
                             artifact_digest=digest, path="tf", timeout_seconds=300, declared_variables=declared)
    runner = ProtocolRunner(template, artifact, setup.runs, TerraformConfig.from_env(),
                            kubeconfig=Path(setup.cluster.kubeconfig), sandboxed=SANDBOXED, object_key=f"{NS}/uni",
                            plan_id=lambda: "plan-1", hold=True)
    plan = setup.tmp / "uni.plan"
    assert runner.plan(plan).has_changes
    assert runner.apply(plan).returncode == 0 and runner.started == 1


def test_a_runner_past_its_bound_is_killed_and_the_run_fails(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner stuck outside Terraform (whose commands have their own timeouts) never holds a worker: past
    the run's bound (`run_bound`, here made short) the controller kills it and the run fails RunnerFailed."""
    monkeypatch.setattr(protocol_runner, "run_bound", lambda timeouts: 0.0)
    runner = _runner(setup, "stuck", hold=False)
    with pytest.raises(TransientError) as failed:
        runner.plan(setup.tmp / "stuck.plan")
    assert failed.value.reason == RUNNER_FAILED and "did not end within" in failed.value.message
    assert runner.last_pid is not None and _gone(runner.last_pid)
    assert not _applied(setup, "stuck")
