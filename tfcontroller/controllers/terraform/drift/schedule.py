"""Drift detection for the Terraform controller: when a check is due, and what its result does to status.

Pure functions on the object's dicts (no I/O), so the schedule and the status rules are unit-tested
without Terraform or a cluster. The Terraform reconciler calls them around its plan/apply flow:

    due = drift_due(tf, now)                       → decide_plan(..., drift_due=due)
    after a drift-check plan:  check = record_check(obj, tf, report, now); emit check.notices
    after a successful apply:  cleared = record_applied(obj, now); emit cleared.notices
    requeue:                   min(own interval, seconds_until_due(tf, now))

Schedule: a check is due every `driftDetection.interval` (the api layer defaults it to `interval`),
counted from the last check, only when drift detection is enabled and the object has been applied.
Each period is stretched by a factor in [0.9, 1.1] derived from a hash of the object's uid and the
time the period started: deterministic (a restarted controller computes the same time, and
`status.drift.nextCheckAt` shows it), yet different per object and per period, so objects applied in
the same second spread out instead of planning together forever.

status.drift fields written here (outbox.py owns the notification fields next to them):
    lastCheckedAt   when the last drift check ran
    nextCheckAt     when the next one is due (informational; shortening the interval applies at once)
    lastDetectedAt  the last check that found drift
    resources[]     addresses of the resources drifted now (empty when none)
    fingerprint     DriftReport.fingerprint of the current drift; "" when none
    clearedAt       when drift last went away (reverted by hand, or remediated by an apply)
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api.terraform import Terraform
from tfcontroller.api.times import format_rfc3339, parse_rfc3339
from tfcontroller.runtime.reconciler import Notice
from tfcontroller.terraform.drift import DriftReport

# Condition reasons (the Event reason equals it).
DRIFT_DETECTED = "DriftDetected"
NO_DRIFT = "NoDriftDetected"
DRIFT_RESOLVED = "DriftResolved"
DRIFT_REMEDIATED = "DriftRemediated"

JITTER = 0.10
MAX_NAMED = 5


def jitter_factor(seed: str, spread: float = JITTER) -> float:
    """A factor in [1 - spread, 1 + spread], the same for the same seed."""
    digest = hashlib.sha256(seed.encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / float(2**64 - 1)
    return 1.0 - spread + 2.0 * spread * unit


def object_seed(obj_meta: Mapping[str, Any]) -> str:
    """The uid (stable for the object's life), else namespace/name."""
    return str(obj_meta.get("uid") or f"{obj_meta.get('namespace', '')}/{obj_meta.get('name', '')}")


def check_interval(tf: Terraform) -> float | None:
    """Seconds between drift checks, or None when drift detection is off."""
    dd = tf.spec.drift_detection
    interval = dd.interval if dd is not None else tf.spec.interval
    if (dd is not None and dd.disabled) or not interval or interval <= 0:
        return None
    return interval


def is_applied(status: Mapping[str, Any]) -> bool:
    """Something was applied: there are real resources whose drift can be checked."""
    return bool(status.get("lastAppliedRevision") or status.get("lastAppliedInputsDigest"))


def next_check_at(tf: Terraform, now: dt.datetime, seed: str | None = None) -> dt.datetime | None:
    """When the next drift check is due (None: never, because disabled or nothing applied).

    Counted from `drift.lastCheckedAt`; before the first check, from the time the object became
    Applied. The stored `nextCheckAt` is informational and never read back: recomputing from the base
    each time makes a changed interval take effect at once.
    """
    interval = check_interval(tf)
    if interval is None or not is_applied(tf.status):
        return None
    drift = tf.status.get("drift") or {}
    base = parse_rfc3339(drift.get("lastCheckedAt"))
    if base is None:
        applied = c.find(tf.status.get("conditions"), c.APPLIED)
        base = parse_rfc3339(applied.last_transition_time) if applied and applied.status == c.TRUE else None
    if base is None:
        return now  # applied before drift detection knew about it: check now, then keep the rhythm
    seed = seed or object_seed(_meta_dict(tf))
    at = base + dt.timedelta(seconds=interval * jitter_factor(f"{seed}|{format_rfc3339(base)}"))
    return at.replace(microsecond=0)  # whole seconds, as status shows it


def drift_due(tf: Terraform, now: dt.datetime) -> bool:
    """A drift check should run now (the caller still applies its own "nothing else pending" rule)."""
    if tf.spec.suspend:
        return False
    at = next_check_at(tf, now)
    return at is not None and at <= now


def seconds_until_due(tf: Terraform, now: dt.datetime) -> float | None:
    """Requeue hint: seconds until the next check (0 when due now), None when no check is scheduled."""
    at = next_check_at(tf, now)
    if at is None or tf.spec.suspend:
        return None
    return max(0.0, (at - now).total_seconds())


@dataclass
class CheckOutcome:
    """What one drift check or apply changed: the new status.drift (already stored in the object),
    whether the drift is new (a different fingerprint than before) and Events to record."""

    drifted: bool
    changed: bool
    notices: list[Notice] = field(default_factory=list)


def drift_condition_message(report: DriftReport) -> str:
    return report.summary_message(MAX_NAMED)


def record_check(
    obj: dict[str, Any], tf: Terraform, report: DriftReport, now: dt.datetime
) -> CheckOutcome:
    """Store the result of a drift check in `obj['status']` (drift fields and the Drifted condition).

    A Warning `DriftDetected` Event (addresses and attribute paths, never values) is returned when the
    drift is new or different; a Normal `DriftResolved` Event when drift seen before is gone.
    """
    status = obj.setdefault("status", {})
    drift = dict(status.get("drift") or {})
    previous_fp = str(drift.get("fingerprint") or "")
    drift["lastCheckedAt"] = format_rfc3339(now)
    generation = (obj.get("metadata") or {}).get("generation")
    conds = status.setdefault("conditions", [])
    notices: list[Notice] = []
    if report.drifted:
        drift["lastDetectedAt"] = format_rfc3339(now)
        drift["resources"] = report.addresses
        drift["fingerprint"] = report.fingerprint
        message = drift_condition_message(report)
        c.set_condition(conds, c.DRIFTED, c.TRUE, DRIFT_DETECTED, message, generation, now)
        if report.fingerprint != previous_fp:
            notices.append(Notice("Warning", DRIFT_DETECTED, report.event_message()))
    else:
        drift["resources"] = []
        drift["fingerprint"] = ""
        if previous_fp:
            drift["clearedAt"] = format_rfc3339(now)
            message = "The resources match the applied configuration again (drift reverted outside Terraform)"
            c.set_condition(conds, c.DRIFTED, c.FALSE, DRIFT_RESOLVED, message, generation, now)
            notices.append(Notice("Normal", DRIFT_RESOLVED, message))
        elif not _is_reason(conds, DRIFT_RESOLVED, DRIFT_REMEDIATED):
            c.set_condition(conds, c.DRIFTED, c.FALSE, NO_DRIFT, report.summary_message(), generation, now)
        else:  # keep how the last drift ended as the reason; refresh the generation only
            cond = c.find(conds, c.DRIFTED)
            assert cond is not None
            c.set_condition(conds, c.DRIFTED, c.FALSE, cond.reason, cond.message, generation, now)
    status["drift"] = drift
    nxt = next_check_at(_with_status(tf, status), now, object_seed(obj.get("metadata") or {}))
    if nxt is not None:
        drift["nextCheckAt"] = format_rfc3339(nxt)
    return CheckOutcome(report.drifted, report.fingerprint != previous_fp if report.drifted else bool(previous_fp),
                        notices)


def record_applied(obj: dict[str, Any], now: dt.datetime) -> CheckOutcome:
    """After a successful apply: the real infrastructure matches the configuration, so drift recorded
    before is remediated (Drifted=False, reason DriftRemediated, clearedAt). Nothing changes when no
    drift was recorded. An apply also refreshed everything, so it counts as a check for the schedule."""
    status = obj.setdefault("status", {})
    drift = dict(status.get("drift") or {})
    if not drift.get("fingerprint"):
        return CheckOutcome(False, False)
    generation = (obj.get("metadata") or {}).get("generation")
    count = len(drift.get("resources") or [])
    drift["resources"] = []
    drift["fingerprint"] = ""
    drift["clearedAt"] = format_rfc3339(now)
    status["drift"] = drift
    message = f"Remediated by an apply: {_count(count)} put back as configured"
    c.set_condition(status.setdefault("conditions", []), c.DRIFTED, c.FALSE, DRIFT_REMEDIATED, message,
                    generation, now)
    return CheckOutcome(False, True, [Notice("Normal", DRIFT_REMEDIATED, message)])


def refresh_schedule(obj: dict[str, Any], tf: Terraform, now: dt.datetime) -> None:
    """Keep `status.drift.nextCheckAt` right after any plan (every plan refreshes, so every plan moves the
    schedule), not only after drift checks. Written only once a check time exists, so an object that was
    never checked does not get a new value at every reconcile."""
    status = obj.setdefault("status", {})
    drift = status.get("drift")
    if not isinstance(drift, dict) or not drift.get("lastCheckedAt"):
        return
    nxt = next_check_at(_with_status(tf, status), now, object_seed(obj.get("metadata") or {}))
    if nxt is not None and drift.get("nextCheckAt") != format_rfc3339(nxt):
        status["drift"] = {**drift, "nextCheckAt": format_rfc3339(nxt)}


def clear_when_disabled(obj: dict[str, Any], tf: Terraform) -> None:
    """Drift detection turned off: drop the Drifted condition and the schedule, keep the history
    (and the notification fields, so a pending "resolved" mail is not lost)."""
    if check_interval(tf) is not None:
        return
    status = obj.setdefault("status", {})
    c.remove_condition(status.setdefault("conditions", []), c.DRIFTED)
    drift = status.get("drift")
    if isinstance(drift, dict) and "nextCheckAt" in drift:
        status["drift"] = {k: v for k, v in drift.items() if k != "nextCheckAt"}


def _is_reason(conds: list[dict[str, Any]], *reasons: str) -> bool:
    cond = c.find(conds, c.DRIFTED)
    return cond is not None and cond.status == c.FALSE and cond.reason in reasons


def _count(n: int) -> str:
    return "1 resource" if n == 1 else f"{n} resources"


def _meta_dict(tf: Terraform) -> dict[str, Any]:
    return {"uid": tf.meta.uid, "namespace": tf.meta.namespace, "name": tf.meta.name}


def _with_status(tf: Terraform, status: dict[str, Any]) -> Terraform:
    return Terraform(tf.meta, tf.spec, status)
