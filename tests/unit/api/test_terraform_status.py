"""The typed view of a Terraform's status (api/terraform_status.py) that the steps, drift hooks, lock
recovery and CLI read: absent, null and mistyped fields mean "none" the same way for every reader, the
pending plan's counts render as the conditions and Events print them, and the approval history."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.terraform import Terraform
from tfcontroller.api.terraform_status import PendingPlan, TerraformStatus

PLAN = {"pending": "plan-main-0123456789-abcdef01", "add": 2, "change": 1, "destroy": 0,
        "createdAt": "2026-01-01T00:00:00Z", "isDrift": True, "isDestroy": False}


@pytest.mark.parametrize("status", [None, {}, {"plan": None}, {"plan": "x"}, {"plan": {"pending": ""}},
                                    {"plan": {"pending": None, "add": "many"}}])
def test_no_pending_plan_reads_the_same_from_every_shape(status: Any) -> None:
    plan = PendingPlan.of(status)
    assert plan == PendingPlan() and not plan and plan.id == ""


def test_pending_plan_fields_and_counts() -> None:
    plan = PendingPlan.of({"plan": PLAN})
    assert plan and (plan.id, plan.add, plan.change, plan.destroy) == (PLAN["pending"], 2, 1, 0)
    assert plan.is_drift and not plan.is_destroy and plan.created_at == PLAN["createdAt"]
    assert plan.counts() == "2 to add, 1 to change, 0 to destroy"
    assert plan.done_counts() == "2 added, 1 changed, 0 destroyed"


def test_status_fields_history_and_used_state() -> None:
    view = TerraformStatus.of({"plan": PLAN, "inputsDigest": "sha256:a", "lastAppliedPlan": "p1",
                               "lastDiscardedPlan": None, "lastAppliedResourceCount": "3",
                               "lastPlannedRevision": "main@sha1:x", "observedGeneration": 4})
    assert view.pending.id == PLAN["pending"] and view.inputs_digest == "sha256:a"
    assert view.plan_history == {"p1"} and view.last_applied_resource_count == 3
    assert view.used_state and view.observed_generation == 4
    empty = TerraformStatus.of(None)
    assert empty == TerraformStatus() and not empty.used_state and empty.plan_history == set()


def test_the_object_and_the_view_agree() -> None:
    obj = {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
           "metadata": {"name": "web", "namespace": "ns", "generation": 1},
           "spec": {"sourceRef": {"name": "repo"}, "interval": "1m"}, "status": {"plan": PLAN}}
    tf = Terraform.from_dict(obj)
    assert tf.pending_plan == tf.status_view.pending.id == PLAN["pending"]


RECONCILING = {"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "Applying plan p2"}


@pytest.mark.parametrize(("status", "want"), [
    ({"runs": [{"marker": "m", "operation": "apply", "plan": "p2"}], "conditions": [RECONCILING]}, "p2"),
    # the newest record of an apply wins; a plan or force-unlock record is no apply
    ({"runs": [{"marker": "a", "operation": "apply", "plan": "p1"}, {"marker": "b", "operation": "plan"},
               {"marker": "c", "operation": "apply", "plan": "p2"}], "conditions": [RECONCILING]}, "p2"),
    ({"runs": [{"marker": "m", "operation": "plan"}], "conditions": [RECONCILING]}, ""),
    # no run in progress (the run ended): nothing is being applied
    ({"runs": [{"marker": "m", "operation": "apply", "plan": "p2"}], "conditions": []}, ""),
    ({"runs": [{"marker": "m", "operation": "apply", "plan": "p2"}],
      "conditions": [{**RECONCILING, "status": "False"}]}, ""),
    ({"runs": "garbage", "conditions": [RECONCILING]}, ""),
    ({}, ""),
])
def test_applying_plan_reads_the_run_record(status: dict[str, Any], want: str) -> None:
    assert TerraformStatus.of(status).applying_plan == want
