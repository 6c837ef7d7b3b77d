"""Which notification events are *current* for a Terraform or ManifestSet object, derived from its status.

Why level-based: the notification controller never receives events from the Terraform and ManifestSet
controllers (a missed or doubled call would lose or repeat a message, and those controllers would need to
know about rules). It reads each object as it is now and says, per *stream*, what state it is in:

    plan     PlanPending (a plan waits for a human) | PolicyDenied (a plan the policy blocks) | clear
    drift    DriftDetected (status.drift.fingerprint) | clear
    stalled  Stalled (condition Stalled=True) | clear
    ready    ManifestSetFailed (Ready=False with a failure reason) | clear (Ready=True)
    history  one PlanApplied / ApplyFailed per apply or destroy in status.history[] (keyed by run id)

The outbox (rule_outbox.py) compares these with what a rule remembers and queues only what is new, so
observing the same object a thousand times, or after a restart, sends nothing twice.

A stream that is *unknown* right now is left out of the list, not reported clear: while a run is in
progress (Ready=Unknown) the Stalled condition is removed and a ManifestSet's Ready says nothing, and
reporting "clear" then would forget a failure and announce it again a moment later (or announce a
recovery that did not happen). `Observation(event=None)` means "known to be clear".

Pure: plain dicts in (shaped as the controllers write them), events out; no I/O, no clock but `now`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from tfcontroller.api import conditions as c
from tfcontroller.api.approvable import approvability
from tfcontroller.api.history import APPLY, DESTROY, FAILED, INTERRUPTED, SUCCEEDED, HistoryEntry, history_of
from tfcontroller.api.policy_verdict import policy_of, verdict
from tfcontroller.api.terraform_status import PendingPlan, lenient_str
from tfcontroller.notify.event import (
    LineLike,
    NotificationEvent,
    ObjectRef,
    drift_event,
    plan_pending,
    simple_event,
)

Stream = Literal["plan", "drift", "stalled", "ready", "history"]
STREAMS: tuple[str, ...] = ("plan", "drift", "stalled", "ready", "history")
# History reasons of an apply that "failed" as the normal way to plan again (design.md §4.2): the state moved
# since the plan, so the Terraform controller discards it and plans again (controllers/terraform/steps._stale,
# reason context.PLAN_STALE; a unit test keeps the two equal). Not ApplyFailed: the new plan is the news.
NORMAL_REPLAN_REASONS = frozenset({c.PLAN_STALE})


@dataclass(frozen=True)
class Observation:
    """The state of one stream of one object. `event` None: the stream is clear now. For stream
    "history", `key` is the run id and `at` its finishedAt (RFC 3339): each entry is its own event."""

    stream: str
    event: NotificationEvent | None
    key: str = ""
    at: str = ""


def object_ref(obj: Mapping[str, Any], kind: str) -> ObjectRef:
    """The object an event is about, with the source revision it last worked on."""
    meta = _part(obj, "metadata")
    status = _part(obj, "status")
    revision = lenient_str(status.get("lastAttemptedRevision")) or lenient_str(status.get("lastAppliedRevision"))
    return ObjectRef(str(obj.get("kind") or kind), str(meta.get("namespace") or ""), str(meta.get("name") or ""),
                     str(meta.get("uid") or ""), revision)


def _part(obj: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """`metadata`, `spec` or `status` as a mapping ({} when absent or not one: status is read, not trusted)."""
    value = obj.get(name)
    return value if isinstance(value, Mapping) else {}


def _conditions(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    conds = _part(obj, "status").get("conditions")
    return [x for x in conds if isinstance(x, Mapping)] if isinstance(conds, list) else []


def _in_progress(obj: Mapping[str, Any]) -> bool:
    """A run is going on (Ready=Unknown, runtime/reconciler.mark_reconciling) or none has finished yet (no
    Ready): conditions describe no settled outcome."""
    ready = c.find(_conditions(obj), c.READY)
    return ready is None or ready.status == c.UNKNOWN


def stalled_observation(obj: Mapping[str, Any], ref: ObjectRef, now: datetime) -> list[Observation]:
    """Stalled=True (a spec that cannot succeed until someone changes it) → Stalled with its reason and
    message; clear when the last settled run is not stalled; unknown while a run is in progress."""
    cond = c.find(_conditions(obj), c.STALLED)
    if cond is not None and cond.status == c.TRUE:
        message = cond.message or f"{ref.display} is stalled ({cond.reason})"
        return [Observation("stalled", simple_event("Stalled", ref, message, reason=cond.reason, now=now))]
    if _in_progress(obj):
        return []
    return [Observation("stalled", None)]


# ---- Terraform -------------------------------------------------------------------------------------------


def terraform_observations(obj: Mapping[str, Any], *, diff: Sequence[LineLike | Mapping[str, Any]] = (),
                           dashboard_url: str = "", now: datetime | None = None) -> list[Observation]:
    """The current streams of a Terraform object (see the module docstring). `diff`: the readable lines of
    the *pending* plan (the caller passes them only when its plan id is status.plan.pending);
    `dashboard_url`: the plan's page, or ""."""
    when = now or datetime.now(UTC)
    ref = object_ref(obj, "Terraform")
    status = _part(obj, "status")
    out = plan_observation(obj, ref, diff=diff, dashboard_url=dashboard_url, now=when)
    out.append(drift_observation(status, ref, when))
    out.extend(stalled_observation(obj, ref, when))
    out.extend(history_observations(status, ref, when))
    return out


