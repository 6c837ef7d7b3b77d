"""An apply that succeeded is recorded as applied whatever fails after it (issue 21, slice C), with real
terraform and the dev cluster.

- The status write after the apply is refused by the API server (the test tightens the CRD's schema while
  the apply is held, so the write is a 422): the reconcile fails, the status still shows the plan pending
  and the run record of the apply. A retry whose own final write fails as well leaves both as they were.
  The next retry learns from Terraform what happened — the plan is stale and a
  new plan of the same inputs has no changes — and records that run's apply as Succeeded (its own run id),
  not Failed/PlanStale nor Interrupted: Applied=True, no ApplyInterrupted, an ApplySucceeded Event, and the
  notification derived from history is PlanApplied, never ApplyFailed. From the retry's side this is also
  the controller killed between Terraform's exit and the status write: all it has is the run record.
- That crash for real: a controller process applies (its status write refused, so the status cannot say
  applied), is SIGKILLed once Terraform has exited and released the lock, and a new controller records the
  apply of the dead one as Succeeded under the dead run's id; the plan is applied once.
- A later step failing in the same reconcile — an outputs Secret that cannot be written as asked, a failing
  health check — leaves the apply's entry Succeeded and Applied=True, with Ready carrying the later step's
  reason; the plan is never applied a second time.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.holds import HoldServer
from tests.support.polling import wait_for
from tests.support.terraform_helpers import (
    HOLD_TF,
    NS,
    SIMPLE_TF,
    Harness,
    condition,
    kill_controller,
    processes_under,
    ready_reason,
    start_controller_process,
)
from tfcontroller.api import conditions as c
from tfcontroller.api.healthchecks import parse_deny_cidrs
from tfcontroller.api.history import history_of
from tfcontroller.controllers.terraform import TerraformOptions, probe_policy
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, Unprocessable
from tfcontroller.kube.resources import CRDS, TERRAFORMS
from tfcontroller.notify.event import ObjectRef
from tfcontroller.notify.observe import history_observations
from tfcontroller.terraform.state import read_lock

CRD = "terraforms.tfcontroller.io"


def entries(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e.kind, e.outcome, e.reason) for e in history_of(obj.get("status"))]


def notifications(obj: dict[str, Any]) -> list[tuple[str, str]]:
    ref = ObjectRef("Terraform", NS, obj["metadata"]["name"])
    return [(o.event.type, o.event.details.plan_id if o.event.details else "")  # type: ignore[union-attr]
            for o in history_observations(obj["status"], ref, datetime.now(UTC))]


class StatusGuard:
    """Make the API server refuse a Terraform status that records an applied plan: the CRD's schema allows
    `status.lastAppliedPlan` at most 4 characters (a real plan id is longer) until `restore`."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.original = kube.get(CRDS, CRD)
        kube.create(TERRAFORMS, {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
                                 "metadata": {"name": "probe", "namespace": NS},
                                 "spec": {"sourceRef": {"kind": "GitRepository", "name": "none"}, "path": "./",
                                          "interval": "1h", "suspend": True}}, NS)

    def _probe(self) -> bool:
        """Is a long lastAppliedPlan accepted now? (On an object nobody reconciles.)"""
        try:
            self.kube.patch_status(TERRAFORMS, "probe", NS, {"lastAppliedPlan": "plan-probe-too-long"})
        except Unprocessable:
            return False
        self.kube.patch_status(TERRAFORMS, "probe", NS, {"lastAppliedPlan": None})
        return True

    def refuse(self) -> None:
        crd = copy.deepcopy(self.kube.get(CRDS, CRD))
        for version in crd["spec"]["versions"]:
            status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
            status["properties"]["lastAppliedPlan"]["maxLength"] = 4
        self.kube.replace(CRDS, crd)
        wait_for(lambda: not self._probe(), 30, "the tightened schema to apply")

    def restore(self) -> None:
        crd = self.kube.get(CRDS, CRD)
        crd["spec"] = self.original["spec"]
        self.kube.replace(CRDS, crd)
        wait_for(self._probe, 30, "the original schema to apply")


@pytest.fixture
def guard(kube: KubeClient, harness: Harness) -> Iterator[StatusGuard]:
    g = StatusGuard(kube)
    try:
        yield g
    finally:
        g.restore()


def assert_recorded_applied(harness: Harness, obj: dict[str, Any], plan: str, run_id: str) -> None:
    """The retry's view of an apply whose result never reached the status: applied, by its own run."""
    assert entries(obj)[:2] == [("plan", "NoChanges", "NoChanges"), ("apply", "Succeeded", "ApplySucceeded")]
    apply = history_of(obj["status"])[1]
    assert apply.plan_id == plan and apply.run_id == run_id and apply.add == 1
    assert not [e for e in entries(obj) if e[0] == "apply" and e[1] != "Succeeded"]
    assert obj["status"]["lastAppliedPlan"] == plan and "lastInterruptedApply" not in obj["status"]
    applied = condition(obj, c.APPLIED)
    assert applied is not None and applied.status == c.TRUE and condition(obj, "ApplyInterrupted") is None
    assert notifications(obj) == [("PlanApplied", plan)]
    reasons = {e["reason"] for e in harness.events("app")}
    assert "ApplySucceeded" in reasons and not reasons & {"ApplyInterrupted", "ApplyFailed"}, reasons


