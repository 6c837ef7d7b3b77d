"""notify.observe: the notification events current for a Terraform or ManifestSet, derived from status.

The statuses are made by the controllers' own code (runtime.reconciler's summariser and progress marker,
the Terraform controller's history notes and drift records, the policy status writer), so the shapes
are the ones the controllers write, not invented ones. Covered: when a pending plan waits for a human
(manual, settled, not approved, not being applied, not being deleted) vs clear vs unknown; a plan the
policy blocks is PolicyDenied in every mode (denied and fail-closed errors), a warned or waived one is
PlanPending with its rows; drift from status.drift; Stalled; history applies/destroys (not plans or
drift checks) oldest first; ManifestSet failures vs progress vs waiting; garbage does not crash."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.support.drift import applied_status, make_obj, report, tf_of
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN
from tfcontroller.api.errors import HeldError, StallingError, TransientError, WaitingError
from tfcontroller.api.times import format_rfc3339
from tfcontroller.controllers.terraform.drift import schedule as drift_schedule
from tfcontroller.controllers.terraform.history import RunNote, record
from tfcontroller.notify import observe
from tfcontroller.notify.observe import Observation
from tfcontroller.policy.evaluate import PolicyReport, PolicyResult, overall
from tfcontroller.policy.status import report_to_status
from tfcontroller.runtime.reconciler import Outcome, mark_reconciling, outcome_of_error, summarize_object

NOW = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
PLAN = "plan-main-0123456789-00000001"
DIFF = [{"kind": "create", "text": "+ terraform_data.x", "indent": 1}]


# ---- builders: status as the controllers write it --------------------------------------------------------


def pending(obj: dict[str, Any], plan_id: str = PLAN, **extra: Any) -> dict[str, Any]:
    """status.plan as steps.make_plan writes it."""
    obj["status"]["plan"] = {"pending": plan_id, "add": 1, "change": 2, "destroy": 0,
                             "createdAt": format_rfc3339(NOW), "isDrift": False, "isDestroy": False, **extra}
    return obj


def held(obj: dict[str, Any], reason: str = "PlanPending") -> dict[str, Any]:
    """The run ended held for the user (steps.step_apply raises PlanHeldError)."""
    summarize_object(obj, outcome_of_error(HeldError(reason, f"Plan {PLAN} waits for approval", 600)), NOW)
    return obj


def policy(*results: PolicyResult) -> dict[str, Any]:
    """status.plan.policy as policy_gate writes it (policy.status.report_to_status)."""
    rs = list(results)
    return report_to_status(PolicyReport(overall(rs), rs, "sha256:d", format_rfc3339(NOW)))


def manual(**spec: Any) -> dict[str, Any]:
    return pending(make_obj(spec=spec, status=applied_status()))


def streams(obs: list[Observation]) -> dict[str, Observation]:
    out = {o.stream: o for o in obs if o.stream != "history"}
    assert len(out) == len([o for o in obs if o.stream != "history"]), "one observation per stream"
    return out


def plan_of(obj: dict[str, Any], **kw: Any) -> Observation | None:
    return streams(observe.terraform_observations(obj, now=NOW, **kw)).get("plan")


# ---- the plan stream -----------------------------------------------------------------------------------


def test_a_settled_manual_plan_waits_for_a_human_with_everything_a_reviewer_needs() -> None:
    obj = held(manual())
    o = plan_of(obj, diff=DIFF, dashboard_url="https://dash.example/terraform/ns/demo")
    assert o is not None and o.event is not None and o.event.type == "PlanPending"
    p = o.event.plan
    assert p is not None and (p.plan_id, p.add, p.change, p.destroy) == (PLAN, 1, 2, 0)
    assert p.diff[0].text == "+ terraform_data.x" and p.dashboard_url.endswith("/terraform/ns/demo")
    assert PLAN in p.approve_command and PLAN in p.cli_approve_command
    assert o.event.object.uid == "u-1" and o.event.object.namespace == "ns" and o.event.severity == "info"


@pytest.mark.parametrize("reason", ["PlanPending", "ApprovalRefused"])
def test_held_for_approval_or_with_an_approval_of_another_plan_is_pending(reason: str) -> None:
    obj = held(manual(approvePlan="plan-main-0000000000-00000009"), reason)
    obj["metadata"]["annotations"] = {ANNOTATION_APPROVE_PLAN: "plan-other"}
    o = plan_of(obj)
    assert o is not None and o.event is not None and o.event.type == "PlanPending"


def test_a_plan_still_pending_after_an_unrelated_failure_keeps_waiting() -> None:
    obj = manual()
    summarize_object(obj, outcome_of_error(TransientError("ArtifactFailed", "fetch failed")), NOW)
    o = plan_of(obj)
    assert o is not None and o.event is not None and o.event.type == "PlanPending"


def test_while_the_run_that_made_the_plan_is_in_progress_the_plan_stream_is_unknown() -> None:
    """make_plan checkpoints a manual plan before the policy gate checked it: a plan the policy will deny
    must not be announced as waiting for approval in that window."""
    obj = manual()
    mark_reconciling(obj, "Planning")
    assert plan_of(obj) is None
    fresh = pending(make_obj(status={}))  # a first run: no Ready at all yet
    assert plan_of(fresh) is None


@pytest.mark.parametrize("how", ["auto", "spec", "annotation", "applying", "deleting"])
def test_a_plan_about_to_be_applied_is_not_waiting(how: str) -> None:
    obj = held(manual(approvePlan="auto" if how == "auto" else (PLAN if how == "spec" else "")))
    if how == "annotation":
        obj["metadata"]["annotations"] = {ANNOTATION_APPROVE_PLAN: f" {PLAN}\n"}  # read stripped, as the controller
    if how == "applying":  # the apply's checkpoint: a run record and Reconciling=True (runs.checkpoint)
        mark_reconciling(obj, f"Applying plan {PLAN}")
        obj["status"]["runs"] = [{"id": "r1", "operation": "apply", "plan": PLAN, "instance": "i"}]
    if how == "deleting":
        obj["metadata"]["deletionTimestamp"] = format_rfc3339(NOW)
    assert plan_of(obj) == Observation("plan", None)


def test_an_auto_plan_checkpointed_mid_apply_is_not_news() -> None:
    obj = pending(make_obj(spec={"approvePlan": "auto"}, status=applied_status()))
    mark_reconciling(obj, f"Applying plan {PLAN}")
    obj["status"]["runs"] = [{"id": "r1", "operation": "apply", "plan": PLAN}]
    assert plan_of(obj) == Observation("plan", None)


@pytest.mark.parametrize("plan_field", [None, {"pending": ""}, {"pending": None}, "garbage"])
def test_no_pending_plan_is_clear(plan_field: Any) -> None:
    obj = held(make_obj(status=applied_status()))
    if plan_field is not None:
        obj["status"]["plan"] = plan_field
    assert plan_of(obj) == Observation("plan", None)


DENY = PolicyResult("ns/protect", denies=["terraform_data.x would be replaced: it is protected"])
BROKEN = PolicyResult("ns/broken", error="policy ns/broken does not compile")
WARN = PolicyResult("ns/tags", enforcement="warn", warnings=["no owner tag"])
WAIVED = PolicyResult("ns/size", denies=["too big"], waived=True, exception="size-ok")


@pytest.mark.parametrize("spec", [{}, {"approvePlan": "auto"}, {"approvePlan": PLAN}])
@pytest.mark.parametrize("results,reason", [((DENY,), "PolicyDenied"), ((DENY, WARN), "PolicyDenied"),
                                            ((BROKEN,), "PolicyUnavailable")])
def test_a_plan_the_policy_blocks_is_policy_denied_in_every_mode(
        spec: dict[str, Any], results: tuple[PolicyResult, ...], reason: str) -> None:
    obj = manual(**spec)
    obj["status"]["plan"]["policy"] = policy(*results)
    summarize_object(obj, outcome_of_error(HeldError(reason, "blocked", 600)), NOW)
    o = plan_of(obj)
    assert o is not None and o.event is not None
    assert (o.event.type, o.event.reason, o.event.severity) == ("PolicyDenied", reason, "error")
    p = o.event.plan
    assert p is not None and p.plan_id == PLAN and p.approve_command == "" and p.cli_approve_command == ""
    assert {r.policy for r in p.policy} == {r.policy for r in results}
    first = results[0]
    assert (first.denies or [first.error])[0] in o.event.message


def test_a_blocked_plan_is_known_even_mid_run() -> None:
    obj = manual()
    obj["status"]["plan"]["policy"] = policy(DENY)
    mark_reconciling(obj, "Checking")
    o = plan_of(obj)
    assert o is not None and o.event is not None and o.event.type == "PolicyDenied"


@pytest.mark.parametrize("results", [(WARN,), (WAIVED,), (WARN, WAIVED), (PolicyResult("ns/ok"),)])
def test_a_plan_that_passes_policy_waits_with_its_policy_rows(results: tuple[PolicyResult, ...]) -> None:
    obj = manual()
    obj["status"]["plan"]["policy"] = policy(*results)
    held(obj)
    o = plan_of(obj)
    assert o is not None and o.event is not None and o.event.type == "PlanPending"
    assert o.event.plan is not None and o.event.plan.policy_result in ("warned", "passed")
    assert [r.policy for r in o.event.plan.policy] == [r.policy for r in results]


def test_pending_and_denied_of_one_plan_are_different_news_and_each_is_one_per_plan() -> None:
    obj = held(manual())
    waiting = plan_of(obj)
    obj["status"]["plan"]["policy"] = policy(DENY)
    denied = plan_of(obj)
    obj["status"]["plan"]["policy"] = policy(DENY, WARN)
    denied_again = plan_of(obj)
    assert waiting and denied and denied_again and waiting.event and denied.event and denied_again.event
    assert waiting.event.fingerprint != denied.event.fingerprint
    assert denied.event.fingerprint == denied_again.event.fingerprint


# ---- drift -----------------------------------------------------------------------------------------------


def drift_of(obj: dict[str, Any]) -> Observation:
    return streams(observe.terraform_observations(obj, now=NOW))["drift"]


def test_drift_follows_the_drift_check_and_the_apply_that_remediates_it() -> None:
    obj = held(make_obj(status=applied_status(NOW - dt.timedelta(hours=1))))
    assert drift_of(obj) == Observation("drift", None)  # checked, never drifted
    drift_schedule.record_check(obj, tf_of(obj), report("aws_s3_bucket.a", "aws_iam_role.r"), NOW)
    o = drift_of(obj)
    assert o.event is not None and o.event.type == "DriftDetected" and o.event.severity == "error"
    assert o.event.drift is not None and o.event.drift.resources == ("aws_iam_role.r", "aws_s3_bucket.a")
    assert o.event.drift.drift_fingerprint == obj["status"]["drift"]["fingerprint"]
    more = report("aws_s3_bucket.a", "aws_iam_role.r", "aws_sqs_queue.q")
    drift_schedule.record_check(obj, tf_of(obj), more, NOW)
    changed = drift_of(obj)
    assert changed.event is not None and changed.event.fingerprint != o.event.fingerprint
    drift_schedule.record_check(obj, tf_of(obj), report(), NOW)  # reverted by hand
    assert drift_of(obj) == Observation("drift", None)
    drift_schedule.record_check(obj, tf_of(obj), report("aws_s3_bucket.a"), NOW)
    assert drift_of(obj).event is not None
    drift_schedule.record_applied(obj, NOW)  # remediated
    assert drift_of(obj) == Observation("drift", None)


def test_drift_names_the_remediation_plan_when_one_waits() -> None:
    obj = held(make_obj(status=applied_status(NOW)))
    drift_schedule.record_check(obj, tf_of(obj), report("a.b"), NOW)
    pending(obj, isDrift=True)
    o = drift_of(obj)
    assert o.event is not None and o.event.drift is not None and o.event.drift.plan_id == PLAN


def test_drift_resources_written_as_mappings_are_read_too() -> None:
    obj = held(make_obj(status=applied_status(NOW, fingerprint="f1", resources=[
        {"address": "aws_s3_bucket.demo", "action": "update"}, "aws_iam_role.r", 7, None])))
    o = drift_of(obj)
    assert o.event is not None and o.event.drift is not None
    assert o.event.drift.resources == ("aws_s3_bucket.demo", "aws_iam_role.r", "7")


# ---- stalled ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Terraform", "ManifestSet"])
def test_stalled_while_stalled_clear_after_a_settled_run_unknown_mid_run(kind: str) -> None:
    obj = make_obj(status={})
    obj["kind"] = kind

    def stalled() -> Observation | None:
        obs = (observe.terraform_observations(obj, now=NOW) if kind == "Terraform"
               else observe.manifestset_observations(obj, now=NOW))
        return streams(obs).get("stalled")

    summarize_object(obj, outcome_of_error(StallingError("SpecInvalid", "spec.path: must be relative")), NOW)
    o = stalled()
    assert o is not None and o.event is not None
    assert (o.event.type, o.event.reason, o.event.message) == ("Stalled", "SpecInvalid", "spec.path: must be relative")
    mark_reconciling(obj, "Reconciling")  # a new attempt removes Stalled while it runs: not a recovery
    assert stalled() is None
    summarize_object(obj, Outcome("success"), NOW)
    assert stalled() == Observation("stalled", None)


# ---- history ---------------------------------------------------------------------------------------------


def note(run_id: str, kind: str, outcome: str, reason: str, finished: dt.datetime, plan_id: str = PLAN,
         message: str = "") -> RunNote:
    n = RunNote(run_id, kind, format_rfc3339(finished - dt.timedelta(seconds=30)), "main@sha1:" + "a" * 40,
                plan_id, add=1)
    n.end(outcome, reason, message)
    n.finished_at = format_rfc3339(finished)
    return n


def test_history_gives_one_event_per_apply_and_destroy_oldest_first() -> None:
    obj = held(make_obj(status=applied_status()))
    t = [NOW + dt.timedelta(minutes=i) for i in range(6)]
    notes = [note("r0", "plan", "Succeeded", "PlanGenerated", t[0]),
             note("r1", "apply", "Succeeded", "ApplySucceeded", t[1], message=f"Applied plan {PLAN}: 1 added"),
             note("r2", "drift", "Succeeded", "DriftDetected", t[2]),
             note("r3", "apply", "Failed", "ApplyFailed", t[3], "plan-b", "Error: quota exceeded"),
             note("r4", "apply", "Interrupted", "TerraformCancelled", t[4], "plan-c", "stopped"),
             note("r5", "destroy", "Succeeded", "DestroySucceeded", t[5], "plan-d", "Destroyed")]
    record(obj["status"], notes, Outcome("success"), limit=10)
    hist = [o for o in observe.terraform_observations(obj, now=NOW) if o.stream == "history"]
    assert [(o.key, o.event.type if o.event else None) for o in hist] == [
        ("r1", "PlanApplied"), ("r3", "ApplyFailed"), ("r4", "ApplyFailed"), ("r5", "PlanApplied")]
    assert [o.at for o in hist] == [format_rfc3339(t[i]) for i in (1, 3, 4, 5)]
    failed = hist[1].event
    assert failed is not None and failed.severity == "error" and failed.reason == "ApplyFailed"
    assert failed.message == "Error: quota exceeded" and failed.plan is not None and failed.plan.plan_id == "plan-b"
    assert hist[2].event is not None and hist[2].event.reason == "TerraformCancelled"


def test_a_retried_failure_collapsed_by_the_controller_keeps_its_fingerprint() -> None:
    """append_entries collapses a repeated failure into one entry with a new run id and finish time: its
    event has the fingerprint of the first one (the outbox sends the same failure once)."""
    obj = held(make_obj(status=applied_status()))
    record(obj["status"], [note("r1", "apply", "Failed", "ApplyFailed", NOW, message="quota")], Outcome("success"), 10)
    first = [o for o in observe.terraform_observations(obj, now=NOW) if o.stream == "history"]
    later = NOW + dt.timedelta(minutes=5)
    record(obj["status"], [note("r2", "apply", "Failed", "ApplyFailed", later, message="quota")], Outcome("success"), 10)
    second = [o for o in observe.terraform_observations(obj, now=NOW) if o.stream == "history"]
    assert [o.key for o in first] == ["r1"] and [o.key for o in second] == ["r2"]
    assert first[0].event and second[0].event and first[0].event.fingerprint == second[0].event.fingerprint


# ---- ManifestSet -----------------------------------------------------------------------------------------


def ms(status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "ManifestSet",
            "metadata": {"name": "apps", "namespace": "ns", "uid": "m-1", "generation": 2},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./k"},
            "status": status if status is not None else {}}


def ready_of(obj: dict[str, Any]) -> Observation | None:
    return streams(observe.manifestset_observations(obj, now=NOW)).get("ready")


@pytest.mark.parametrize("reason", ["ApplyFailed", "BuildFailed", "SubstitutionFailed", "PruneFailed",
                                    "HealthCheckFailed", "ArtifactFailed", "SomethingNew"])
def test_a_failed_phase_retried_is_a_failure(reason: str) -> None:
    obj = ms()
    summarize_object(obj, outcome_of_error(WaitingError(reason, f"{reason}: details", 30)), NOW)
    assert c.is_true(obj["status"]["conditions"], c.RECONCILING)  # ProgressingWithRetry beside it
    o = ready_of(obj)
    assert o is not None and o.event is not None
    assert (o.event.type, o.event.reason, o.event.severity) == ("ManifestSetFailed", reason, "error")
    assert o.event.object.kind == "ManifestSet" and o.event.message == f"{reason}: details"


@pytest.mark.parametrize("reason", sorted(c.WAITING_REASONS))
def test_waiting_for_a_source_or_dependency_is_not_a_failure(reason: str) -> None:
    obj = ms()
    summarize_object(obj, outcome_of_error(WaitingError(reason, "waiting", 30)), NOW)
    assert ready_of(obj) is None


def test_manifestset_ready_is_clear_in_progress_is_unknown_stalled_is_reported_once() -> None:
    obj = ms()
    assert ready_of(obj) is None  # never reconciled
    summarize_object(obj, Outcome("success", ready_reason="Succeeded", ready_message="applied"), NOW)
    assert ready_of(obj) == Observation("ready", None)
    mark_reconciling(obj, "Applying")
    assert ready_of(obj) is None
    summarize_object(obj, outcome_of_error(StallingError("SpecInvalid", "bad")), NOW)
    obs = streams(observe.manifestset_observations(obj, now=NOW))
    assert "ready" not in obs and obs["stalled"].event is not None


@pytest.mark.parametrize("obj", [
    {}, {"status": None}, {"status": {"conditions": "x", "plan": [], "history": {"a": 1}, "drift": "x"}},
    {"metadata": {"name": "x"}, "status": {"conditions": [None, {"type": "Ready"}], "history": [None, 1]}},
])
def test_garbage_status_does_not_crash(obj: dict[str, Any]) -> None:
    for obs in (observe.terraform_observations(obj, now=NOW), observe.manifestset_observations(obj, now=NOW)):
        assert all(o.stream in observe.STREAMS for o in obs)