def waits_for_human(obj: Mapping[str, Any]) -> bool:
    """The pending plan waits for someone to approve it: the one rule of api/approvable.py, which the
    dashboard and `tfcontroller approve` share (manual mode, no approval names it yet, not being applied,
    not `planOnly` — reported, never applied —, the object not being deleted, not blocked by the
    policies)."""
    return approvability(obj).awaiting


def plan_observation(obj: Mapping[str, Any], ref: ObjectRef, *, diff: Sequence[LineLike | Mapping[str, Any]] = (),
                     dashboard_url: str = "", now: datetime) -> list[Observation]:
    """PolicyDenied when the pending plan's policy result blocks it (in any approval mode: nobody can
    apply it until the change or a PolicyException does); PlanPending when it waits for a human and the
    run that made it has settled; clear when no plan is pending or the pending one is about to be applied.

    Why "settled": in manual mode the controller checkpoints a new plan *before* the policy gate has
    checked it (controllers/terraform/steps.make_plan, then policy_gate.step_policy), so while that run is
    in progress (Ready=Unknown) a plan the policy will deny looks like any pending plan. Only when the run
    ends (Ready=False PlanPending, PolicyDenied, ...) is it known which of the two it is."""
    status = _part(obj, "status")
    plan = PendingPlan.of(status)
    if not plan:
        return [Observation("plan", None)]
    recorded = policy_of(status)
    if recorded is not None:
        v = verdict(recorded, plan.id)
        if v.blocked:
            return [Observation("plan", policy_denied(ref, plan, recorded, v.reason, v.message, now))]
    if not waits_for_human(obj):
        return [Observation("plan", None)]
    if _in_progress(obj):
        return []
    counts = {"add": plan.add, "change": plan.change, "destroy": plan.destroy, "import": plan.imports,
              "move": plan.moves}
    return [Observation("plan", plan_pending(ref, plan.id, counts, diff, policy=recorded,
                                             dashboard_url=dashboard_url, now=now))]


def policy_denied(ref: ObjectRef, plan: PendingPlan, recorded: Mapping[str, Any], reason: str, message: str,
                  now: datetime) -> NotificationEvent:
    """PolicyDenied for a blocked plan, with the policy rows (the formatters print them) and the verdict's
    message (the denying policies' messages); reason PolicyDenied or PolicyUnavailable (api/policy_verdict)."""
    counts = {"add": plan.add, "change": plan.change, "destroy": plan.destroy, "import": plan.imports,
              "move": plan.moves}
    base = plan_pending(ref, plan.id, counts, policy=recorded, now=now)
    assert base.plan is not None
    details = replace(base.plan, approve_command="", cli_approve_command="")  # approving cannot help
    return NotificationEvent("PolicyDenied", ref, message, "error", reason=reason, details=details, timestamp=now)


