"""Status conditions as Kubernetes API conventions and kstatus define them.

Each condition has `type, status, reason, message, lastTransitionTime, observedGeneration`.
`lastTransitionTime` moves only when `status` changes, so a watcher can tell how long an object has
been not Ready; reason/message/observedGeneration are refreshed on every set. The helpers work on the
dict form stored in `.status.conditions` (what controllers read and patch) and on `Condition` objects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from tfcontroller.api.times import format_rfc3339

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"

# Condition types (design.md §3). Ready is always present; Reconciling while work is in flight;
# Stalled when retrying cannot help.
READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
PLANNED = "Planned"
APPLIED = "Applied"
DRIFTED = "Drifted"
STATE_LOCKED = "StateLocked"
OUTPUTS_WRITTEN = "OutputsWritten"
HEALTHY = "Healthy"

# Reasons shared across kinds (CamelCase, past tense; the Event reason equals it).
PROGRESSING = "Progressing"
SUCCEEDED = "ReconciliationSucceeded"
FAILED = "ReconciliationFailed"
SUSPENDED = "Suspended"
DEPENDENCY_NOT_READY = "DependencyNotReady"
SOURCE_NOT_READY = "SourceNotReady"
ARTIFACT_FAILED = "ArtifactFailed"
SPEC_INVALID = "SpecValidationFailed"
# A saved plan no longer matches the state: the normal way to plan again (design.md §4.2), never a failure
# worth a notification (terraform.errors.StalePlanError, the Terraform controller, notify.observe).
PLAN_STALE = "PlanStale"

# Ready=False reasons that mean "waiting for something else to become ready", not "failing": a source
# without an artifact yet, a dependency still reconciling. As Flux records them (Info severity), their
# Events are Normal and their log lines info; every other Ready=False reason is a failure (Warning).
WAITING_REASONS = frozenset({DEPENDENCY_NOT_READY, SOURCE_NOT_READY})




@dataclass
class Condition:
    type: str
    status: str
    reason: str
    message: str = ""
    last_transition_time: str = ""
    observed_generation: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Condition:
        gen = d.get("observedGeneration")
        return cls(
            type=str(d.get("type", "")),
            status=str(d.get("status", UNKNOWN)),
            reason=str(d.get("reason", "")),
            message=str(d.get("message", "")),
            last_transition_time=str(d.get("lastTransitionTime", "")),
            observed_generation=int(gen) if gen is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": self.last_transition_time,
        }
        if self.observed_generation is not None:
            d["observedGeneration"] = self.observed_generation
        return d


def _type_of(c: Condition | Mapping[str, Any]) -> str:
    return c.type if isinstance(c, Condition) else str(c.get("type", ""))


def find(conditions: Iterable[Condition | Mapping[str, Any]] | None, type_: str) -> Condition | None:
    """The condition of that type, as a Condition, or None."""
    for c in conditions or ():
        if _type_of(c) == type_:
            return c if isinstance(c, Condition) else Condition.from_dict(c)
    return None


def is_true(conditions: Iterable[Condition | Mapping[str, Any]] | None, type_: str) -> bool:
    c = find(conditions, type_)
    return c is not None and c.status == TRUE


def is_false(conditions: Iterable[Condition | Mapping[str, Any]] | None, type_: str) -> bool:
    c = find(conditions, type_)
    return c is not None and c.status == FALSE


def set_condition(
    conditions: list[dict[str, Any]] | list[Condition],
    type_: str,
    status: str,
    reason: str,
    message: str,
    observed_generation: int | None = None,
    now: dt.datetime | None = None,
) -> Condition:
    """Insert or update the condition of `type_` in place; return it.

    `lastTransitionTime` is kept when the status is unchanged. The list keeps its element form (dicts
    stay dicts, Condition objects stay objects) so it can be written back into a status patch.
    """
    if status not in (TRUE, FALSE, UNKNOWN):
        raise ValueError(f"condition status must be True, False or Unknown, not {status!r}")
    items = _mixed(conditions)
    for i, existing in enumerate(items):
        if _type_of(existing) != type_:
            continue
        old = existing if isinstance(existing, Condition) else Condition.from_dict(existing)
        changed = old.status != status or not old.last_transition_time
        new = Condition(type_, status, reason, message,
                        format_rfc3339(now) if changed else old.last_transition_time, observed_generation)
        items[i] = new if isinstance(existing, Condition) else new.to_dict()
        return new
    new = Condition(type_, status, reason, message, format_rfc3339(now), observed_generation)
    items.append(new if items and isinstance(items[0], Condition) else new.to_dict())
    return new


def _mixed(conditions: list[dict[str, Any]] | list[Condition]) -> list[Condition | dict[str, Any]]:
    """The list as one element type for the checker; callers keep one form per list (see set_condition)."""
    return cast("list[Condition | dict[str, Any]]", conditions)


def remove_condition(conditions: list[dict[str, Any]] | list[Condition], type_: str) -> bool:
    """Delete the condition of `type_` (failure conditions exist only while true); True if one was removed."""
    for i, existing in enumerate(_mixed(conditions)):
        if _type_of(existing) == type_:
            del conditions[i]
            return True
    return False
