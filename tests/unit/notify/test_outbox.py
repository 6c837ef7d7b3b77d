"""Unit tests of notify.outbox on plain status dicts: one report per fingerprint, a new report for a new
fingerprint, one resolved mail, reporting drift that cleared before its mail went out, replacing superseded pending mail, backoff and retry bookkeeping, and the
deliver() driver with a failing sender."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tfcontroller.api.times import format_rfc3339, parse_rfc3339
from tfcontroller.notify import outbox
from tfcontroller.notify.errors import DeliveryError
from tfcontroller.notify.outbox import Notification, backoff, decide
from tfcontroller.terraform.drift import AttributeChange, DriftedResource, DriftReport

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _report(*addresses: str) -> DriftReport:
    return DriftReport([DriftedResource(a, "update", [AttributeChange("tags.env", "a", "b")]) for a in addresses])


A = _report("x.a")
B = _report("x.a", "x.b")
EMPTY = DriftReport([])


def test_new_drift_is_sent_and_recorded_pending_first() -> None:
    d = decide({}, A, T0)
    assert d.notifications == [Notification("drift", A.fingerprint, ("x.a",), 1)]
    assert d.status_patch["pendingNotification"]["kind"] == "drift"
    sent = outbox.record_sent(outbox.apply_patch({}, d.status_patch), d.notifications[0], T0)
    assert sent == {"pendingNotification": None, "notifiedAt": "2025-01-01T00:00:00Z",
                    "notifiedFingerprint": A.fingerprint, "notifiedResources": ["x.a"]}


@pytest.mark.parametrize(("status", "report"), [
    ({"fingerprint": "F", "notifiedFingerprint": "F"}, None),  # already reported, no fresh check
    ({}, EMPTY),  # no drift, nothing reported
    ({}, None),
    ({"fingerprint": ""}, None),
])
def test_no_mail_cases(status: dict, report: DriftReport | None) -> None:
    d = decide(status, report, T0)
    assert d.notifications == [] and d.status_patch == {} and d.retry_at is None


def test_same_fingerprint_is_never_sent_twice_and_a_new_one_is() -> None:
    status = {"fingerprint": A.fingerprint, "notifiedFingerprint": A.fingerprint}
    assert decide(status, A, T0).notifications == []
    assert decide(status, None, T0).notifications == []
    d = decide(status, B, T0)
    assert [(n.kind, n.fingerprint) for n in d.notifications] == [("drift", B.fingerprint)]


def test_cleared_drift_sends_one_resolved_with_previous_resources() -> None:
    status = {"notifiedFingerprint": A.fingerprint, "notifiedResources": ["x.a"]}
    d = decide(status, EMPTY, T0)
    assert d.notifications == [Notification("resolved", A.fingerprint, ("x.a",), 1)]
    after = outbox.apply_patch(outbox.apply_patch(status, d.status_patch),
                               outbox.record_sent(status, d.notifications[0], T0))
    assert after == {"notifiedAt": "2025-01-01T00:00:00Z"}
    assert decide(after, EMPTY, T0 + timedelta(hours=1)).notifications == []
    # The same drift coming back later is reported again.
    assert [n.kind for n in decide(after, A, T0 + timedelta(hours=2)).notifications] == ["drift"]


def test_drift_that_cleared_before_its_report_was_sent_is_still_reported_then_resolved() -> None:
    """Rule 6: a notification that could not be sent is retried, not dropped, even when an auto
    remediation cleared the drift in the meantime; the resolved mail follows the report."""
    pending = {"kind": "drift", "fingerprint": A.fingerprint, "resources": ["x.a"], "attempts": 2,
               "nextAttemptAt": "2025-01-01T00:05:00Z"}
    status = {"pendingNotification": pending}
    early = decide(status, EMPTY, T0)
    assert early.notifications == [] and early.retry_at == datetime(2025, 1, 1, 0, 5, tzinfo=UTC)
    due = decide(status, EMPTY, T0 + timedelta(minutes=5))
    assert due.notifications == [Notification("drift", A.fingerprint, ("x.a",), 3)]
    after = outbox.apply_patch(status, outbox.record_sent(status, due.notifications[0], T0))
    follow = decide(after, EMPTY, T0 + timedelta(minutes=6))
    assert [(n.kind, n.resources) for n in follow.notifications] == [("resolved", ("x.a",))]


def test_pending_for_a_superseded_fingerprint_is_replaced() -> None:
    pending = {"kind": "drift", "fingerprint": A.fingerprint, "attempts": 2, "nextAttemptAt": "2025-01-01T00:05:00Z"}
    # A pending mail for an older fingerprint is replaced by the new one, due at once.
    d2 = decide({"pendingNotification": pending}, B, T0)
    assert d2.notifications[0].fingerprint == B.fingerprint and d2.notifications[0].attempt == 1
    assert d2.status_patch["pendingNotification"]["attempts"] == 0
    # A pending "resolved" mail is dropped when the same drift is back and was already reported.
    back = {"pendingNotification": {"kind": "resolved", "fingerprint": A.fingerprint},
            "notifiedFingerprint": A.fingerprint, "fingerprint": A.fingerprint}
    assert decide(back, A, T0).status_patch == {"pendingNotification": None}


def test_failure_backs_off_and_retry_counts_attempts() -> None:
    n = decide({}, A, T0).notifications[0]
    status = outbox.apply_patch({}, decide({}, A, T0).status_patch)
    err = DeliveryError("ConnectionFailed", "could not talk to h:25: refused", transient=True)
    patch = outbox.record_failed(status, n, err, T0)
    p = patch["pendingNotification"]
    assert (p["attempts"], p["nextAttemptAt"], p["since"]) == (1, "2025-01-01T00:00:30Z", "2025-01-01T00:00:00Z")
    assert p["lastError"] == "ConnectionFailed: could not talk to h:25: refused"
    status = outbox.apply_patch(status, patch)

    waiting = decide(status, A, T0 + timedelta(seconds=29))
    assert waiting.notifications == [] and waiting.retry_at == T0 + timedelta(seconds=30)
    due = decide(status, A, T0 + timedelta(seconds=30))
    assert due.notifications[0].attempt == 2 and due.status_patch == {}
    p2 = outbox.record_failed(status, due.notifications[0], err, T0 + timedelta(seconds=30))["pendingNotification"]
    assert (p2["attempts"], p2["nextAttemptAt"], p2["since"]) == (2, "2025-01-01T00:01:30Z", "2025-01-01T00:00:00Z")


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(i).total_seconds() for i in range(0, 5)] == [0, 30, 60, 120, 240]
    assert backoff(50) == timedelta(minutes=30)


def test_deliver_records_any_exception_without_its_text() -> None:
    def boom(n: Notification) -> None:
        raise RuntimeError("password=hunter2")

    d = outbox.deliver({}, A, T0, boom)
    p = d.status_patch["pendingNotification"]
    assert p["attempts"] == 1 and p["lastError"] == "SendFailed: RuntimeError"
    assert d.retry_at == T0 + timedelta(seconds=30)

    sent: list[Notification] = []
    d2 = outbox.deliver(outbox.apply_patch({}, d.status_patch), A, T0 + timedelta(seconds=30), sent.append)
    assert [n.attempt for n in sent] == [2]
    assert d2.status_patch["pendingNotification"] is None and d2.retry_at is None
    assert d2.status_patch["notifiedFingerprint"] == A.fingerprint


def test_time_helpers() -> None:
    assert parse_rfc3339("2025-01-01T00:00:30Z") == T0 + timedelta(seconds=30)
    assert parse_rfc3339("garbage") is None and parse_rfc3339(None) is None
    assert format_rfc3339(T0) == "2025-01-01T00:00:00Z"


@pytest.mark.parametrize(("interval", "want"), [
    (None, timedelta(minutes=30)),  # no drift checks: the plain backoff cap
    (0.0, timedelta(minutes=30)),
    (0.2, timedelta(seconds=1)),  # at least a second
    (10.0, timedelta(seconds=10)),  # shorter than the first backoff step
    (300.0, timedelta(minutes=5)),
    (3600.0, timedelta(minutes=30)),  # longer than the backoff cap: the cap
])
def test_retry_cap_is_the_drift_interval_within_bounds(interval: float | None, want: timedelta) -> None:
    assert outbox.retry_cap(interval) == want


def _refused(n: Notification) -> None:
    raise DeliveryError("ConnectionFailed", "could not talk to h:25: refused", transient=True)


@pytest.mark.parametrize("interval", [10.0, 45.0, 300.0, 7200.0])
def test_a_failing_mail_is_retried_at_least_once_per_drift_interval(interval: float) -> None:
    """Issue 21 (chaos.py smtp-down): however long the mail server stays down, no wait between two attempts
    exceeds the drift check interval (nor 30 min), so a server that comes back is used within one interval;
    the backoff still doubles below that bound."""
    cap = outbox.retry_cap(interval)
    status: dict = {}
    now = T0
    waits = []
    for _ in range(12):
        d = outbox.deliver(status, A, now, _refused, cap)
        status = outbox.apply_patch(status, d.status_patch)
        assert d.retry_at is not None
        waits.append(d.retry_at - now)
        now = d.retry_at
    assert max(waits) == min(cap, timedelta(minutes=30))
    assert all(w <= cap for w in waits)
    assert waits[0] == min(timedelta(seconds=30), cap)
    assert all(b == min(cap, 2 * a) for a, b in zip(waits, waits[1:], strict=False))
    assert status["pendingNotification"]["attempts"] == 12
    sent: list[Notification] = []
    d = outbox.deliver(status, A, now, sent.append, cap)
    assert [n.attempt for n in sent] == [13] and d.status_patch["notifiedFingerprint"] == A.fingerprint
