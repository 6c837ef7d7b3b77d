"""The three outcomes a reconcile step can fail with, shared by every package (conventions.md).

The summariser maps each type to conditions once, without parsing messages:
- `StallingError`: the spec (or what it points at) is wrong; retrying cannot help until it changes
  (Ready=False, Stalled=True, no requeue).
- `WaitingError`: blocked by something outside this object (a dependency, a lock); requeue after
  `after_seconds` without counting as a failure.
- `TransientError`: anything else; retry with backoff.
- `HeldError`: not a failure; the object is held for the user (a plan waiting for approval). Ready=False
  with the reason, neither Reconciling nor Stalled, settled (observedGeneration set); look again after
  `after_seconds`.
`reason` is the CamelCase, past-tense condition reason (also the Event reason); `message` is for humans
and must never contain a secret value.
"""

from __future__ import annotations

from tfcontroller.api.conditions import SPEC_INVALID


class ReconcileError(Exception):
    """Base of the three outcomes: a condition reason and a human message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


class StallingError(ReconcileError):
    """Retrying cannot help until the spec or its inputs change."""


class WaitingError(ReconcileError):
    """Blocked by something outside this object; try again after `after_seconds`."""

    def __init__(self, reason: str, message: str, after_seconds: float) -> None:
        super().__init__(reason, message)
        self.after_seconds = after_seconds


class HeldError(WaitingError):
    """Held for the user (e.g. a plan waiting for approval): not a failure, nothing in progress."""


class TransientError(ReconcileError):
    """Retry with backoff (network hiccups, conflicts, anything not recognised)."""


class SpecError(StallingError):
    """A spec breaks a rule the CRD schema cannot express; `field` names it (`spec.vars[0]`)."""

    REASON = SPEC_INVALID

    def __init__(self, field: str, message: str) -> None:
        super().__init__(self.REASON, f"{field}: {message}" if field else message)
        self.field = field
        self.detail = message
