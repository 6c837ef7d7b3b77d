"""What this reconcile's Terraform runs add to `status.history` (issue 17): one entry per plan, drift check,
apply or destroy, with its outcome — failures included — and, for an apply, who approved it.

Steps only take notes (`begin` when a run starts, `end` when it produced its result) in `ctx.history`;
the frame turns the notes into entries once, in the status patch that ends the reconcile (`record`): a
note a step did not end failed with the reconcile's error (Failed and its reason; Interrupted when the
controller stopped the run), so no step has to write history on its way out and steps never call steps.
A checkpoint before the next command carries the runs that ended already (`record_ended`): the plan's
entry is stored before its apply starts, so a controller that dies during the apply does not lose it.
Runs of an earlier controller that the recovery found (runs.py: an adopted pod-mode run, an apply
interrupted by a crash) are noted by the recovery as ended runs. The pure rules (order, cap, repeated
failures, the approver) are in api/history.py.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN, ANNOTATION_APPROVED_BY
from tfcontroller.api.errors import ReconcileError
from tfcontroller.api.history import (
    APPLY,
    DESTROY,
    FAILED,
    INTERRUPTED,
    SUCCEEDED,
    Approver,
    HistoryEntry,
    annotation_manager,
    append_entries,
    approver_for,
    history_of,
)
from tfcontroller.api.terraform_status import PendingPlan
from tfcontroller.api.times import format_rfc3339
from tfcontroller.runtime.reconciler import Outcome

CANCELLED_REASONS = frozenset({"TerraformCancelled"})  # the controller stopped the run (shutdown)


@dataclass
class RunNote:
    """One run of this reconcile, as a step saw it; `outcome` "" until the step ends it."""

    run_id: str
    kind: str
    started_at: str
    revision: str = ""
    plan_id: str = ""
    add: int = 0
    change: int = 0
    destroy: int = 0
    approved_by: Approver | None = None
    outcome: str = ""
    reason: str = ""
    message: str = ""
    finished_at: str = ""
    recorded: bool = False  # already in status.history (a checkpoint carried it)
    policy: str = ""  # issue 18: the plan's policy result (policy_gate.py)
    exceptions: tuple[str, ...] = ()  # the PolicyExceptions that waived a policy for it
    imports: int = 0  # issue 20
    moves: int = 0
    replace: tuple[str, ...] = ()  # the addresses the plan was asked to re-create

    def counts_of(self, plan: PendingPlan) -> None:
        self.add, self.change, self.destroy = plan.add, plan.change, plan.destroy
        self.imports, self.moves = plan.imports, plan.moves

    def policy_of(self, recorded: Mapping[str, Any] | None) -> None:
        """Carry the plan's `status.plan.policy` result and the exceptions that waived (issue 18)."""
        if not recorded:
            return
        self.policy = str(recorded.get("result") or "")
        self.exceptions = tuple(sorted({str(r["exception"]) for r in recorded.get("results") or []
                                        if isinstance(r, Mapping) and r.get("exception")}))

    def end(self, outcome: str, reason: str, message: str = "", plan_id: str = "") -> None:
        self.outcome, self.reason, self.message = outcome, reason, message
        self.plan_id = plan_id or self.plan_id
        self.finished_at = format_rfc3339()

    def entry(self) -> HistoryEntry:
        return HistoryEntry(run_id=self.run_id, kind=self.kind, outcome=self.outcome, reason=self.reason,
                            message=self.message, revision=self.revision, plan_id=self.plan_id, add=self.add,
                            change=self.change, destroy=self.destroy, started_at=self.started_at,
                            finished_at=self.finished_at, approved_by=self.approved_by, policy=self.policy,
                            exceptions=self.exceptions, imports=self.imports, moves=self.moves,
                            replace=self.replace)


def approver_of(obj: dict[str, Any], plan_id: str, *, auto: bool, annotation: str | None) -> Approver:
    """Who approved the apply of `plan_id`: the approve-plan annotation (`annotation`, as the approval
    decision read it) approved it when it names the plan, else spec.approvePlan did; `auto` for auto (and
    a destroy on deletion, which needs no approval)."""
    meta = obj.get("metadata") or {}
    by_annotation = annotation == plan_id
    notes = meta.get("annotations") or {}
    return approver_for(plan_id, auto=auto, by_annotation=by_annotation,
                        approved_by=notes.get(ANNOTATION_APPROVED_BY),
                        manager=annotation_manager(meta, ANNOTATION_APPROVE_PLAN) if by_annotation else "")


def record_ended(status: dict[str, Any], notes: Sequence[RunNote], limit: int) -> None:
    """At a checkpoint (a patch that is sent anyway): add the runs that already ended — the plan before
    its apply starts — so that a controller that dies during the apply does not lose them."""
    ended = [n for n in notes if n.outcome and not n.recorded]
    if ended:
        record(status, ended, Outcome("success"), limit)


def _cancelled(outcome: Outcome) -> bool:
    return isinstance(outcome.error, ReconcileError) and outcome.error.reason in CANCELLED_REASONS


