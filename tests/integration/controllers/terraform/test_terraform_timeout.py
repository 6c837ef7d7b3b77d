"""spec.timeout limits each Terraform command of a run: an apply that outlives it is interrupted
(SIGINT, grace, SIGKILL), the object reports Ready=False with reason TerraformTimedOut naming the
command and the limit, no process of the run survives, the state lock is not left behind (released by
Terraform itself, or by the controller when Terraform was killed holding it), and with a longer timeout
the next reconcile applies. Also the pure rule mapping spec.timeout onto the runner's limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.holds import HoldServer
from tests.support.terraform_helpers import HOLD_TF, Harness, condition, processes_under, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.controllers.terraform.policy import run_timeouts
from tfcontroller.terraform.config import Timeouts
from tfcontroller.terraform.state import read_lock


def test_run_timeouts_bound_every_command() -> None:
    base = Timeouts(init=300, plan=1200, apply=1800, short=120, grace=30)
    assert run_timeouts(base, 60) == Timeouts(init=60, plan=60, apply=60, short=60, grace=30)
    assert run_timeouts(base, 3600) == Timeouts(init=3600, plan=3600, apply=3600, short=120, grace=30)
    assert run_timeouts(base, 0).apply == 1.0  # never a zero limit


@pytest.mark.runner_modes
def test_too_short_timeout_gives_a_clear_condition_and_no_stuck_lock(harness: Harness, git_file_remote,
                                                                     tmp_path: Path, holds: HoldServer) -> None:
    hold = holds.new()
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": HOLD_TF}))
    harness.create("app", timeout="8s", vars=[{"name": "hold", "value": str(hold)}])

    obj = harness.reconcile("app")  # init and plan fit in 8s; the apply waits for `release` forever
    assert hold.started(), obj.get("status")
    ready = condition(obj, c.READY)
    assert ready is not None and ready.status == "False" and ready.reason == "TerraformTimedOut", obj["status"]
    assert "terraform apply timed out after 8s" in ready.message and "spec.timeout" in ready.message
    assert condition(obj, c.RECONCILING) is not None  # retried, not stalled
    assert "run" not in obj["status"]
    assert processes_under(harness.tmp / "work") == []
    assert read_lock(harness.kube, "default", "lock-tfstate-default-app") is None  # no stuck lock
    assert hold.done() == 0

    hold.release()
    harness.patch("app", {"spec": {"timeout": "5m"}})
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    assert condition(obj, c.STATE_LOCKED) is None
    assert [r["type"] for r in harness.state("app")["resources"]] == ["terraform_data"]
