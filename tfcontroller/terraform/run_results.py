"""A failed run, both ways: the runner turns the typed error it caught into a result, the controller turns
the result back into the same typed error (issue 15's run protocol, api/run_protocol.py).

The controller's steps decide on error *types*: a `StateLockedError` with its lock is reported as
StateLocked or released when its run is dead (rule §4.4), a `StalePlanError` makes the frame plan again
(§4.2), an `InitRequiredError` re-runs init, a `TimeoutExpiredError` releases the run's own lock. So a
failure crosses the process (or Pod) boundary as its reason, message, outcome kind and the few fields
those decisions read, and comes back as the class it left as. Pure; the round trip is unit-tested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tfcontroller.api import errors as api_errors
from tfcontroller.api import run_protocol as rp
from tfcontroller.api.redact import scrub
from tfcontroller.terraform.errors import (
    CancelledError,
    InitRequiredError,
    LockInfo,
    MissingVariablesError,
    StalePlanError,
    StateLockedError,
    TimeoutExpiredError,
)

_MISSING_PREFIX = "missing required variables: "


def failure_result(request: rp.RunRequest, exc: api_errors.ReconcileError, secrets: Iterable[str] = (),
                   terraform_killed: bool = False) -> rp.RunResult:
    """The result of a run that failed with `exc`; its message scrubbed of `secrets`."""
    kind = (rp.STALLING if isinstance(exc, api_errors.StallingError)
            else rp.WAITING if isinstance(exc, api_errors.WaitingError) else rp.TRANSIENT)
    lock = rp.LockHolder(exc.lock.id, exc.lock.who, exc.lock.created) if isinstance(exc, StateLockedError) else None
    after = exc.after_seconds if isinstance(exc, api_errors.WaitingError) else None
    return rp.RunResult(request.run_id, request.operation, rp.FAILED, exc.reason, scrub(exc.message, secrets), kind,
                        lock=lock, retry_after_seconds=after, terraform_killed=terraform_killed)


def _state_locked(result: rp.RunResult) -> api_errors.ReconcileError:
    lock = result.lock or rp.LockHolder("")
    return StateLockedError(LockInfo(id=lock.id, who=lock.who, created=lock.created), result.message,
                            result.retry_after_seconds or 30.0)


def _missing(result: rp.RunResult) -> api_errors.ReconcileError:
    names = result.message.removeprefix(_MISSING_PREFIX).split(", ") if result.message.startswith(_MISSING_PREFIX) \
        else []
    return MissingVariablesError(n for n in names if n)


def _same_message(exc: api_errors.ReconcileError, message: str) -> api_errors.ReconcileError:
    """A typed error whose constructor builds its own message, carrying the runner's message instead."""
    exc.message = message
    exc.args = (message,)
    return exc


_TYPED: dict[str, Callable[[rp.RunResult], api_errors.ReconcileError]] = {
    "StateLocked": _state_locked,
    "PlanStale": lambda r: StalePlanError(r.message),
    "InitRequired": lambda r: InitRequiredError(r.message),
    "MissingVariables": _missing,
    "TerraformTimedOut": lambda r: _same_message(TimeoutExpiredError(r.operation, 0), r.message),
    "TerraformCancelled": lambda r: _same_message(CancelledError(r.operation), r.message),
}


def error_of(result: rp.RunResult) -> api_errors.ReconcileError | None:
    """The typed error a failed result stands for (None when it succeeded): the Terraform class its
    reason names, else the outcome kind's class with the same reason and message."""
    if result.succeeded:
        return None
    typed = _TYPED.get(result.reason)
    if typed is not None:
        return typed(result)
    if result.failure == rp.STALLING:
        return api_errors.StallingError(result.reason, result.message)
    if result.failure == rp.WAITING:
        return api_errors.WaitingError(result.reason, result.message, result.retry_after_seconds or 30.0)
    return api_errors.TransientError(result.reason, result.message)
