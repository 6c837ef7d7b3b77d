"""The tour's approval step, accepting an approval from anywhere (pure; `Tour.prod_approved` waits on it).

An approval is an annotation naming the plan id (design.md §4.2), whoever writes it: the dashboard's
Approve button, `tfcontroller approve` in another terminal, a bare `kubectl annotate`. So the tour does not
have to approve by itself to go on: it asks "is this plan approved yet?" of the object, and once the plan is
applied it names who approved it from `status.history` (the controller's record, api/history.py), not from
how the tour thinks it happened. With `--wait-for-approval` the tour only waits for that (a person approves
in the browser); without it the tour approves with the CLI unless someone was quicker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfcontroller.api.commands import approve_command, cli_approve_command
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN
from tfcontroller.api.history import APPLY, SUCCEEDED, history_of
from tfcontroller.api.terraform_status import TerraformStatus, lenient_str
from tfcontroller.dev.demo.services import DemoError

APPROVAL_WAIT = 3600.0  # seconds a person has for the approval with --wait-for-approval


def approved(obj: Mapping[str, Any], plan_id: str) -> bool:
    """`plan_id` of Terraform `obj` is approved: the approve-plan annotation names it (read stripped, as
    the controller reads it), or it is being applied, or it was applied. Raises DemoError when another plan
    replaced it before anyone approved it (a push meanwhile): that approval can never come."""
    status = TerraformStatus.of(obj.get("status"))
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if plan_id in (status.last_applied_plan, status.applying_plan):
        return True
    if status.pending.id == plan_id:
        return lenient_str(annotations.get(ANNOTATION_APPROVE_PLAN)).strip() == plan_id
    name = (obj.get("metadata") or {}).get("name")
    if status.pending.id:
        raise DemoError(f"plan {plan_id} of terraform/{name} was replaced by plan {status.pending.id} before it "
                        "was approved")
    if status.last_discarded_plan == plan_id:
        raise DemoError(f"plan {plan_id} of terraform/{name} was discarded as stale before it was approved")
    return False  # nothing pending for a moment (a new plan on its way): ask again


def approved_by(status: Mapping[str, Any] | None, plan_id: str) -> str:
    """Who approved the apply of `plan_id`, as the controller recorded it in `status.history`
    (`alice (dashboard)`, `alice (cli)`, `annotation (kubectl-annotate)`); "" while no successful apply of
    that plan is recorded."""
    for entry in history_of(status):
        if entry.kind == APPLY and entry.plan_id == plan_id and entry.outcome == SUCCEEDED:
            return entry.approved_by.describe() if entry.approved_by is not None else "?"
    return ""


def ask_for_approval(namespace: str, name: str, plan_id: str, page: str) -> str:
    """What the tour prints while it waits for a person: every way to approve exactly `plan_id`."""
    where = f'click "Approve plan {plan_id}" on {page}, or ' if page else ""
    return (f"waiting for your approval of plan {plan_id} (up to {APPROVAL_WAIT / 60:.0f} min): {where}run "
            f"`{cli_approve_command(namespace, name, plan_id)}` (or `{approve_command(namespace, name, plan_id)}`) "
            "in another terminal with the demo's KUBECONFIG")