def settle(notes: Sequence[RunNote], outcome: Outcome) -> list[HistoryEntry]:
    """The entries of this reconcile's notes, oldest first. Pure (but for the finish time of a note the
    reconcile's end settles): a note its step did not end took the reconcile down with it, so it gets the
    reconcile's error — Interrupted when the controller cancelled the run, Failed otherwise; after a
    reconcile that ended well it succeeded with the outcome's reason."""
    out = []
    for note in notes:
        if not note.outcome:
            error = outcome.error
            if outcome.kind in ("success", "requeue", "held") or error is None:
                note.end(SUCCEEDED, outcome.ready_reason or "Succeeded", outcome.ready_message or "")
            elif isinstance(error, ReconcileError):
                note.end(INTERRUPTED if error.reason in CANCELLED_REASONS else FAILED, error.reason, error.message)
            else:
                note.end(FAILED, "Failed", str(error))
        out.append(note.entry())
    return out


def record(status: dict[str, Any], notes: Sequence[RunNote], outcome: Outcome, limit: int,
           outliving: Collection[str] = ()) -> None:
    """Add the entries of the notes not recorded yet to `status.history` (newest first, at most `limit`).
    A run this controller stopped waiting for while it goes on (`outliving`: run ids whose records stay in
    status.runs, and the reconcile was cancelled — a pod run left to the next controller on a graceful
    stop) is not over: its note is left to whoever recovers it (the adopted result, or Interrupted)."""
    left = set(outliving) if _cancelled(outcome) else set()
    fresh = [n for n in notes if not n.recorded and (n.outcome or n.run_id not in left)]
    # by start (stable): a dead run the lock handling recovered mid-plan started before that plan
    entries = settle(sorted(fresh, key=lambda n: n.started_at), outcome)
    for note in fresh:
        note.recorded = True
    history = history_of(status)
    if not entries and len(history) <= limit:
        return
    status["history"] = [e.to_status() for e in append_entries(history, entries, limit)]


RECOVERED_OPERATIONS = {"plan": "PlanInterrupted", "apply": "ApplyInterrupted"}
RECOVERED_APPLY_REASON = "ApplySucceeded"  # an unrecorded apply the state shows applied: as any applied plan


def awaits_confirmation(note: RunNote, status: Mapping[str, Any]) -> bool:
    """Pure: is this recovered apply (an Interrupted note of `interrupted`) one whose outcome only Terraform
    can tell? It ran the plan still pending in status: its result never reached the status (the status write
    after it failed, or the controller died after Terraform ended), so whether it applied is decided from
    what Terraform did (`unrecorded_apply_outcome`), not assumed Interrupted."""
    return note.kind in (APPLY, DESTROY) and bool(note.plan_id) and note.plan_id == PendingPlan.of(status).id


def unrecorded_apply_outcome(*, plan_went_stale: bool, replan_has_changes: bool | None) -> str:
    """Pure: the outcome of an apply of ours whose result never reached the status, from what Terraform
    says now. Applying its plan again found it stale (the apply saved a state after the plan was made) and a
    plan of the same inputs from that state has no changes (everything the plan would do is done): it
    applied — Succeeded, never Failed or Interrupted. Anything else (the plan still applies: it saved
    nothing; the new plan has changes: it stopped half-way; not known yet: None) — Interrupted."""
    if plan_went_stale and replan_has_changes is False:
        return SUCCEEDED
    return INTERRUPTED


def confirm_applied(note: RunNote, revision: str, how: str) -> None:
    """End a recovered apply's note as applied (its own run id, start and counts stay)."""
    where = f"run {note.run_id}"
    note.end(SUCCEEDED, RECOVERED_APPLY_REASON, f"Applied plan {note.plan_id} at {revision} ({where}; {how})")


def _operation(kind: str) -> str:
    return "apply" if kind in (APPLY, DESTROY) else "plan"


def interrupted(records: Sequence[Any], status: dict[str, Any], notes: Sequence[RunNote], now: str) -> list[RunNote]:
    """Notes for the dead runs of an earlier reconcile that the recovery found (`records`: locks.RunRecord)
    whose result never reached a status — Interrupted. Not for a run already told: noted in this reconcile
    (`notes`: an adopted result) or in status.history (the reconcile that ran it recorded its failure and
    kept the record because its command was killed and may have left the lock). An apply the status shows
    applied (its plan is lastAppliedPlan) finished: only its reconcile did not."""
    told = {(n.run_id, _operation(n.kind)) for n in notes} | \
        {(e.run_id, _operation(e.kind)) for e in history_of(status)}
    pending = PendingPlan.of(status)
    last_applied = str(status.get("lastAppliedPlan") or "")
    out = []
    for record in records:
        reason = RECOVERED_OPERATIONS.get(record.operation)
        if reason is None or (record.marker, record.operation) in told or \
                (record.operation == "apply" and record.plan and record.plan == last_applied):
            continue
        kind = record.operation
        if kind == "apply" and pending and pending.id == record.plan and pending.is_destroy:
            kind = "destroy"
        where = f" in runner Pod {record.pod}" if record.pod else f" (instance {record.instance})"
        note = RunNote(record.marker, kind, record.started_at, plan_id=record.plan)
        note.outcome, note.reason, note.finished_at = INTERRUPTED, reason, now
        note.message = f"the {record.operation} run{where} ended before its result was recorded"
        out.append(note)
    return out
