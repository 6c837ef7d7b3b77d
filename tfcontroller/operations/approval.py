"""Approving a pending plan (design.md §4.2): what may be approved, and the one patch that approves it.

An approval names a plan id, so it is refused when nothing is pending or when another plan is pending:
the approver approves exactly what they reviewed. A pending plan no approval can apply is refused too
(409), by the one rule of api/approvable.py: a `planOnly` plan (reported, never applied, issue 20), a
plan of an object being deleted, a plan the policies deny or could not check (failing closed,
api/policy_verdict.py, issue 18). The patch carries a `resourceVersion` precondition (the object as it
was read, when the check was made) and sets, together, `tfcontroller.io/approve-plan` and
`tfcontroller.io/approved-by` — who approved, as the caller established it (`whoami` for the CLI, the
TokenReview-verified viewer for the dashboard) — so that the controller records the approver of exactly
that plan in `status.history` (api/history.py says what it trusts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfcontroller.api.approvable import AUTO_APPROVED, BEING_APPLIED, approvability
from tfcontroller.api.commands import approve_hint
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN, ANNOTATION_APPROVED_BY
from tfcontroller.api.history import Approver, approver_annotation
from tfcontroller.api.terraform_status import TerraformStatus
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Conflict, Forbidden, NotFound
from tfcontroller.kube.resources import TERRAFORMS
from tfcontroller.operations.errors import CONFLICT, FORBIDDEN, NOT_FOUND, OperationRefused

__all__ = ["APPLIED", "AUTO_APPROVED", "Approval", "Approver", "approve", "check_approvable", "field_manager"]

APPLIED = "AlreadyApplied"  # `wanted` names the plan applied last


@dataclass(frozen=True)
class Approval:
    """What an approval does: patch the annotation for `plan`, or (`done` set) nothing, because the plan is
    already approved, approved by `auto`, being applied or applied; `done` says which, for the printed
    line ("plan <id> <done>")."""

    plan: str
    done: str = ""
    reason: str = ""  # the case when `done` (api/approvable.py's reasons, or APPLIED)


def check_approvable(obj: dict[str, Any], wanted: str | None) -> Approval:
    """The approval to make, or OperationRefused saying why not. Which pending plan a person can approve is
    the one rule of api/approvable.py (also the dashboard's overview, its Approve button and the
    notifications); this adds what depends on the plan id the caller names. A plan already being
    applied, already applied, already approved, or applied without approval (`auto`) is not approved
    again: nothing changes, and the caller says so and succeeds, as a repeated `kubectl apply` reports
    "unchanged" — the request is already satisfied. Pure."""
    meta = obj["metadata"]
    name, namespace = meta["name"], meta.get("namespace") or ""
    status = TerraformStatus.of(obj.get("status"))
    case = approvability(obj)
    pending = case.plan
    where = f"{namespace}/{name}"
    target = wanted or pending
    if target and status.applying_plan == target:
        return Approval(target, "is already being applied", BEING_APPLIED)
    if target and not pending and status.last_applied_plan == target:
        return Approval(target, "was already applied", APPLIED)
    if not pending:
        raise OperationRefused(f"Terraform {where} has no pending plan: nothing to approve", NOT_FOUND)
    if wanted and wanted != pending:
        raise OperationRefused(
            f"plan {wanted} is not the pending plan of Terraform {where} (pending: {pending}); "
            f"review it with `tfcontroller plan show {name} -n {namespace}`, then "
            f"{approve_hint(namespace, name, pending)}", CONFLICT)
    if case.refusal:  # planOnly, being deleted, blocked by the policies: no approval can apply it
        raise OperationRefused(f"Terraform {where}: {case.refusal}", CONFLICT)
    return Approval(pending, case.done, "" if case.awaiting else case.reason)


def field_manager(approver: Approver | None) -> str:
    """The field manager the approval is written as (metadata.managedFields shows it)."""
    return f"tfcontroller-{approver.via}" if approver is not None else "tfcontroller"


def approve(client: KubeClient, obj: dict[str, Any], plan_id: str, approver: Approver | None) -> Approval:
    """Approve `plan_id` of Terraform `obj` (as read by the caller): refused (409) unless it is the pending
    plan, or when the object changed since it was read; nothing is written when it is already approved,
    being applied or applied. `approver` None writes no approved-by claim (the controller then records
    the approval as a bare annotation)."""
    approval = check_approvable(obj, plan_id)
    if approval.done:
        return approval
    meta = obj["metadata"]
    name, namespace = meta["name"], meta.get("namespace") or ""
    claim = approver_annotation(approval.plan, approver) if approver is not None else None
    patch = {"metadata": {"resourceVersion": meta["resourceVersion"],
                          "annotations": {ANNOTATION_APPROVE_PLAN: approval.plan, ANNOTATION_APPROVED_BY: claim}}}
    try:
        client.patch(TERRAFORMS, name, patch, namespace, field_manager=field_manager(approver))
    except Conflict:
        raise OperationRefused(f"Terraform {namespace}/{name} changed while approving; "
                               "check the pending plan and try again", CONFLICT) from None
    except NotFound:
        raise OperationRefused(f'Terraform "{name}" not found in namespace "{namespace}"', NOT_FOUND) from None
    except Forbidden as exc:
        raise OperationRefused(f"the API server refused the request ({exc.reason}): {exc.message}",
                               FORBIDDEN) from None
    return approval
