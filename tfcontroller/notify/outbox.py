"""When to send drift mail: deduplication, the "resolved" follow-up and retries, as pure functions.

Everything that must survive a controller restart lives in the Terraform object's `status.drift`, so a
restarted controller neither re-sends a report nor forgets one that failed. Fields this module writes
(all optional; a merge patch with `None` removes a field):

    notifiedFingerprint   fingerprint of the last drift report delivered. Removed when the "resolved"
                          mail for it is delivered, so the same drift coming back later is reported again.
    notifiedResources[]   addresses named in that report (the "resolved" mail lists them, because by then
                          `resources` is already empty).
    notifiedAt            RFC 3339 time of the last delivered notification.
    pendingNotification   a notification decided but not delivered yet:
        kind              "drift" | "resolved"
        fingerprint       the drift fingerprint it is about
        resources[]       the addresses it names (so it can still be sent once the drift has cleared)
        attempts          failed attempts so far
        nextAttemptAt     RFC 3339; not attempted before then (exponential backoff)
        lastError         "<Reason>: <message>" of the last failure (never a secret)
        since             RFC 3339 time it became pending

Read, written by the reconciler: `fingerprint` and `resources[]` (the drift currently detected; an empty
or absent fingerprint means none).

Rules (design.md §4 rule 6):
- current drift fingerprint differs from notifiedFingerprint → a "drift" report (one per fingerprint);
- no drift now but a fingerprint was notified → one "resolved" mail;
- drift that cleared (remediated at once, or reverted) before its report could be delivered is still
  reported: the pending "drift" mail is retried until delivered, and the "resolved" mail follows it —
  a notification that could not be sent is retried, never dropped;
- otherwise nothing; a pending notification that is no longer wanted (a newer drift supersedes it) is
  dropped.
- A failed attempt stays pending with `attempts` + 1 and `nextAttemptAt` = now + backoff (30 s, 1 min,
  2 min, ... at most 30 min), and never longer than the object's drift check interval (`retry_cap`): a
  mail server that comes back is used within one interval, as a new drift would be seen within one,
  instead of up to the backoff reached during the outage later (issue 21, chaos.py smtp-down).
Delivery is at-least-once: a crash between a successful send and the status write re-sends once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from tfcontroller.api.times import format_rfc3339, parse_rfc3339
from tfcontroller.notify.errors import DeliveryError
from tfcontroller.notify.model import DriftReportLike

Kind = Literal["drift", "resolved"]

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=30)
_MAX_ERROR = 300


@dataclass(frozen=True)
class Notification:
    """A mail to send now. `resources` are the current addresses (drift) or the ones previously reported
    (resolved); `attempt` counts from 1."""

    kind: Kind
    fingerprint: str
    resources: tuple[str, ...]
    attempt: int = 1


@dataclass(frozen=True)
class Decision:
    """What to send now, the merge patch for status.drift, and when to look again (requeue-after)."""

    notifications: list[Notification] = field(default_factory=list)
    status_patch: dict[str, Any] = field(default_factory=dict)
    retry_at: datetime | None = None


def backoff(attempts: int, base: timedelta = BACKOFF_BASE, cap: timedelta = BACKOFF_MAX) -> timedelta:
    """Delay before the next try after `attempts` failures: 30 s, 1 min, 2 min, ... capped at 30 min."""
    if attempts <= 0:
        return timedelta(0)
    delay: timedelta = min(cap, base * (2 ** min(attempts - 1, 30)))
    return delay


def retry_cap(check_interval: float | None) -> timedelta:
    """The longest wait between two attempts of a pending mail: the drift check interval when it is
    shorter than BACKOFF_MAX (at least 1 s), else BACKOFF_MAX. Why: the user chose how soon they hear
    of a change; an outage of the mail server must not stretch that by the backoff it reached."""
    if check_interval is None or check_interval <= 0:
        return BACKOFF_MAX
    return max(timedelta(seconds=1), min(BACKOFF_MAX, timedelta(seconds=check_interval)))


def decide(drift_status: Mapping[str, Any], report: DriftReportLike | None, now: datetime) -> Decision:
    """What to send given `status.drift` and the latest check.

    `report` is the result of a drift check that just ran (an empty report = no drift); None means no
    check ran in this reconcile (e.g. a retry of a pending mail) and the drift recorded in
    `drift_status` (`fingerprint`, `resources`) is taken as current.
    """
    if report is not None:
        current_fp = report.fingerprint if report.drifted else ""
        current_resources = tuple(report.addresses)
    else:
        current_fp = str(drift_status.get("fingerprint") or "")
        current_resources = tuple(drift_status.get("resources") or ())
    notified = str(drift_status.get("notifiedFingerprint") or "")
    pending = drift_status.get("pendingNotification") or None

    wanted: Notification | None = None
    if not current_fp and pending and pending.get("kind") == "drift" and pending.get("fingerprint") != notified:
        wanted = Notification("drift", str(pending.get("fingerprint")), tuple(pending.get("resources") or ()))
    elif current_fp and current_fp != notified:
        wanted = Notification("drift", current_fp, current_resources)
    elif not current_fp and notified:
        wanted = Notification("resolved", notified, tuple(drift_status.get("notifiedResources") or ()))

    if wanted is None:
        return Decision(status_patch={"pendingNotification": None} if pending else {})

    if pending and pending.get("kind") == wanted.kind and pending.get("fingerprint") == wanted.fingerprint:
        attempts = int(pending.get("attempts") or 0)
        due_at = parse_rfc3339(pending.get("nextAttemptAt")) or now
        if now < due_at:
            return Decision(retry_at=due_at)
        return Decision([_with_attempt(wanted, attempts + 1)])

    record = {"kind": wanted.kind, "fingerprint": wanted.fingerprint, "resources": list(wanted.resources),
              "attempts": 0, "nextAttemptAt": format_rfc3339(now), "since": format_rfc3339(now)}
    return Decision([wanted], {"pendingNotification": record})


def record_sent(drift_status: Mapping[str, Any], notification: Notification, now: datetime) -> dict[str, Any]:
    """The status.drift merge patch after `notification` was delivered."""
    patch: dict[str, Any] = {"pendingNotification": None, "notifiedAt": format_rfc3339(now)}
    if notification.kind == "drift":
        patch["notifiedFingerprint"] = notification.fingerprint
        patch["notifiedResources"] = list(notification.resources)
    else:
        patch["notifiedFingerprint"] = None
        patch["notifiedResources"] = None
    return patch


def record_failed(
    drift_status: Mapping[str, Any], notification: Notification, error: BaseException | str, now: datetime,
    cap: timedelta = BACKOFF_MAX,
) -> dict[str, Any]:
    """The status.drift merge patch after a failed attempt: still pending, next try after a backoff of
    at most `cap` (`retry_cap` of the object's drift check interval)."""
    pending = drift_status.get("pendingNotification") or {}
    same = pending.get("kind") == notification.kind and pending.get("fingerprint") == notification.fingerprint
    attempts = (int(pending.get("attempts") or 0) if same else 0) + 1
    return {
        "pendingNotification": {
            "kind": notification.kind,
            "fingerprint": notification.fingerprint,
            "resources": list(notification.resources),
            "attempts": attempts,
            "nextAttemptAt": format_rfc3339(now + backoff(attempts, min(BACKOFF_BASE, cap), cap)),
            "lastError": describe_error(error),
            "since": pending.get("since") if same and pending.get("since") else format_rfc3339(now),
        }
    }


def deliver(
    drift_status: Mapping[str, Any],
    report: DriftReportLike | None,
    now: datetime,
    send: Callable[[Notification], object],
    cap: timedelta = BACKOFF_MAX,
) -> Decision:
    """decide → send what is due → record the outcome; returns one combined patch and the requeue time.
    A failure is retried after a backoff of at most `cap` (`retry_cap`).

    `send` builds and delivers the mail for a notification and raises DeliveryError on failure. Any other
    exception is recorded as a failed attempt too (by type name only), so mail never blocks reconciling.
    """
    decision = decide(drift_status, report, now)
    patch = dict(decision.status_patch)
    retry_at = decision.retry_at
    for n in decision.notifications:
        try:
            send(n)
        except Exception as exc:  # recorded and retried; never propagated into reconcile
            fail = record_failed(apply_patch(drift_status, patch), n, exc, now, cap)
            patch.update(fail)
            next_at = parse_rfc3339(fail["pendingNotification"]["nextAttemptAt"])
            retry_at = next_at if retry_at is None or (next_at and next_at < retry_at) else retry_at
        else:
            patch.update(record_sent(drift_status, n, now))
    return Decision(decision.notifications, patch, retry_at)


def apply_patch(drift_status: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`drift_status` with a merge patch applied (top-level keys; None removes)."""
    out = dict(drift_status)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def describe_error(error: BaseException | str) -> str:
    if isinstance(error, DeliveryError):
        text = str(error)
    elif isinstance(error, BaseException):
        text = f"SendFailed: {type(error).__name__}"  # arbitrary exceptions may carry anything
    else:
        text = error
    return text.replace("\n", " ")[:_MAX_ERROR]




def _with_attempt(n: Notification, attempt: int) -> Notification:
    return Notification(n.kind, n.fingerprint, n.resources, attempt)
