"""One runner process per reconcile (issue 21): `ProtocolRunner(hold=True)` keeps the plan run's runner
waiting and hands it the apply over its stdin, against the dev cluster with real terraform, sandboxed
where bubblewrap works.

- a plan then an apply are served by one runner process (counted), and the state has the apply;
- a plan whose apply does not come (manual approval, a denied policy, an error: the reconcile ends and
  `release()`s the runner; or `cancel()`) ends its runner without applying; without `hold` the plan's
  runner ends at once;
- a "controller" killed between plan and apply leaves no runner behind and nothing applied, and the plan
  is applied later by a fresh runner (a restarted controller, an approval after it);
- a held runner past the hand-over window is not handed the apply: a fresh apply run does it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.terraform import write_tar
from tests.support.polling import wait_for
from tfcontroller.api import run_protocol as rp
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import NAMESPACES
from tfcontroller.terraform import protocol_runner
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.protocol_runner import ProtocolRunner
from tfcontroller.terraform.sandbox import probe
from tfcontroller.terraform.state import read_state

ROOT = Path(__file__).resolve().parents[3]
NS = "held"
MODULE = """
variable "value" { type = string }
resource "terraform_data" "this" { input = var.value }
output "value" { value = terraform_data.this.output }
"""
SANDBOXED = probe() is None


@dataclass
class Setup:
    cluster: DevCluster
    admin: KubeClient
    artifact: Path
    digest: str
    runs: Path
    tmp: Path


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    artifact = write_tar(tmp_path / "artifact.tar.gz", {"tf/main.tf": MODULE})
    digest = "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()
    runs = tmp_path / "runs"
    runs.mkdir()
    with DevCluster() as cluster:
        admin = KubeClient.load(cluster.kubeconfig)
        admin.create(NAMESPACES, {"metadata": {"name": NS}})
        try:
            yield Setup(cluster, admin, artifact, digest, runs, tmp_path)
        finally:
            admin.close()


def _runner(s: Setup, name: str, *, hold: bool, run_id: str = "") -> ProtocolRunner:
    template = rp.RunRequest(run_id=run_id or f"run-{name}", operation=rp.PLAN, namespace=NS, name=name,
                             artifact_url="", artifact_digest=s.digest, path="tf", variables={"value": name},
                             timeout_seconds=300)
    return ProtocolRunner(template, s.artifact, s.runs, TerraformConfig.from_env(),
                          kubeconfig=Path(s.cluster.kubeconfig), sandboxed=SANDBOXED, object_key=f"{NS}/{name}",
                          plan_id=lambda: "plan-1", hold=hold)


def _applied(s: Setup, name: str) -> bool:
    state = read_state(s.admin, NS, f"tfstate-default-{name}")
    return state.exists and "value" in (state.outputs or {})


def _gone(pid: int) -> bool:
    """Ended: no such process, or a zombie nobody has reaped yet (its parent, the stand-in, is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def _exchanges(s: Setup) -> list[str]:
    return sorted(p.name for p in s.runs.iterdir() if p.is_dir())


def test_a_plan_and_its_apply_are_served_by_one_runner_process(setup: Setup) -> None:
    runner = _runner(setup, "one", hold=True)
    plan = setup.tmp / "one.plan"
    planned = runner.plan(plan)
    assert planned.has_changes and (planned.add, planned.change, planned.destroy) == (1, 0, 0)
    held = runner.last_pid
    assert held is not None and not _gone(held), "the plan's runner waits for its apply"
    assert not _applied(setup, "one"), "nothing is applied before the controller hands the apply over"
    result = runner.apply(plan)
    assert result.returncode == 0 and any(m.get("type") == "outputs" for m in result.messages)
    assert runner.started == 1 and runner.last_pid == held, "the apply ran in the plan's runner process"
    assert _gone(held) and _applied(setup, "one")
    assert _exchanges(setup) == [], "the run's exchange directory is discarded after the apply"
    runner.release()  # nothing held any more: a no-op
    again = _runner(setup, "one", hold=True, run_id="run-again")
    assert not again.plan(setup.tmp / "again.plan").has_changes
    assert again.last_pid is not None and _gone(again.last_pid), "no apply follows no changes: nothing waits"


@pytest.mark.parametrize("how", ["release", "cancel", "next-command"])
def test_a_plan_whose_apply_does_not_come_ends_its_runner_without_applying(setup: Setup, how: str) -> None:
    """The reconcile ends without applying (manual approval, a denied policy, an error: `release()` at the
    reconcile's end), the controller stops (`cancel()`), or another command comes first."""
    runner = _runner(setup, f"no-{how}", hold=True)
    planned = runner.plan(setup.tmp / "no.plan")
    assert planned.has_changes
    held = runner.last_pid
    assert held is not None and not _gone(held)
    if how == "release":
        runner.release()
    elif how == "cancel":
        runner.cancel()
        wait_for(lambda: _gone(held), 60, "the held runner to end after cancel()")
        runner.release()
    else:
        runner.plan(setup.tmp / "again.plan")  # a second plan (e.g. planned again) ends the first runner
        assert runner.started == 2
        runner.release()
    assert _gone(held)
    assert not _applied(setup, f"no-{how}")
    assert _exchanges(setup) == []


def test_without_hold_the_plans_runner_ends_at_once(setup: Setup) -> None:
    """approvePlan other than auto, planOnly: no apply follows in the reconcile, so nothing waits for one."""
    runner = _runner(setup, "manual", hold=False)
    assert runner.plan(setup.tmp / "manual.plan").has_changes
    assert runner.last_pid is not None and _gone(runner.last_pid)
    assert _exchanges(setup) == []


STAND_IN = """
import json, sys, time
from pathlib import Path
from tfcontroller.api import run_protocol as rp
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.protocol_runner import ProtocolRunner
kubeconfig, artifact, digest, runs, plan, sandboxed = sys.argv[1:]
template = rp.RunRequest(run_id="run-killed", operation=rp.PLAN, namespace="held", name="killed", artifact_url="",
                         artifact_digest=digest, path="tf", variables={"value": "killed"}, timeout_seconds=300)
runner = ProtocolRunner(template, Path(artifact), Path(runs), TerraformConfig.from_env(), kubeconfig=Path(kubeconfig),
                        sandboxed=sandboxed == "1", object_key="held/killed", hold=True)
runner.plan(Path(plan))
print(json.dumps({"runner": runner.last_pid}), flush=True)
time.sleep(600)
"""


def test_a_controller_killed_between_plan_and_apply_leaves_nothing_that_could_apply(setup: Setup) -> None:
    plan = setup.tmp / "killed.plan"
    stand_in = subprocess.Popen(
        [sys.executable, "-c", STAND_IN, setup.cluster.kubeconfig, str(setup.artifact), setup.digest,
         str(setup.runs), str(plan), "1" if SANDBOXED else "0"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    try:
        assert stand_in.stdout is not None
        line = stand_in.stdout.readline()
        assert line, "the stand-in controller planned"
        held = json.loads(line)["runner"]
        assert not _gone(held), "its runner waits for the apply"
        os.killpg(stand_in.pid, signal.SIGKILL)  # as when the controller's pod dies
        stand_in.wait(timeout=30)
    finally:
        if stand_in.poll() is None:
            stand_in.kill()
            stand_in.wait()
    wait_for(lambda: _gone(held), 60, "the held runner to end when its controller died")
    assert not _applied(setup, "killed"), "nothing applied without the controller's word"
    # the plan (stored by the controller before it died) is applied later by a fresh runner
    later = _runner(setup, "killed", hold=False, run_id="run-later")
    result = later.apply(plan)
    assert result.returncode == 0 and later.started == 1 and _applied(setup, "killed")


def test_a_runner_held_past_the_hand_over_window_is_not_handed_the_apply(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = _runner(setup, "late", hold=True)
    plan = setup.tmp / "late.plan"
    assert runner.plan(plan).has_changes
    held = runner.last_pid
    monkeypatch.setattr(protocol_runner, "HAND_OVER_WITHIN", 0.0)  # the gate and checkpoint took too long
    runner.apply(plan)
    assert runner.started == 2 and runner.last_pid != held and held is not None and _gone(held)
    assert _applied(setup, "late")
