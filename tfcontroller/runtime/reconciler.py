"""The reconcile frame shared by every controller (shaped like Flux's sub-reconcilers + summarize).

A controller's reconcile runs an ordered list of steps with one signature, `step(ctx, obj) ->
StepResult | None`. The loop stops at the first error, requeue or stop. Steps mark only their own
conditions (Planned, Applied, ...) and raise the typed errors of `tfcontroller.api.errors`; the
summariser then turns the outcome into Ready / Reconciling / Stalled exactly once, and `run_frame`
sends a single status patch in a `finally`, so no path out of a reconcile forgets the status.

| outcome            | Ready                    | Reconciling                  | Stalled        | next run        |
|--------------------|--------------------------|------------------------------|----------------|-----------------|
| success / stop     | True, step's reason      | removed                      | removed        | interval        |
| step requeue       | True, step's reason      | removed                      | removed        | step's delay    |
| WaitingError       | False, error's reason    | True, ProgressingWithRetry   | removed        | error's delay   |
| HeldError          | False, error's reason    | removed                      | removed        | error's delay   |
| TransientError/any | False, error's reason    | True, ProgressingWithRetry   | removed        | backoff         |
| StallingError      | False, error's reason    | removed                      | True, reason   | none (spec change) |
While a step runs, `mark_reconciling` shows its progress as Reconciling=True with Ready=Unknown.
`status.observedGeneration` is set when the run settled (success, requeue, held or stall), as Flux does.
An outcome `failed` (waiting, transient, stalled) counts towards a controller's failure counter; held
(e.g. a plan waiting for approval) does not: the object did what it could and waits for the user.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tfcontroller.api import conditions as c
from tfcontroller.api.errors import HeldError, ReconcileError, StallingError, TransientError, WaitingError
from tfcontroller.runtime.result import Result

PROGRESSING_WITH_RETRY = "ProgressingWithRetry"
DEFAULT_READY_MESSAGE = "Reconciliation succeeded"


@dataclass(frozen=True)
class StepResult:
    action: Literal["continue", "requeue", "stop"] = "continue"
    after: float | None = None
    reason: str | None = None  # Ready=True reason if the run ends well (the last step that set one wins)
    message: str | None = None


CONTINUE = StepResult()
STOP = StepResult("stop")


def requeue_after(seconds: float, reason: str | None = None, message: str | None = None) -> StepResult:
    return StepResult("requeue", seconds, reason, message)


def ready(reason: str, message: str) -> StepResult:
    """Continue, and use this Ready=True reason/message if nothing later fails."""
    return StepResult("continue", None, reason, message)


Step = Callable[[Any, dict[str, Any]], "StepResult | None"]


@dataclass(frozen=True)
class Outcome:
    kind: Literal["success", "requeue", "held", "waiting", "transient", "stalled"]
    error: BaseException | None = None
    after: float | None = None
    step: str | None = None  # the step that stopped the loop (failed, requeued or stopped)
    ready_reason: str | None = None
    ready_message: str | None = None

    @property
    def settled(self) -> bool:
        return self.kind in ("success", "requeue", "held", "stalled")

    @property
    def failed(self) -> bool:
        """The run failed (and counts as a failure); held and success do not."""
        return self.kind in ("waiting", "transient", "stalled")

    def result(self, interval: float | None = None, retry_base: float | None = None) -> Result:
        """The manager's Result: success → interval; requeue/waiting → delay; stalled → nothing;
        transient → backoff (with the object's retryInterval as base when given)."""
        if self.kind == "success":
            return Result(requeue_after=interval)
        if self.kind in ("requeue", "held", "waiting"):
            return Result(requeue_after=self.after)
        if self.kind == "stalled":
            return Result()
        return Result(error=self.error, retry_base=retry_base)


def outcome_of_error(exc: BaseException, step: str | None = None) -> Outcome:
    if isinstance(exc, StallingError):
        return Outcome("stalled", exc, step=step)
    if isinstance(exc, HeldError):
        return Outcome("held", exc, after=exc.after_seconds, step=step)
    if isinstance(exc, WaitingError):
        return Outcome("waiting", exc, after=exc.after_seconds, step=step)
    return Outcome("transient", exc, step=step)


def _step_name(step: Step) -> str:
    return getattr(step, "__name__", type(step).__name__)


def run_steps(ctx: Any, obj: dict[str, Any], steps: Sequence[Step]) -> Outcome:
    """Run steps in order until one fails, requeues or stops. Exceptions become the Outcome."""
    reason = message = None
    for step in steps:
        try:
            res = step(ctx, obj)
        except Exception as exc:  # noqa: BLE001 - every failure is summarised into conditions
            return outcome_of_error(exc, _step_name(step))
        res = res or CONTINUE
        if res.reason is not None:
            reason, message = res.reason, res.message
        if res.action == "requeue":
            return Outcome("requeue", after=res.after, step=_step_name(step), ready_reason=reason,
                           ready_message=message)
        if res.action == "stop":
            return Outcome("success", step=_step_name(step), ready_reason=reason, ready_message=message)
    return Outcome("success", ready_reason=reason, ready_message=message)


def error_reason_message(exc: BaseException | None) -> tuple[str, str]:
    """Condition reason and message for an error. Unknown exceptions get a generic reason and their
    type name plus text (our own errors never carry secret values)."""
    if isinstance(exc, ReconcileError):
        return exc.reason, exc.message
    if exc is None:
        return c.FAILED, "reconciliation failed"
    return c.FAILED, f"{type(exc).__name__}: {exc}"[:1024]


def summarize(conditions: list[dict[str, Any]], outcome: Outcome, generation: int | None,
              now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Set Ready / Reconciling / Stalled in `conditions` (in place) from the outcome; returns it."""
    if outcome.kind in ("success", "requeue"):
        c.set_condition(conditions, c.READY, c.TRUE, outcome.ready_reason or c.SUCCEEDED,
                        outcome.ready_message or DEFAULT_READY_MESSAGE, generation, now)
        c.remove_condition(conditions, c.RECONCILING)
        c.remove_condition(conditions, c.STALLED)
        return conditions
    reason, message = error_reason_message(outcome.error)
    c.set_condition(conditions, c.READY, c.FALSE, reason, message, generation, now)
    if outcome.kind == "stalled":
        c.set_condition(conditions, c.STALLED, c.TRUE, reason, message, generation, now)
        c.remove_condition(conditions, c.RECONCILING)
    elif outcome.kind == "held":
        c.remove_condition(conditions, c.RECONCILING)
        c.remove_condition(conditions, c.STALLED)
    else:
        c.set_condition(conditions, c.RECONCILING, c.TRUE, PROGRESSING_WITH_RETRY, message, generation, now)
        c.remove_condition(conditions, c.STALLED)
    return conditions


def summarize_object(obj: dict[str, Any], outcome: Outcome, now: dt.datetime | None = None) -> None:
    """Summarise into `obj['status']` in place (conditions and, when settled, observedGeneration)."""
    generation = (obj.get("metadata") or {}).get("generation")
    status = obj.setdefault("status", {})
    conds = status.setdefault("conditions", [])
    summarize(conds, outcome, generation, now)
    if outcome.settled and generation is not None:
        status["observedGeneration"] = generation


def mark_reconciling(obj: dict[str, Any], message: str, reason: str = c.PROGRESSING) -> None:
    """Progress marker for long steps ("Planning…"); patch it to show it while the step runs.

    While a run is in progress the outcome is not known, so Ready is Unknown with the same reason and
    message (as Flux marks it), and a Stalled left from an earlier spec is gone (a new attempt runs):
    the object never shows Ready=True or Stalled=True beside Reconciling=True, and a first run never
    shows conditions without Ready. The summary at the end of the run sets Ready again; Events compare
    with the status from before the run, so a run that ends as it started records none."""
    generation = (obj.get("metadata") or {}).get("generation")
    conds = obj.setdefault("status", {}).setdefault("conditions", [])
    c.set_condition(conds, c.RECONCILING, c.TRUE, reason, message, generation)
    c.set_condition(conds, c.READY, c.UNKNOWN, reason, message, generation)
    c.remove_condition(conds, c.STALLED)


@dataclass(frozen=True)
class Notice:
    """An Event worth recording for a Ready transition (the Event reason equals the condition reason).
    `recovered`: Ready turned True after a failure, and the message says from what."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str
    recovered: bool = False
    waiting: bool = False  # Ready=False with a waiting reason (conditions.WAITING_REASONS): Normal
    success_message: str = ""  # recovered: the new Ready message the recovery message quotes

    def wanted(self, quiet_success: bool) -> bool:
        """Whether a controller records it. `quiet_success`: the run records its own Normal Event for
        this success (a new artifact, applied changes, an apply), so a plain Ready=True notice would
        repeat it; failures, waits and recoveries are always recorded."""
        return self.type == "Warning" or self.recovered or self.waiting or not quiet_success


RECOVERY_DETAIL_LIMIT = 300  # characters of the old failure message quoted in a recovery Event


def failing(conditions: list[dict[str, Any]]) -> bool:
    """The object failed (not merely waits for a dependency or a user): Ready=False with a failure reason
    and either Stalled=True or Reconciling=True (the summariser's rows for stalled, transient and waiting
    outcomes). A plan held for approval has neither, so leaving it is no recovery."""
    ready_cond = c.find(conditions, c.READY)
    if ready_cond is None or ready_cond.status != c.FALSE or ready_cond.reason in c.WAITING_REASONS:
        return False
    return c.is_true(conditions, c.STALLED) or c.is_true(conditions, c.RECONCILING)


def recovery_message(old: c.Condition, new: c.Condition) -> str:
    """"Recovered from <reason>: <old message>; <new message>" (the old message cut to a readable length)."""
    detail = old.message if len(old.message) <= RECOVERY_DETAIL_LIMIT \
        else old.message[:RECOVERY_DETAIL_LIMIT - 1] + "…"
    return f"Recovered from {old.reason} ({detail}): {new.message}"


def ready_transition(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> Notice | None:
    """The Event for a Ready transition, the same rule for every controller (as Flux records them):
    - Ready turns False, or its reason/message changes: a Warning, or Normal for a waiting reason
      (`conditions.WAITING_REASONS`: a source without an artifact yet, a dependency not ready);
    - Ready turns True after a failure (`failing`): a Normal Event saying it recovered and from what;
    - Ready turns True otherwise (first success, an approval applied): a plain Normal Event.
    Nothing on a steady state, so retries of the same failure and quiet successes write no Events."""
    old, new = c.find(before, c.READY), c.find(after, c.READY)
    if new is None:
        return None
    if new.status == c.FALSE:
        if old is None or old.status != c.FALSE or (old.reason, old.message) != (new.reason, new.message):
            if new.reason in c.WAITING_REASONS:
                return Notice("Normal", new.reason, new.message, waiting=True)
            return Notice("Warning", new.reason, new.message)
        return None
    if new.status == c.TRUE and old is not None and old.status != c.TRUE:
        if failing(before):
            return Notice("Normal", new.reason, recovery_message(old, new), recovered=True,
                          success_message=new.message)
        return Notice("Normal", new.reason, new.message)
    return None


def with_notice(events: Sequence[tuple[str, str, str]], notice: Notice) -> list[tuple[str, str, str]]:
    """The run's own Events (type, reason, message) plus the Ready notice. A recovery replaces the run's
    own Event of the same success (same reason and message, e.g. the Terraform controller's
    ApplySucceeded), which it quotes whole: one Event says "Recovered from …: Applied …", not two that
    differ by that prefix. Pure."""
    own = ("Normal", notice.reason, notice.success_message)
    if notice.recovered and own in events:
        return [(notice.type, notice.reason, notice.message) if e == own else e for e in events]
    return [*events, (notice.type, notice.reason, notice.message)]


def log_outcome(logger: logging.Logger, outcome: Outcome, key: str) -> None:
    """One log line for a reconcile that did not succeed, the same level rule for every controller:
    a failure (transient, stalled, or waiting on anything but a dependency/source) is a warning naming
    the reason; waiting for a dependency or a source is info; held and success log nothing here. An
    unexpected exception (a bug of ours) keeps its traceback at debug."""
    if not outcome.failed:
        return
    reason, message = error_reason_message(outcome.error)
    level = logging.INFO if outcome.kind == "waiting" and reason in c.WAITING_REASONS else logging.WARNING
    logger.log(level, "reconcile %s reason=%s: %s", "waiting" if level == logging.INFO else "failed", reason,
               message, extra={"obj": key})
    if outcome.error is not None and not isinstance(outcome.error, ReconcileError):
        logger.debug("unexpected error in step %s", outcome.step, exc_info=outcome.error, extra={"obj": key})


def run_frame(
    ctx: Any,
    obj: dict[str, Any],
    steps: Sequence[Step],
    patch_status: Callable[[dict[str, Any], dict[str, Any]], object],
    *,
    now: dt.datetime | None = None,
) -> Outcome:
    """Run the steps on `obj`, summarise, and call `patch_status(before, after)` once, always.

    `patch_status` is typically `lambda b, a: status.patch_status_with_retry(kube, RES, b, a)`.
    """
    before = copy.deepcopy(obj)
    outcome = Outcome("transient", TransientError(c.FAILED, "reconcile interrupted"))
    try:
        outcome = run_steps(ctx, obj, steps)
    finally:
        summarize_object(obj, outcome, now)
        patch_status(before, obj)
    return outcome
