"""The one rule of which pending plan a person can approve (api/approvable.py), on plain dicts: a row per
case (awaiting; done — being applied, `auto`, approved by spec or annotation; refused — nothing pending,
planOnly in every mode and plan kind, being deleted, blocked by the policies), the order in which they win,
lenient reading of malformed fields, and the names tied to the controller's."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.approvable import (
    ALREADY_APPROVED,
    AUTO_APPROVED,
    AWAITING_APPROVAL,
    BEING_APPLIED,
    BEING_DELETED,
    NO_PENDING_PLAN,
    PLAN_ONLY,
    Approvability,
    approvability,
)
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN

PLAN = "plan-main-0123456789-abcdef01"
OLD = "plan-main-0123456789-99999999"
APPLYING = {"runs": [{"operation": "apply", "plan": PLAN}],
            "conditions": [{"type": "Reconciling", "status": "True"}]}


def tf(*, spec: dict[str, Any] | None = None, plan: dict[str, Any] | None = None, annotation: str | None = None,
       deleting: bool = False, **status: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "app", "namespace": "team-a",
                            "annotations": {ANNOTATION_APPROVE_PLAN: annotation} if annotation is not None else {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"kind": "Terraform", "metadata": meta, "spec": spec or {},
            "status": {"plan": {"pending": PLAN, "add": 1, **(plan or {})}, **status}}


def policy(result: str) -> dict[str, Any]:
    return {"policy": {"result": result, "results": [
        {"policy": "team-a/protect", "result": result, "messages": ["db deleted"]}]}}


@pytest.mark.parametrize(("obj", "reason"), [
    # waits for a person: manual mode, nothing names it yet (or only another, older plan)
    (tf(), AWAITING_APPROVAL),
    (tf(spec={"approvePlan": ""}), AWAITING_APPROVAL),
    (tf(annotation=OLD), AWAITING_APPROVAL),
    (tf(spec={"approvePlan": OLD}), AWAITING_APPROVAL),
    (tf(plan=policy("warned")), AWAITING_APPROVAL),  # warnings never block
    (tf(plan=policy("passed")), AWAITING_APPROVAL),
    (tf(plan={"isDrift": True}), AWAITING_APPROVAL),  # a drift remediation plan (design.md §4.3)
    (tf(plan={"isDestroy": True}, spec={"destroy": True}), AWAITING_APPROVAL),
    (tf(spec={"suspend": True}), AWAITING_APPROVAL),  # the approval stands; applied once resumed
    (tf(runs=[{"operation": "apply", "plan": PLAN}]), AWAITING_APPROVAL),  # a record without Reconciling: done
    (tf(**APPLYING, spec={"planOnly": False}), BEING_APPLIED),
    # issue 20: spec.planOnly — reported, never applied — whatever else says "apply"
    (tf(spec={"planOnly": True}), PLAN_ONLY),
    (tf(spec={"planOnly": True, "approvePlan": "auto"}), PLAN_ONLY),
    (tf(spec={"planOnly": True, "approvePlan": PLAN}), PLAN_ONLY),
    (tf(spec={"planOnly": True}, annotation=PLAN), PLAN_ONLY),
    (tf(spec={"planOnly": True, "destroy": True}, plan={"isDestroy": True}), PLAN_ONLY),
    (tf(spec={"planOnly": True}, plan={"isDrift": True}), PLAN_ONLY),
    (tf(spec={"planOnly": True, "suspend": True}), PLAN_ONLY),
    (tf(spec={"planOnly": True}, plan=policy("denied")), PLAN_ONLY),
    # issue 18: blocked by the policies, in any mode
    (tf(plan=policy("denied")), "PolicyDenied"),
    (tf(plan=policy("error")), "PolicyUnavailable"),
    (tf(plan=policy("denied"), spec={"approvePlan": "auto"}), "PolicyDenied"),
    (tf(plan=policy("denied"), annotation=PLAN), "PolicyDenied"),
    # the deletion discards the pending plan (a destroy on deletion is applied without approval)
    (tf(deleting=True), BEING_DELETED),
    (tf(deleting=True, spec={"planOnly": True}), BEING_DELETED),
    (tf(deleting=True, **APPLYING), BEING_APPLIED),  # the deletion's destroy plan, being applied
    # nothing to ask: applied without approval, or approved already (read stripped, as the controller does)
    (tf(spec={"approvePlan": "auto"}), AUTO_APPROVED),
    (tf(spec={"approvePlan": PLAN}), ALREADY_APPROVED),
    (tf(annotation=PLAN), ALREADY_APPROVED),
    (tf(annotation=f" {PLAN}\n"), ALREADY_APPROVED),
    (tf(**APPLYING), BEING_APPLIED),
    (tf(**APPLYING, spec={"approvePlan": "auto"}), BEING_APPLIED),
    (tf(plan={"pending": ""}), NO_PENDING_PLAN),
    (tf(plan={"pending": ""}, spec={"planOnly": True}), NO_PENDING_PLAN),
])
def test_each_case(obj: dict[str, Any], reason: str) -> None:
    case = approvability(obj)
    assert case.reason == reason
    assert case.plan == ("" if reason == NO_PENDING_PLAN else PLAN)
    # exactly one of: awaiting, done, refused
    assert [case.awaiting, bool(case.done), bool(case.refusal)].count(True) == 1
    assert bool(case.why_not) == (not case.awaiting)


def test_plan_only_says_why_and_what_to_change() -> None:
    case = approvability(tf(spec={"planOnly": True}))
    assert case.refusal.startswith("spec.planOnly: ")
    assert f"plan {PLAN} is reported, never applied" in case.refusal
    assert "set spec.planOnly to false" in case.refusal
    assert case.why_not == case.refusal


def test_blocked_plans_carry_the_verdicts_message() -> None:
    case = approvability(tf(plan=policy("denied")))
    assert "team-a/protect: db deleted" in case.refusal and "PolicyException" in case.refusal


def test_done_reads_after_the_plan_id_and_says_what_happens_next() -> None:
    assert approvability(tf(annotation=PLAN)).done == "is already approved; the controller applies it"
    assert approvability(tf(annotation=PLAN, spec={"suspend": True})).done == (
        "is already approved; it is applied once the object is resumed")
    assert approvability(tf(spec={"approvePlan": "auto"})).done == (
        "needs no approval: spec.approvePlan is auto, so the controller applies it")
    assert approvability(tf(**APPLYING)).why_not == f"Plan {PLAN} is already being applied."
    assert "being deleted" in approvability(tf(deleting=True)).refusal


@pytest.mark.parametrize("obj", [
    {}, {"status": None}, {"status": {"plan": "garbage"}}, {"status": {"plan": {"pending": 7}}, "spec": None},
    {"metadata": None, "spec": [], "status": {"plan": {"pending": ["x"]}}},
])
def test_malformed_objects_have_no_pending_plan(obj: dict[str, Any]) -> None:
    assert approvability(obj).reason in (NO_PENDING_PLAN, AWAITING_APPROVAL)
    assert approvability({"status": {"plan": "garbage"}}) == Approvability("", NO_PENDING_PLAN, refusal=(
        "There is no pending plan: nothing to approve."))


def test_malformed_annotations_and_spec_values_read_as_absent() -> None:
    obj = tf()
    obj["metadata"]["annotations"] = ["not", "a", "map"]
    obj["spec"] = {"approvePlan": {"x": 1}, "planOnly": "yes"}  # the API server's schema refuses both
    assert approvability(obj).awaiting


def test_names_are_the_controllers() -> None:
    """The reasons the controller itself reports for the same cases, and its `auto`."""
    from tfcontroller.controllers.terraform import context
    from tfcontroller.controllers.terraform import policy as controller_policy

    assert context.PLAN_ONLY == PLAN_ONLY
    assert controller_policy.APPROVE_AUTO == "auto"
