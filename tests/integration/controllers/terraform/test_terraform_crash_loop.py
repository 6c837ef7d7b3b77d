"""A crash loop never leaves a state lock stuck (design.md §4.4).

Several objects are reconciled by a controller subprocess that is SIGKILLed, with its whole process
group, at seeded random points of init/plan/apply, and restarted, round after round. Two kinds of
kill alternate: the controller's group only (its Terraform processes, in their own sessions, then get
SIGINT from the kernel and stop gracefully), and a kill that also SIGKILLs every Terraform process (as
an OOM kill of Terraform would), which leaves the lock held and the run's other processes behind
(here a background process started by the provisioner, standing in for the provider plugins of the
field report: it carries the run marker but is not Terraform). A final controller must then bring
every object to Ready with every resource in its state, no lock held, no run record left and no
process of any run left running.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.processes import kill_all
from tests.support.terraform_helpers import (
    NS,
    Harness,
    kill_controller,
    processes_under,
    ready_reason,
    start_controller_process,
    wait_for,
)
from tfcontroller.terraform.processes import RUN_ENV, read_stat
from tfcontroller.terraform.state import read_lock

# Two resources; the second's provisioner runs a while and leaves a background process in the run's
# process group, alive for minutes unless someone stops it (a stand-in for orphaned provider plugins).
CRASH_TF = """
variable "tag" {
  type = string
}

resource "terraform_data" "first" {
  input = var.tag
}

resource "terraform_data" "slow" {
  input = terraform_data.first.output

  provisioner "local-exec" {
    command = "(sleep 300 >/dev/null 2>&1 &) ; sleep 3"
  }
}
"""

OBJECTS = ["crash-a", "crash-b", "crash-c", "crash-d"]
SEED = 1108
ROUNDS = 6


def _start_controller(harness: Harness, work: Path) -> subprocess.Popen[bytes]:
    return start_controller_process(harness.kubeconfig, work, lock_retry=2.0, retry_cap=3.0,
                                    runner_mode=harness.options.runner_mode)


def _terraform_leaders(work: Path) -> list[int]:
    """Terraform processes of our runs: under the work dir, carrying a run marker, leading their session."""
    found = []
    for pid in processes_under(work):
        stat = read_stat(pid)
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if stat is not None and stat.pid == stat.sid and f"{RUN_ENV}=".encode() in env:
            found.append(pid)
    return found


def _kill(proc: subprocess.Popen[bytes], work: Path, *, terraform_too: bool) -> None:
    kill_controller(proc, _terraform_leaders(work) if terraform_too else [])


def _settled(harness: Harness) -> bool:
    for name in OBJECTS:
        obj = harness.get(name)
        status = obj.get("status") or {}
        if not ready_reason(obj).startswith("True/") or status.get("runs") or status.get("run"):
            return False
        if status.get("observedGeneration") != obj["metadata"]["generation"]:
            return False
    return True


@pytest.mark.slow
@pytest.mark.runner_modes
def test_repeated_kills_never_leave_a_lock_stuck(harness: Harness, git_file_remote, tmp_path: Path) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": CRASH_TF}))
    for name in OBJECTS:
        harness.create(name, vars=[{"name": "tag", "value": name}], retryInterval="2s")
    work = tmp_path / "proc-work"
    try:
        _crash_loop_then_recover(harness, work)
    finally:
        kill_all(processes_under(work))  # a failing run must not leave its processes to other tests


def _crash_loop_then_recover(harness: Harness, work: Path) -> None:
    rng = random.Random(SEED)
    hard_kills = 0
    for round_ in range(ROUNDS):
        proc = _start_controller(harness, work)
        try:
            # a random point of a run: wait until some Terraform runs, then a random moment more
            wait_for(lambda p=proc: _terraform_leaders(work) or p.poll() is not None or _settled(harness), 60,
                     f"round {round_}: a Terraform run")
            assert proc.poll() is None, "the controller exited by itself"
            time.sleep(rng.uniform(0.0, 4.0))  # the kill point itself, not a wait for a condition
        finally:
            terraform_too = rng.random() < 0.5
            hard_kills += terraform_too
            _kill(proc, work, terraform_too=terraform_too)

    proc = _start_controller(harness, work)
    try:
        wait_for(lambda: _settled(harness), 150, "every object Ready after the crash loop")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    for name in OBJECTS:
        assert read_lock(harness.kube, NS, f"lock-tfstate-default-{name}") is None, f"{name}: lock still held"
        state = harness.state(name)
        assert state is not None
        assert sorted(r["name"] for r in state["resources"]) == ["first", "slow"], name
        assert all(not i.get("status") for r in state["resources"] for i in r["instances"]), f"{name}: tainted"
    wait_for(lambda: not processes_under(work), 15, "no process of any run left (orphans stopped)")
    assert hard_kills, "the seed must exercise kills of Terraform itself"