@pytest.mark.slow
@pytest.mark.runner_modes
def test_an_apply_whose_status_write_failed_is_recorded_applied(harness: Harness, git_file_remote: Any,
                                                                 holds: HoldServer, guard: StatusGuard) -> None:
    hold = holds.new()
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": HOLD_TF}))
    harness.create("app", vars=[{"name": "hold", "value": str(hold)}])  # approvePlan: auto
    failed: list[BaseException] = []

    def reconcile() -> None:
        try:
            harness.reconcile("app")
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failed.append(exc)

    applier = threading.Thread(target=reconcile, name="apply-app")
    applier.start()
    try:
        wait_for(lambda: hold.started() or not applier.is_alive(), 120, "the apply to start")
        assert applier.is_alive(), failed
        guard.refuse()
    finally:
        hold.release()
        applier.join(120)
    assert len(failed) == 1 and isinstance(failed[0], ApiError), failed  # the status write after the apply
    obj = harness.kube.get(TERRAFORMS, "app", NS)
    plan = obj["status"]["plan"]["pending"]
    assert plan and "lastAppliedPlan" not in obj["status"] and hold.done() == 1
    assert [r.get("operation") for r in obj["status"]["runs"]] == ["apply"]  # what the next reconcile has
    assert entries(obj) == [("plan", "Succeeded", "PlanGenerated")]
    record = obj["status"]["runs"][0]

    # a retry whose own status write fails too (after it asked Terraform): nothing is lost for the next one
    with pytest.raises(ApiError):
        harness.reconcile("app")
    obj = harness.kube.get(TERRAFORMS, "app", NS)
    assert obj["status"]["plan"]["pending"] == plan and "lastAppliedPlan" not in obj["status"]
    [kept] = [r for r in obj["status"]["runs"] if r["marker"] == record["marker"]]
    assert kept["recovered"] is True and kept["plan"] == plan  # kept for Terraform's answer, owning no lock
    assert not [e for e in entries(obj) if e[0] == "apply"]

    guard.restore()
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded",
                                  what="the retry to record the apply")
    history = history_of(obj["status"])
    # between them: the retry's re-plan, whose result never reached the status either (its run record did)
    assert entries(obj)[2:] == [("plan", "Interrupted", "PlanInterrupted"), ("plan", "Succeeded", "PlanGenerated")]
    assert_recorded_applied(harness, obj, plan, history[-1].run_id)  # that run's apply (auto: one run id)
    assert history[1].approved_by is not None and history[1].approved_by.via == "auto"
    assert not obj["status"].get("runs") and hold.done() == 1  # applied once

    # a later reconcile changes nothing
    before = entries(obj)
    assert entries(harness.reconcile("app")) == before


@pytest.mark.slow
def test_a_controller_killed_before_the_status_said_applied(harness: Harness, git_file_remote: Any,
                                                             holds: HoldServer, guard: StatusGuard,
                                                             tmp_path: Any) -> None:
    hold = holds.new()
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": HOLD_TF}))
    harness.create("app", vars=[{"name": "hold", "value": str(hold)}])
    work = tmp_path / "proc-work"
    # no retry of the failed reconcile before the kill: the status cannot say applied when it dies
    proc = start_controller_process(harness.kubeconfig, work, retry_base=600.0)
    try:
        wait_for(lambda: hold.started() or proc.poll() is not None, 120, "the apply to start")
        assert proc.poll() is None
        guard.refuse()
        hold.release()
        wait_for(lambda: hold.done() == 1 and read_lock(harness.kube, NS, "lock-tfstate-default-app") is None
                 and not processes_under(work), 120, "Terraform to finish the apply and release the lock")
    finally:
        kill_controller(proc, processes_under(work))
    obj = harness.kube.get(TERRAFORMS, "app", NS)
    plan = obj["status"]["plan"]["pending"]
    assert plan and "lastAppliedPlan" not in obj["status"]
    [run] = obj["status"]["runs"]
    assert (run["operation"], run["plan"], run["pid"]) == ("apply", plan, proc.pid)

    guard.restore()
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded",
                                  what="the new controller to record the dead one's apply")
    assert_recorded_applied(harness, obj, plan, run["marker"])
    assert hold.done() == 1 and not obj["status"].get("runs")


LOOPBACK_ALLOWED = probe_policy(TerraformOptions(health_check_allow=parse_deny_cidrs("127.0.0.0/8,::1")), {}, None)


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "reason"), [
    ({"writeOutputsToSecret": {"name": "app-outputs", "outputs": ["greeting", "missing"]}}, "OutputsWriteFailed"),
    ({"healthChecks": [{"name": "closed", "type": "tcp", "address": "127.0.0.1:1", "timeout": "1s"}]},
     "HealthCheckFailed"),
], ids=["outputs-secret", "health-check"])
def test_a_later_step_failing_leaves_the_apply_applied(harness: Harness, git_file_remote: Any,
                                                       spec: dict[str, Any], reason: str) -> None:
    harness.options.health_probes = LOOPBACK_ALLOWED  # as --health-check-allow-cidrs=127.0.0.0/8 would
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.create("app", **spec)
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == f"False/{reason}",
                                  what=f"Ready={reason} after the apply")
    plan = obj["status"]["lastAppliedPlan"]
    assert entries(obj) == [("apply", "Succeeded", "ApplySucceeded"), ("plan", "Succeeded", "PlanGenerated")]
    applied = condition(obj, c.APPLIED)
    assert applied is not None and applied.status == c.TRUE and plan in applied.message
    assert notifications(obj) == [("PlanApplied", plan)]
    obj = harness.reconcile("app")  # the retry: the later step fails again, nothing is applied again
    assert [e for e in entries(obj) if e[0] == "apply"] == [("apply", "Succeeded", "ApplySucceeded")]
    assert ready_reason(obj) == f"False/{reason}" and obj["status"]["lastAppliedPlan"] == plan
