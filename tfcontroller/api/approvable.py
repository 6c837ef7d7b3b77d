"""Whether a person can approve a Terraform's pending plan: one rule, read from the object alone, for
every place that asks — the dashboard's overview (is the object *pending*, counted as waiting for
approval), its Terraform page (Approve enabled, or disabled saying why), `tfcontroller approve` and the
dashboard's approve action (operations/approval.check_approvable: approve, refuse with 409, or report
"done" without writing) and the notifications (notify/observe.py: a PlanPending message asks a human).

Why one rule: each place used to answer on its own, and they disagreed (issue 20's `planOnly` was known to
the notifications only, so the dashboard counted a plan-only object as waiting and the CLI "approved" a
plan nothing would ever apply). The controller's own decision (controllers/terraform/steps.step_apply,
policy.decide_approval, policy_gate) is what this rule predicts; tests/unit/api/test_approvable.py has a
row per case.

Every pending plan is in exactly one of these, checked in this order:

| reason              | what the controller does with the plan            | an approval     |
|---------------------|---------------------------------------------------|-----------------|
| NoPendingPlan       | nothing is pending                                | refused (404)   |
| BeingApplied        | a run of ours is applying it (status.runs[])      | done, unchanged |
| BeingDeleted        | deletion discards it (a destroy on deletion is    | refused (409)   |
|                     | planned and applied by the controller itself)     |                 |
| PlanOnly            | spec.planOnly: reported, never applied (a destroy | refused (409)   |
|                     | plan of a planOnly object too)                    |                 |
| PolicyDenied /      | the policies block it (api/policy_verdict.py):    | refused (409)   |
| PolicyUnavailable   | neither auto nor an approval applies it           |                 |
| AutoApproved        | spec.approvePlan is `auto`: applied without one   | done, unchanged |
| AlreadyApproved     | spec.approvePlan or the approve-plan annotation   | done, unchanged |
|                     | names it (read stripped, as the controller reads) |                 |
| AwaitingApproval    | held until a person approves it                   | written         |

Deliberately *not* reasons to refuse:
- `spec.suspend`: the approval binds to the plan and is applied when the object is resumed (the CLI says
  so); a suspended object is shown as suspended, not pending, by the overview's own precedence.
- An approval naming another plan (Ready=False ApprovalRefused): this plan still waits for its own.
- A plan whose inputs changed since it was made: only the controller can compute the inputs digest; it
  re-plans, and an approval of the old id then names no pending plan (design.md §4.2), never a wrong one.
- A run in progress (Ready=Unknown): the plan checkpointed before the policy gate ran may still be
  denied; the gate runs before any apply, so an early approval cannot apply a denied plan. (The
  notifications wait for the run to settle before sending PlanPending: notify/observe.py.)
Pure; imports only api/.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN, APPROVE_AUTO
from tfcontroller.api.policy_verdict import policy_of, verdict
from tfcontroller.api.terraform_status import PendingPlan, applying_of, lenient_str

NO_PENDING_PLAN = "NoPendingPlan"
BEING_APPLIED = "BeingApplied"
BEING_DELETED = "BeingDeleted"
PLAN_ONLY = "PlanOnly"
AUTO_APPROVED = "AutoApproved"
ALREADY_APPROVED = "AlreadyApproved"
AWAITING_APPROVAL = "AwaitingApproval"


@dataclass(frozen=True)
class Approvability:
    """What a person's approval of the pending plan `plan` would do. Exactly one of: `awaiting` (an
    approval is what the plan waits for), `done` (a predicate after "plan <id> ": nothing to write, the
    request is already satisfied) or `refusal` (a sentence saying why no approval can help, and what to
    fix). `reason` is the CamelCase name of the case (module docstring)."""

    plan: str
    reason: str
    done: str = ""
    refusal: str = ""

    @property
    def awaiting(self) -> bool:
        return self.reason == AWAITING_APPROVAL

    @property
    def why_not(self) -> str:
        """Why no approval is asked for, as a sentence ("" when the plan awaits one): the Approve button's
        disabled reason."""
        if self.refusal:
            return self.refusal
        return f"Plan {self.plan} {self.done}." if self.done else ""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def approvability(obj: Mapping[str, Any]) -> Approvability:
    """The case of `obj`'s pending plan (module docstring), from the object as read. Pure; status and
    annotations are read leniently (a malformed field means what its absence means)."""
    meta, spec, status = _mapping(obj.get("metadata")), _mapping(obj.get("spec")), _mapping(obj.get("status"))
    plan = PendingPlan.of(status).id
    if not plan:
        return Approvability("", NO_PENDING_PLAN, refusal="There is no pending plan: nothing to approve.")
    if applying_of(status) == plan:
        return Approvability(plan, BEING_APPLIED, done="is already being applied")
    if meta.get("deletionTimestamp"):
        return Approvability(plan, BEING_DELETED, refusal=(
            f"The object is being deleted (metadata.deletionTimestamp): plan {plan} is discarded, never "
            "applied by an approval (with spec.destroyResourcesOnDeletion the controller plans and applies "
            "the destroy itself)."))
    if spec.get("planOnly") is True:
        return Approvability(plan, PLAN_ONLY, refusal=(
            f"spec.planOnly: plan {plan} is reported, never applied, so there is nothing to approve; set "
            "spec.planOnly to false if this object should apply its plans."))
    recorded = policy_of(status)
    if recorded is not None and (v := verdict(recorded, plan)).blocked:
        return Approvability(plan, v.reason, refusal=v.message)
    applies = "it is applied once the object is resumed" if spec.get("suspend") is True \
        else "the controller applies it"
    spec_approve = lenient_str(spec.get("approvePlan")).strip()
    if spec_approve == APPROVE_AUTO:
        return Approvability(plan, AUTO_APPROVED, done=f"needs no approval: spec.approvePlan is auto, so {applies}")
    annotation = lenient_str(_mapping(meta.get("annotations")).get(ANNOTATION_APPROVE_PLAN)).strip()
    if plan in (spec_approve, annotation):
        return Approvability(plan, ALREADY_APPROVED, done=f"is already approved; {applies}")
    return Approvability(plan, AWAITING_APPROVAL)
