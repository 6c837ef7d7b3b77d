"""The approval rule shared by the CLI and the dashboard (operations/approval.py), on plain dicts: only the
pending plan is approvable (404 nothing pending, 409 another plan), and what is already approved, being
applied or applied is reported as done, not approved again."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.approvable import ALREADY_APPROVED, AUTO_APPROVED
from tfcontroller.api.history import VIA_CLI, VIA_DASHBOARD, Approver
from tfcontroller.operations.approval import Approval, check_approvable, field_manager
from tfcontroller.operations.errors import OperationRefused

PLAN = "plan-main-0123456789-abcdef01"
OTHER = "plan-main-0123456789-99999999"


def tf(pending: str = PLAN, annotations: dict[str, str] | None = None, spec: dict[str, Any] | None = None,
       **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "app", "namespace": "team-a", "annotations": annotations or {}},
            "spec": spec or {}, "status": {"plan": {"pending": pending}, **status}}


def test_the_pending_plan_is_approvable_named_or_not() -> None:
    assert check_approvable(tf(), None) == Approval(PLAN)
    assert check_approvable(tf(), PLAN) == Approval(PLAN)


@pytest.mark.parametrize(("obj", "wanted", "status", "words"), [
    (tf(""), None, 404, "has no pending plan"),
    (tf(""), PLAN, 404, "has no pending plan"),
    (tf(), OTHER, 409, f"plan {OTHER} is not the pending plan of Terraform team-a/app (pending: {PLAN})"),
])
def test_refusals_carry_a_status(obj: dict[str, Any], wanted: str | None, status: int, words: str) -> None:
    with pytest.raises(OperationRefused) as caught:
        check_approvable(obj, wanted)
    assert caught.value.status == status and words in caught.value.message


def test_done_cases() -> None:
    approved = tf(annotations={"tfcontroller.io/approve-plan": PLAN})
    assert check_approvable(approved, PLAN).done.startswith("is already approved")
    applied = tf("", lastAppliedPlan=PLAN)
    assert check_approvable(applied, PLAN).done == "was already applied"
    applying = tf(PLAN, runs=[{"marker": "m", "operation": "apply", "plan": PLAN}],
                  conditions=[{"type": "Reconciling", "status": "True"}])
    assert check_approvable(applying, PLAN).done == "is already being applied"


def test_field_manager_names_the_way() -> None:
    assert field_manager(Approver("a", (), VIA_CLI)) == "tfcontroller-cli"
    assert field_manager(Approver("a", (), VIA_DASHBOARD)) == "tfcontroller-dashboard"
    assert field_manager(None) == "tfcontroller"


def _policy(result: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"pending": PLAN, "policy": {"result": result, "results": rows}}


@pytest.mark.parametrize(("result", "row", "words"), [
    ("denied", {"policy": "team-a/protect", "result": "denied", "messages": ["aws_dynamodb_table.orders deleted"]},
     "team-a/protect: aws_dynamodb_table.orders deleted"),
    ("error", {"policy": "team-a/broken", "result": "error", "messages": ["main.rego:4:3: unexpected token"]},
     "team-a/broken: main.rego:4:3: unexpected token"),
])
def test_a_plan_the_policies_block_is_not_approvable(result: str, row: dict[str, Any], words: str) -> None:
    """Issue 18: the controller would never apply it, so neither the CLI nor the dashboard approves it."""
    obj = tf()
    obj["status"]["plan"] = _policy(result, [row])
    for wanted in (None, PLAN):
        with pytest.raises(OperationRefused) as caught:
            check_approvable(obj, wanted)
        assert caught.value.status == 409 and words in caught.value.message and PLAN in caught.value.message


@pytest.mark.parametrize(("result", "row"), [
    ("warned", {"policy": "team-a/tags", "result": "warned", "messages": ["no owner tag"]}),
    ("warned", {"policy": "team-a/protect", "result": "waived", "messages": ["deleted"], "exception": "e1"}),
    ("passed", {"policy": "team-a/protect", "result": "passed"}),
])
def test_warned_waived_and_passed_plans_are_approvable(result: str, row: dict[str, Any]) -> None:
    obj = tf()
    obj["status"]["plan"] = _policy(result, [row])
    assert check_approvable(obj, PLAN) == Approval(PLAN)


@pytest.mark.parametrize("spec", [
    {"planOnly": True}, {"planOnly": True, "approvePlan": "auto"}, {"planOnly": True, "approvePlan": PLAN},
    {"planOnly": True, "destroy": True}, {"planOnly": True, "suspend": True},
])
def test_a_plan_only_plan_is_not_approvable(spec: dict[str, Any]) -> None:
    """Issue 20 × 17: a planOnly plan is reported, never applied, so an approval would report success for
    nothing: 409 saying why, named or not (api/approvable.py, the rule the dashboard's button shares)."""
    for wanted in (None, PLAN):
        with pytest.raises(OperationRefused) as caught:
            check_approvable(tf(spec=spec), wanted)
        assert caught.value.status == 409
        assert caught.value.message.startswith(f"Terraform team-a/app: spec.planOnly: plan {PLAN} is reported, "
                                               "never applied")
    with pytest.raises(OperationRefused) as caught:  # another plan named: that is what is wrong first
        check_approvable(tf(spec={"planOnly": True}), OTHER)
    assert caught.value.status == 409 and "is not the pending plan" in caught.value.message


def test_a_plan_of_an_object_being_deleted_is_not_approvable() -> None:
    obj = tf()
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    with pytest.raises(OperationRefused) as caught:
        check_approvable(obj, PLAN)
    assert caught.value.status == 409 and "being deleted" in caught.value.message


def test_auto_and_spec_approvals_need_no_annotation() -> None:
    """`auto` applies without an approval, and spec.approvePlan naming the plan is one: nothing to write."""
    auto = check_approvable(tf(spec={"approvePlan": "auto"}), PLAN)
    assert auto.done == "needs no approval: spec.approvePlan is auto, so the controller applies it"
    assert auto.reason == AUTO_APPROVED
    named = check_approvable(tf(spec={"approvePlan": PLAN}), None)
    assert named.done == "is already approved; the controller applies it" and named.reason == ALREADY_APPROVED
    resumed = check_approvable(tf(spec={"suspend": True}, annotations={"tfcontroller.io/approve-plan": PLAN}), PLAN)
    assert resumed.done == "is already approved; it is applied once the object is resumed"
    assert check_approvable(tf(spec={"suspend": True}), PLAN) == Approval(PLAN)  # suspended: still approvable
