"""The tour's approval step accepts an approval from anywhere (tfcontroller/dev/demo/approval.py): an approval is
the approve-plan annotation naming the plan, whoever wrote it, and the approver the tour reports is the one the
controller recorded in `status.history`. Inputs of every kind: not approved yet, approved by the dashboard, the
CLI or a bare `kubectl annotate` (also with stray whitespace), an annotation naming another plan, the plan
being applied or applied (the annotation gone), replaced by a newer plan or discarded as stale before anyone
approved it, and a history naming other plans or a failed apply."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN
from tfcontroller.dev.demo.approval import approved, approved_by, ask_for_approval
from tfcontroller.dev.demo.services import DemoError

PLAN = "plan-main-abc-1"


def tf(status: dict[str, Any], annotation: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "app-stack-prod", "namespace": "default"}
    if annotation is not None:
        meta["annotations"] = {ANNOTATION_APPROVE_PLAN: annotation}
    return {"kind": "Terraform", "metadata": meta, "status": status}


PENDING = {"plan": {"pending": PLAN}}
APPLYING = {"plan": {"pending": PLAN}, "runs": [{"operation": "apply", "plan": PLAN}],
            "conditions": [{"type": "Reconciling", "status": "True"}]}


@pytest.mark.parametrize(("obj", "want"), [
    (tf(PENDING), False),                                        # waits for someone
    (tf(PENDING, PLAN), True),                                   # dashboard, CLI or kubectl annotate: the same annotation
    (tf(PENDING, f"  {PLAN}\n"), True),                          # read stripped, as the controller reads it
    (tf(PENDING, "plan-main-abc-0"), False),                     # an earlier plan's approval approves nothing here
    (tf(PENDING, ""), False),
    (tf(APPLYING), True),                                        # being applied
    (tf({"lastAppliedPlan": PLAN}), True),                       # applied; the annotation may be gone
    (tf({"lastAppliedPlan": PLAN, "plan": {"pending": "plan-main-def-2"}}), True),  # applied, a newer plan since
    (tf({}), False),                                             # nothing pending for a moment
])
def test_an_approval_counts_whoever_wrote_it(obj: dict[str, Any], want: bool) -> None:
    assert approved(obj, PLAN) is want


@pytest.mark.parametrize(("status", "said"), [
    ({"plan": {"pending": "plan-main-def-2"}}, "replaced by plan plan-main-def-2"),
    ({"lastDiscardedPlan": PLAN}, "discarded as stale"),
])
def test_a_plan_that_can_no_longer_be_approved_ends_the_wait_saying_why(status: dict[str, Any], said: str) -> None:
    with pytest.raises(DemoError, match=said):
        approved(tf(status, annotation=None), PLAN)


def apply(plan: str, outcome: str = "Succeeded", **approver: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"runId": "r", "kind": "apply", "outcome": outcome, "planId": plan}
    if approver:
        entry["approvedBy"] = approver
    return entry


@pytest.mark.parametrize(("history", "want"), [
    ([apply(PLAN, username="alice", via="dashboard")], "alice (dashboard)"),
    ([apply(PLAN, username="bob", groups=["ops"], via="cli")], "bob (cli)"),
    ([apply(PLAN, via="annotation", manager="kubectl-annotate")], "annotation (kubectl-annotate)"),
    ([apply(PLAN)], "?"),                                          # recorded, approver unknown
    ([apply("plan-main-abc-0", username="eve", via="cli")], ""),   # another plan's apply
    ([apply(PLAN, "Failed", username="alice", via="dashboard")], ""),  # not applied (yet)
    ([{"kind": "plan", "planId": PLAN, "outcome": "Succeeded"}], ""),
    ([], ""),
])
def test_the_approver_is_the_one_the_controller_recorded(history: list[dict[str, Any]], want: str) -> None:
    assert approved_by({"history": history}, PLAN) == want


def test_the_tour_asks_with_every_way_to_approve_that_plan() -> None:
    page = "http://127.0.0.1:4000/terraform/default/app-stack-prod"
    text = ask_for_approval("default", "app-stack-prod", PLAN, page)
    assert f'"Approve plan {PLAN}" on {page}' in text
    assert f"tfcontroller approve app-stack-prod --plan {PLAN} -n default" in text
    assert f"kubectl annotate terraform/app-stack-prod -n default tfcontroller.io/approve-plan={PLAN} --overwrite" in text
    assert "on http" not in ask_for_approval("default", "app-stack-prod", PLAN, "")  # no dashboard, no page
