"""What a reconcile's runs become in status.history (controllers/terraform/history.py), on plain data: a run
its step ended keeps its own outcome; one the reconcile's error cut short is Failed with that error's reason
(Interrupted when the controller cancelled it); dead runs found by the recovery are Interrupted unless their
apply is known to have finished or was noted already; the cap and order hold through `record`; and who
approved an apply, from the object's annotations and managedFields; `--history-limit` accepts only a
count of at least 1."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN, ANNOTATION_APPROVED_BY
from tfcontroller.api.errors import StallingError, TransientError, WaitingError
from tfcontroller.api.history import (
    FAILED,
    INTERRUPTED,
    NO_CHANGES,
    SUCCEEDED,
    VIA_ANNOTATION,
    VIA_AUTO,
    VIA_CLI,
    VIA_SPEC,
    Approver,
    approver_annotation,
    history_of,
)
from tfcontroller.controllers.terraform import history_limit
from tfcontroller.controllers.terraform.history import (
    RunNote,
    approver_of,
    awaits_confirmation,
    confirm_applied,
    interrupted,
    record,
    record_ended,
    settle,
    unrecorded_apply_outcome,
)
from tfcontroller.controllers.terraform.locks import RunRecord
from tfcontroller.runtime.reconciler import Outcome, outcome_of_error
from tfcontroller.terraform.errors import CancelledError

PLAN = "plan-main-0123456789-abcdef01"
NOW = "2026-01-01T00:01:00Z"


def note(kind: str = "plan", **kw: Any) -> RunNote:
    return RunNote("run1", kind, "2026-01-01T00:00:00Z", "main@sha1:" + "a" * 40, **kw)


def test_an_ended_note_keeps_its_outcome_whatever_follows() -> None:
    done = note(plan_id=PLAN)
    done.end(SUCCEEDED, "PlanGenerated", "Plan x")
    [entry] = settle([done], Outcome("transient", TransientError("ApplyFailed", "boom")))
    assert (entry.outcome, entry.reason, entry.plan_id) == (SUCCEEDED, "PlanGenerated", PLAN)
    assert entry.finished_at


@pytest.mark.parametrize(("error", "outcome", "reason"), [
    (TransientError("PlanFailed", "Error: Invalid value for input variable"), FAILED, "PlanFailed"),
    (WaitingError("StateLocked", "locked by x", 30), FAILED, "StateLocked"),
    (StallingError("StateMissing", "the state Secret is missing"), FAILED, "StateMissing"),
    (CancelledError("apply"), INTERRUPTED, "TerraformCancelled"),
    (RuntimeError("unexpected"), FAILED, "Failed"),
])
def test_a_note_cut_short_takes_the_reconciles_error(error: BaseException, outcome: str, reason: str) -> None:
    result = outcome_of_error(error)
    assert result.failed
    [entry] = settle([note("apply", plan_id=PLAN)], result)
    assert (entry.outcome, entry.reason, entry.kind, entry.plan_id) == (outcome, reason, "apply", PLAN)
    assert entry.message


def test_record_orders_caps_and_leaves_status_alone_when_nothing_ran() -> None:
    status: dict[str, Any] = {}
    for n in range(4):
        plan, apply = note("plan"), note("apply", plan_id=f"p{n}")
        plan.end(SUCCEEDED, "PlanGenerated", plan_id=f"p{n}")
        apply.end(SUCCEEDED, "ApplySucceeded")
        record(status, [plan, apply], Outcome("success"), 3)
    got = [(e.kind, e.plan_id) for e in history_of(status)]
    assert got == [("apply", "p3"), ("plan", "p3"), ("apply", "p2")]
    before = list(status["history"])
    record(status, [], Outcome("success"), 3)
    assert status["history"] == before
    record(status, [], Outcome("success"), 1)  # a lowered --history-limit applies at the next reconcile
    assert len(status["history"]) == 1


def test_no_changes_entry() -> None:
    n = note("drift")
    n.end(NO_CHANGES, "NoChanges", "No changes at main@sha1:a")
    [entry] = settle([n], Outcome("success", ready_reason="NoChanges"))
    assert (entry.kind, entry.outcome, entry.plan_id) == ("drift", NO_CHANGES, "")


def record_of(operation: str, marker: str, plan: str = "", pod: str = "") -> RunRecord:
    return RunRecord("inst", 1, "host", marker, "2026-01-01T00:00:00Z", operation, plan=plan, pod=pod)


def test_dead_runs_found_by_the_recovery() -> None:
    status = {"lastAppliedPlan": "p-done", "plan": {"pending": "p-destroy", "isDestroy": True}}
    records = [record_of("plan", "m1"), record_of("apply", "m2", "p-lost", pod="tfrun-m2-1"),
               record_of("apply", "m3", "p-done"),  # finished (lastAppliedPlan): not interrupted
               record_of("apply", "m4", "p-adopted"),  # noted by the adoption already
               record_of("force-unlock", "m5"),  # not a run kind of the history
               record_of("apply", "m6", "p-destroy")]
    adopted = note("apply", plan_id="p-adopted")
    adopted.run_id = "m4"
    notes = interrupted(records, status, [adopted], NOW)
    got = [(n.run_id, n.kind, n.outcome, n.reason, n.plan_id) for n in notes]
    assert got == [("m1", "plan", INTERRUPTED, "PlanInterrupted", ""),
                   ("m2", "apply", INTERRUPTED, "ApplyInterrupted", "p-lost"),
                   ("m6", "destroy", INTERRUPTED, "ApplyInterrupted", "p-destroy")]
    assert "runner Pod tfrun-m2-1" in notes[1].message and all(n.finished_at == NOW for n in notes)
    assert notes[0].started_at == "2026-01-01T00:00:00Z"


def obj_with(annotations: dict[str, str], manager: str = "kubectl-annotate") -> dict[str, Any]:
    return {"metadata": {"annotations": annotations, "managedFields": [
        {"manager": manager, "operation": "Update",
         "fieldsV1": {"f:metadata": {"f:annotations": {f"f:{k}": {} for k in annotations}}}}]}}


def test_approver_of_an_apply() -> None:
    claim = approver_annotation(PLAN, Approver("alice", ("team-a",), VIA_CLI))
    cli = obj_with({ANNOTATION_APPROVE_PLAN: PLAN, ANNOTATION_APPROVED_BY: claim}, "tfcontroller-cli")
    assert approver_of(cli, PLAN, auto=False, annotation=PLAN) == \
        Approver("alice", ("team-a",), VIA_CLI, "tfcontroller-cli")
    bare = obj_with({ANNOTATION_APPROVE_PLAN: PLAN})
    assert approver_of(bare, PLAN, auto=False, annotation=PLAN) == Approver(via=VIA_ANNOTATION,
                                                                           manager="kubectl-annotate")
    stale_claim = obj_with({ANNOTATION_APPROVE_PLAN: "plan-new",
                            ANNOTATION_APPROVED_BY: claim})  # the claim names the previous plan
    assert approver_of(stale_claim, "plan-new", auto=False, annotation="plan-new").via == VIA_ANNOTATION
    assert approver_of(cli, PLAN, auto=False, annotation=None).via == VIA_SPEC
    assert approver_of(cli, PLAN, auto=True, annotation=PLAN).via == VIA_AUTO


def test_a_checkpoint_records_ended_runs_once() -> None:
    status: dict[str, Any] = {}
    plan, apply = note("plan"), note("apply", plan_id=PLAN)
    plan.end(SUCCEEDED, "PlanGenerated", plan_id=PLAN)
    notes = [plan, apply]
    record_ended(status, notes, 10)  # the apply's checkpoint: the plan is stored, the running apply is not
    assert [(e.kind, e.outcome) for e in history_of(status)] == [("plan", SUCCEEDED)]
    record(status, notes, Outcome("transient", TransientError("ApplyFailed", "boom")), 10)
    assert [(e.kind, e.outcome) for e in history_of(status)] == [("apply", FAILED), ("plan", SUCCEEDED)]


@pytest.mark.parametrize("value", ["0", "-1", "ten", "1.5", ""])
def test_history_limit_refuses_what_is_not_a_positive_count(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="at least 1"):
        history_limit(value)


def test_history_limit_accepts_a_count() -> None:
    assert history_limit("1") == 1 and history_limit("50") == 50


def test_a_run_told_in_history_is_not_reported_again() -> None:
    """A killed command's reconcile recorded its failure and kept the record (its lock may be left): the
    recovery of that record adds nothing; the plan of the same run does not hide its apply."""
    status = {"history": [{"runId": "m1", "kind": "apply", "outcome": FAILED, "reason": "RunnerOOMKilled"},
                          {"runId": "m2", "kind": "plan", "outcome": SUCCEEDED}]}
    records = [record_of("apply", "m1", "p1"), record_of("apply", "m2", "p2")]
    assert [(n.run_id, n.kind) for n in interrupted(records, status, [], NOW)] == [("m2", "apply")]


def test_a_cancelled_run_left_running_is_left_to_its_recovery() -> None:
    """A graceful stop in pod mode: the apply goes on in its Pod, its record stays for the next controller
    (which records the adopted result); the plan that ended is recorded; without the record kept, the
    cancelled run is Interrupted."""
    cancelled = outcome_of_error(CancelledError("apply"))
    for outliving, want in (({"run1"}, [("plan", SUCCEEDED)]),
                            (set(), [("apply", INTERRUPTED), ("plan", SUCCEEDED)])):
        plan, apply = note("plan"), note("apply", plan_id=PLAN)
        plan.end(SUCCEEDED, "PlanGenerated", plan_id=PLAN)
        status: dict[str, Any] = {}
        record(status, [plan, apply], cancelled, 10, outliving=outliving)
        assert [(e.kind, e.outcome) for e in history_of(status)] == want
    # a failure whose record stays (a killed command) is told now, with its reason
    plan, apply = note("plan"), note("apply", plan_id=PLAN)
    status = {}
    record(status, [apply], outcome_of_error(TransientError("RunnerOOMKilled", "oom")), 10, outliving={"run1"})
    assert [(e.kind, e.outcome, e.reason) for e in history_of(status)] == [("apply", FAILED, "RunnerOOMKilled")]


def test_runs_are_recorded_in_the_order_they_started() -> None:
    current = RunNote("now", "plan", "2026-01-01T00:05:00Z")
    current.end(SUCCEEDED, "PlanGenerated")
    found = RunNote("old", "apply", "2026-01-01T00:00:00Z")  # recovered by the lock handling, noted later
    found.end(INTERRUPTED, "ApplyInterrupted")
    status: dict[str, Any] = {}
    record(status, [current, found], Outcome("success"), 10)
    assert [e.run_id for e in history_of(status)] == ["now", "old"]


def test_a_recovered_apply_of_the_pending_plan_awaits_terraform() -> None:
    """Only an apply (or destroy) of the plan still pending: its result never reached the status. An apply of
    another plan (the pending one was replaced since), a plan run, or one without a plan id is told at once."""
    status = {"plan": {"pending": "p-pending"}, "lastAppliedPlan": "p-old"}
    records = [record_of("apply", "m1", "p-pending"), record_of("apply", "m2", "p-other"),
               record_of("plan", "m3"), record_of("apply", "m4", "")]
    waiting = [n.run_id for n in interrupted(records, status, [], NOW) if awaits_confirmation(n, status)]
    assert waiting == ["m1"]
    destroy = {"plan": {"pending": "p-pending", "isDestroy": True}}
    [n] = interrupted([record_of("apply", "m5", "p-pending")], destroy, [], NOW)
    assert n.kind == "destroy" and awaits_confirmation(n, destroy)
    assert not awaits_confirmation(n, {"plan": {"pending": ""}})


@pytest.mark.parametrize(("stale", "changes", "want"), [
    (True, False, SUCCEEDED),  # the apply saved a state and everything its plan would do is done
    (True, True, INTERRUPTED),  # it stopped half-way: the new plan still has work
    (False, False, INTERRUPTED),  # the plan still applies: that apply saved nothing
    (False, True, INTERRUPTED),
    (True, None, INTERRUPTED),  # not known (the re-plan did not finish)
])
def test_the_outcome_of_an_unrecorded_apply(stale: bool, changes: bool | None, want: str) -> None:
    assert unrecorded_apply_outcome(plan_went_stale=stale, replan_has_changes=changes) == want


def test_a_confirmed_apply_is_an_applied_entry_and_news_of_an_applied_plan() -> None:
    from datetime import UTC, datetime

    from tfcontroller.notify.event import ObjectRef
    from tfcontroller.notify.observe import history_observations

    status = {"plan": {"pending": PLAN, "add": 2}}
    [n] = interrupted([record_of("apply", "m1", PLAN)], status, [], NOW)
    n.add = 2
    confirm_applied(n, "main@sha1:" + "a" * 40, "recovered")
    record(status, [n], Outcome("success"), 10)
    [entry] = history_of(status)
    assert (entry.run_id, entry.kind, entry.outcome, entry.reason, entry.plan_id, entry.add) == \
        ("m1", "apply", SUCCEEDED, "ApplySucceeded", PLAN, 2)
    assert entry.started_at == "2026-01-01T00:00:00Z" and "recovered" in entry.message
    ref = ObjectRef("Terraform", "default", "app")
    [obs] = history_observations(status, ref, datetime.now(UTC))
    assert (obs.event.type, obs.event.reason, obs.key) == ("PlanApplied", "ApplySucceeded", "m1")