def drift_observation(status: Mapping[str, Any], ref: ObjectRef, now: datetime) -> Observation:
    """DriftDetected while status.drift.fingerprint names a current drift (controllers/terraform/drift/
    schedule.py); clear when it is "" (never checked, no drift, or resolved)."""
    drift = status.get("drift")
    drift = drift if isinstance(drift, Mapping) else {}
    fingerprint = lenient_str(drift.get("fingerprint"))
    if not fingerprint:
        return Observation("drift", None)
    resources = [a for a in (_address(r) for r in drift.get("resources") or ()) if a]
    pending = PendingPlan.of(status)
    plan_id = pending.id if pending.is_drift else ""
    return Observation("drift", drift_event(ref, resources, fingerprint, plan_id=plan_id, now=now))


def _address(item: Any) -> str:
    """A drifted resource's address: the controller writes strings (DriftReport.addresses); a mapping
    with `address` is read too, so a richer shape later does not silence drift."""
    if isinstance(item, Mapping):
        return lenient_str(item.get("address"))
    return lenient_str(item)


def history_observations(status: Mapping[str, Any], ref: ObjectRef, now: datetime) -> list[Observation]:
    """One observation per finished apply or destroy in status.history[] (oldest first): Succeeded →
    PlanApplied, Failed or Interrupted → ApplyFailed. Plans and drift checks are not news here, nor an
    apply that found its plan stale (NORMAL_REPLAN_REASONS: a normal re-plan, not a failure)."""
    out = []
    for entry in reversed(history_of(status)):
        event = history_event(entry, ref, now)
        if event is not None:
            out.append(Observation("history", event, key=entry.run_id, at=entry.finished_at))
    return out


def history_event(entry: HistoryEntry, ref: ObjectRef, now: datetime) -> NotificationEvent | None:
    if entry.kind not in (APPLY, DESTROY) or not entry.finished_at:
        return None
    what = "destroy" if entry.kind == DESTROY else "apply"
    counts = {"add": entry.add, "change": entry.change, "destroy": entry.destroy, "import": entry.imports,
              "move": entry.moves}  # shown as the message's "Changes" (formats/text.py facts)
    if entry.outcome == SUCCEEDED:
        message = entry.message or f"Applied plan {entry.plan_id}: {entry.counts}"
        return simple_event("PlanApplied", ref, message, reason=entry.reason, plan_id=entry.plan_id,
                            counts=counts, now=now)
    if entry.outcome == FAILED and entry.reason in NORMAL_REPLAN_REASONS:
        return None
    if entry.outcome in (FAILED, INTERRUPTED):
        message = entry.message or f"The {what} of plan {entry.plan_id} {entry.outcome.lower()}"
        return simple_event("ApplyFailed", ref, message, reason=entry.reason or entry.outcome,
                            plan_id=entry.plan_id, counts=counts, now=now)
    return None


# ---- ManifestSet -----------------------------------------------------------------------------------------


def manifestset_observations(obj: Mapping[str, Any], *, now: datetime | None = None) -> list[Observation]:
    """The current streams of a ManifestSet: `ready` and `stalled` (see the module docstring)."""
    when = now or datetime.now(UTC)
    ref = object_ref(obj, "ManifestSet")
    out = ready_observation(obj, ref, when)
    out.extend(stalled_observation(obj, ref, when))
    return out


def ready_observation(obj: Mapping[str, Any], ref: ObjectRef, now: datetime) -> list[Observation]:
    """ManifestSetFailed while Ready=False with a failure reason; clear when Ready=True; unknown while a
    run is in progress (Ready=Unknown), while Stalled (the stalled stream reports that) or while it only
    waits (conditions.WAITING_REASONS: a source without an artifact, a dependency not ready; Flux records
    these as info, not failures). A failed phase is retried (Ready=False with Reconciling=True
    ProgressingWithRetry): still failed, the same failure is the same fingerprint, so one message."""
    conds = _conditions(obj)
    ready = c.find(conds, c.READY)
    if ready is None or ready.status == c.UNKNOWN or c.is_true(conds, c.STALLED):
        return []  # in progress; or stalled, which the stalled stream reports (one message per problem)
    if ready.status == c.TRUE:
        return [Observation("ready", None)]
    if ready.reason in c.WAITING_REASONS:
        return []
    message = ready.message or f"{ref.display} is not ready ({ready.reason})"
    return [Observation("ready", simple_event("ManifestSetFailed", ref, message, reason=ready.reason, now=now))]
