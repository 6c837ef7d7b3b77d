"""notify.rule_outbox: one NotificationRule's memory and outbox, as a value over its status.

Every test that matters goes through `to_status()` → JSON → `RuleOutbox.of()` (what a restart does), so
the guarantees hold across restarts, not only in memory. Covered: one entry per rule for a pending plan
however often observed; nothing new after a restart; failure, restart, success → delivered once; three
retryable failures then success, with the backoff and Retry-After honoured; a permanent answer keeps the
entry, not due until the provider is Ready again; drift detected → resolved → detected again; ManifestSet
failed → recovered; history only after the rule was created, one message for a retried failure, two
runs in one second; a deleted object takes its entries along; two providers with one failing; a provider
added or removed later; wanted() by type and severity; the status stays bounded; and a seeded random
walk of observations, restarts and outcomes keeps the invariants."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tfcontroller.api.times import format_rfc3339
from tfcontroller.notify import event as ev
from tfcontroller.notify import rule_outbox
from tfcontroller.notify.http_delivery import BACKOFF_BASE, DeliveryResult, next_attempt_delay
from tfcontroller.notify.observe import Observation
from tfcontroller.notify.rule_outbox import Due, ObjectKey, Outcome, RuleOutbox

CREATED = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
T0 = CREATED + timedelta(minutes=1)
TF = ObjectKey("Terraform", "team-a", "bucket", "uid-tf")
MS = ObjectKey("ManifestSet", "team-a", "apps", "uid-ms")
REF = ev.ObjectRef(TF.kind, TF.namespace, TF.name, TF.uid)
MSREF = ev.ObjectRef(MS.kind, MS.namespace, MS.name, MS.uid)
ALL = ("slack",)

DELIVERED = DeliveryResult("delivered", "Delivered", "https://hooks.example:443 accepted the notification (200)", 200)
FAILED_500 = DeliveryResult("retryable", "ServerError", "https://hooks.example:443 answered 500", 500)
TIMEOUT = DeliveryResult("retryable", "Timeout", "https://hooks.example:443 did not answer within 15s")
REJECTED = DeliveryResult("permanent", "Rejected", "https://hooks.example:443 refused the notification with 401: "
                          "invalid_token", 401)


@dataclass(frozen=True)
class _MessageLevel(DeliveryResult):
    """A refusal of this message, not the provider (http_delivery's `message_level`: 400, 413, 422)."""

    message_level: bool = True


REFUSED_MESSAGE = _MessageLevel("permanent", "Rejected", "https://hooks.example:443 refused the notification "
                                "with 400: invalid_payload", 400)


def everything(_type: str, _severity: str) -> bool:
    return True


def restart(box: RuleOutbox) -> RuleOutbox:
    """What a controller restart does: the status goes through the API server (JSON) and back."""
    return RuleOutbox.of(json.loads(json.dumps(box.to_status())), CREATED)


def plan(plan_id: str = "plan-1") -> Observation:
    return Observation("plan", ev.plan_pending(REF, plan_id, {"add": 1}, [{"kind": "create", "text": "+ x"}], now=T0))


def drift(fp: str = "sha256:d1", *resources: str) -> Observation:
    return Observation("drift", ev.drift_event(REF, resources or ("aws_s3_bucket.a",), fp, now=T0))


def clear(stream: str) -> Observation:
    return Observation(stream, None)


def applied(run_id: str, at: datetime, plan_id: str = "plan-1") -> Observation:
    return Observation("history", ev.simple_event("PlanApplied", REF, f"Applied plan {plan_id}", plan_id=plan_id,
                                                  reason="ApplySucceeded", now=at), key=run_id, at=format_rfc3339(at))


def apply_failed(run_id: str, at: datetime, message: str = "quota exceeded", reason: str = "ApplyFailed",
                 key: ObjectKey = TF) -> Observation:
    ref = ev.ObjectRef(key.kind, key.namespace, key.name, key.uid)
    return Observation("history", ev.simple_event("ApplyFailed", ref, message, plan_id="plan-1",
                                                  reason=reason, now=at), key=run_id, at=format_rfc3339(at))


def ms_failed(reason: str = "ApplyFailed", message: str = "apply failed") -> Observation:
    return Observation("ready", ev.simple_event("ManifestSetFailed", MSREF, message, reason=reason, now=T0))


def observe(box: RuleOutbox, obs: Sequence[Observation], *, key: ObjectKey = TF, providers: Sequence[str] = ALL,
            now: datetime = T0, wanted: Any = everything) -> None:
    box.observe(key, obs, wanted, providers, now)


def deliver_all(box: RuleOutbox, now: datetime, ready: set[str] | None = None,
                result: DeliveryResult = DELIVERED) -> list[Due]:
    due = box.due(now, ready if ready is not None else set(ALL))
    for d in due:
        box.record(Outcome(d.entry_id, d.provider, result), now)
    return due


def types(dues: Sequence[Due]) -> list[str]:
    return [d.event.type for d in dues]


# ---- dedup -----------------------------------------------------------------------------------------------


def test_a_pending_plan_is_one_entry_however_often_it_is_observed() -> None:
    box = RuleOutbox.of(None, CREATED)
    for i in range(5):
        observe(box, [plan(), clear("drift"), clear("stalled")], now=T0 + timedelta(seconds=i))
        box = restart(box)
    assert box.pending_count() == 1
    due = box.due(T0, set(ALL))
    assert types(due) == ["PlanPending"] and due[0].attempt == 1 and due[0].event.plan is not None
    assert due[0].event.plan.plan_id == "plan-1" and due[0].event.plan.diff == ()  # re-read at send time
    deliver_all(box, T0)
    box = restart(box)
    for _ in range(3):
        observe(box, [plan()])
        box = restart(box)
    assert box.pending_count() == 0 and box.due(T0 + timedelta(hours=1), set(ALL)) == []
    assert box.to_status()["sent"] == 1


def test_a_new_plan_is_news_and_the_old_one_is_not_sent_again() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan("plan-1")])
    deliver_all(box, T0)
    observe(box, [plan("plan-2")])
    observe(box, [plan("plan-2")])
    assert [d.event.plan.plan_id for d in box.due(T0, set(ALL)) if d.event.plan] == ["plan-2"]


def test_an_unknown_stream_is_left_as_remembered() -> None:
    """observe.py leaves a stream out while a run is in progress: that is not a clear."""
    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan()])
    deliver_all(box, T0)
    observe(box, [])  # mid-run: nothing known
    observe(box, [plan()])
    assert box.pending_count() == 0


def test_the_same_state_after_a_clear_is_news_again() -> None:
    box = RuleOutbox.of(None, CREATED)
    obs = Observation("stalled", ev.simple_event("Stalled", REF, "bad spec", reason="SpecInvalid", now=T0))
    observe(box, [obs])
    deliver_all(box, T0)
    observe(box, [clear("stalled")])
    assert box.pending_count() == 0  # a stall ending is not announced
    observe(box, [obs])
    assert types(box.due(T0, set(ALL))) == ["Stalled"]


# ---- delivery, retries, restarts -------------------------------------------------------------------------


def test_failure_restart_success_delivers_once() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan()])
    deliver_all(box, T0, result=FAILED_500)
    box = restart(box)
    observe(box, [plan()])  # the restarted controller observes the same object again
    assert box.pending_count() == 1 and box.due(T0 + timedelta(seconds=1), set(ALL)) == []
    later = T0 + BACKOFF_BASE
    due = deliver_all(box, later)
    assert len(due) == 1 and due[0].attempt == 2
    box = restart(box)
    observe(box, [plan()])
    assert box.pending_count() == 0 and box.due(later + timedelta(days=1), set(ALL)) == []
    status = box.to_status()
    assert (status["sent"], status["failed"]) == (1, 1)


def test_three_retryable_failures_back_off_then_success() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan()])
    now = T0
    for attempt, result in enumerate([FAILED_500, TIMEOUT, FAILED_500], start=1):
        due = box.due(now, set(ALL))
        assert [d.attempt for d in due] == [attempt]
        box.record(Outcome(due[0].entry_id, "slack", result), now)
        box = restart(box)
        wait = next_attempt_delay(attempt, result)
        assert box.due(now + wait - timedelta(seconds=1), set(ALL)) == []  # not before the backoff
        assert box.next_due(set(ALL)) == now + wait
        now = now + wait
    due = deliver_all(box, now)
    assert [d.attempt for d in due] == [4]
    assert box.pending_count() == 0 and box.sent == 1 and box.failed == 3


@pytest.mark.parametrize("retry_after", [timedelta(seconds=7), timedelta(seconds=300), timedelta(minutes=50)])
def test_retry_after_is_honoured_and_never_cut_short(retry_after: timedelta) -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan()])
    now = T0 + timedelta(microseconds=400_000)  # a fraction of a second: the stored time rounds up
    due = box.due(now, set(ALL))
    limited = DeliveryResult("retryable", "RateLimited", "429", 429, retry_after)
    box.record(Outcome(due[0].entry_id, "slack", limited), now)
    box = restart(box)
    assert box.due(now + retry_after - timedelta(milliseconds=1), set(ALL)) == []
    assert len(box.due(now + retry_after + timedelta(seconds=1), set(ALL))) == 1


def test_a_permanent_answer_keeps_the_entry_until_the_provider_is_ready_again() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan()])
    deliver_all(box, T0, result=REJECTED)
    box = restart(box)
    entry = box.to_status()["pending"][0]["providers"][0]
    assert entry["permanent"] is True and "invalid_token" in entry["lastError"] and entry["attempts"] == 1
    much_later = T0 + timedelta(days=30)
    observe(box, [plan()], now=much_later)
    assert box.pending_count() == 1  # never dropped
    assert box.due(much_later, set()) == [] and box.next_due(set()) is None  # not Ready: not due
    due = box.due(much_later, {"slack"})  # fixed: Ready again
    assert types(due) == ["PlanPending"] and due[0].attempt == 2
    box.record(Outcome(due[0].entry_id, "slack", DELIVERED), much_later)
    assert box.pending_count() == 0


def test_a_permanent_answer_is_not_retried_at_once_even_if_the_provider_still_looks_ready() -> None:
    """The provider's Ready=False is written by another reconcile: until it is, no hot loop."""
    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan()])
    deliver_all(box, T0, result=REJECTED)
    assert box.due(T0 + timedelta(seconds=1), set(ALL)) == []


def test_two_providers_one_failing_the_other_is_not_sent_again() -> None:
    box = RuleOutbox.of(None, CREATED)
    both = ("slack", "webhook")
    observe(box, [plan()], providers=both)
    due = box.due(T0, set(both))
    assert sorted(d.provider for d in due) == ["slack", "webhook"] and len({d.entry_id for d in due}) == 1
    for d in due:
        box.record(Outcome(d.entry_id, d.provider, DELIVERED if d.provider == "slack" else FAILED_500), T0)
    box = restart(box)
    for step in range(1, 4):
        now = T0 + timedelta(hours=step)
        observe(box, [plan()], providers=both, now=now)
        assert [d.provider for d in box.due(now, set(both))] == ["webhook"]
        deliver_all(box, now, set(both), FAILED_500)
    now = T0 + timedelta(hours=5)
    assert [d.provider for d in deliver_all(box, now, set(both))] == ["webhook"]
    assert box.pending_count() == 0 and box.sent == 2


def test_a_provider_added_later_gets_only_new_entries_and_one_removed_is_dropped() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan("plan-1")], providers=("slack",))
    observe(box, [plan("plan-1")], providers=("slack", "teams"))
    assert [d.provider for d in box.due(T0, {"slack", "teams"})] == ["slack"]
    observe(box, [plan("plan-2")], providers=("slack", "teams"))  # supersedes the undelivered plan-1
    due = box.due(T0, {"slack", "teams"})
    assert sorted((d.event.plan.plan_id if d.event.plan else "", d.provider) for d in due) == [
        ("plan-2", "slack"), ("plan-2", "teams")]
    observe(box, [plan("plan-2")], providers=("teams",))  # slack removed from the rule
    assert [(d.event.plan.plan_id if d.event.plan else "", d.provider) for d in box.due(T0, {"slack", "teams"})] \
        == [("plan-2", "teams")]
    assert box.pending_count() == 1 and box.pending_by_provider() == {"teams": 1}


def test_due_is_oldest_first_across_objects() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan("plan-1")], now=T0)
    observe(box, [ms_failed()], key=MS, now=T0 + timedelta(seconds=1))
    observe(box, [drift()], now=T0 + timedelta(seconds=2))
    assert types(box.due(T0 + timedelta(seconds=3), set(ALL))) == ["PlanPending", "ManifestSetFailed", "DriftDetected"]


def test_an_outcome_for_an_entry_that_went_meanwhile_only_counts() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan()])
    due = box.due(T0, set(ALL))
    box.forget_missing(set())
    box.record(Outcome(due[0].entry_id, "slack", DELIVERED), T0)
    assert box.pending_count() == 0 and box.sent == 1


# ---- drift, ManifestSet --------------------------------------------------------------------------------


def test_drift_detected_resolved_detected_again() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, [drift("sha256:d1", "aws_s3_bucket.a", "aws_iam_role.r")])
    observe(box, [drift("sha256:d1", "aws_s3_bucket.a", "aws_iam_role.r")])
    assert types(deliver_all(box, T0)) == ["DriftDetected"]
    box = restart(box)
    observe(box, [clear("drift")])
    observe(box, [clear("drift")])
    due = deliver_all(box, T0)
    assert types(due) == ["DriftResolved"]
    resolved = due[0].event
    assert resolved.drift is not None and resolved.drift.resources == ("aws_s3_bucket.a", "aws_iam_role.r")
    assert resolved.severity == "info" and "aws_iam_role.r" in resolved.message
    box = restart(box)
    observe(box, [drift("sha256:d1", "aws_s3_bucket.a", "aws_iam_role.r")])  # the same drift, later: news
    assert types(deliver_all(box, T0)) == ["DriftDetected"]
    observe(box, [drift("sha256:d2", "aws_s3_bucket.a")])  # a different drift: news, no resolve between
    assert types(deliver_all(box, T0)) == ["DriftDetected"]


def test_manifestset_failed_then_recovered_and_a_different_failure_is_news() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, [ms_failed("ApplyFailed", "forbidden")], key=MS)
    observe(box, [ms_failed("ApplyFailed", "forbidden")], key=MS)
    assert types(deliver_all(box, T0)) == ["ManifestSetFailed"]
    observe(box, [ms_failed("HealthCheckFailed", "timeout waiting for deployment/web")], key=MS)
    assert types(deliver_all(box, T0)) == ["ManifestSetFailed"]
    box = restart(box)
    observe(box, [clear("ready")], key=MS)
    due = deliver_all(box, T0)
    assert types(due) == ["ManifestSetRecovered"] and "HealthCheckFailed" in due[0].event.message
    assert due[0].event.object == ev.ObjectRef("ManifestSet", "team-a", "apps", "uid-ms")
    observe(box, [clear("ready")], key=MS)
    assert box.pending_count() == 0


def test_a_first_observation_that_is_clear_announces_nothing() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, [clear("drift"), clear("plan"), clear("stalled")])
    observe(box, [clear("ready")], key=MS)
    assert box.pending_count() == 0


# ---- history ---------------------------------------------------------------------------------------------


def test_history_only_after_the_rule_was_created_then_above_the_watermark() -> None:
    box = RuleOutbox.of(None, CREATED)
    old = applied("r0", CREATED - timedelta(minutes=5), "plan-0")
    at_creation = applied("r1", CREATED, "plan-1")
    observe(box, [old, at_creation])
    assert [d.event.plan.plan_id for d in box.due(T0, set(ALL)) if d.event.plan] == ["plan-1"]
    deliver_all(box, T0)
    box = restart(box)
    newer = applied("r2", T0 + timedelta(minutes=1), "plan-2")
    observe(box, [old, at_creation, newer])
    observe(box, [old, at_creation, newer])
    assert [d.event.plan.plan_id for d in deliver_all(box, T0) if d.event.plan] == ["plan-2"]
    box = restart(box)
    observe(box, [newer])  # the history list shrank (limit): nothing old comes back
    assert box.pending_count() == 0


def test_two_runs_finishing_in_the_same_second_are_both_news() -> None:
    box = RuleOutbox.of(None, CREATED)
    second = T0 + timedelta(minutes=1)
    observe(box, [applied("r1", second, "plan-1")])
    box = restart(box)
    observe(box, [applied("r1", second, "plan-1"), applied("r2", second, "plan-2")])
    observe(box, [applied("r1", second, "plan-1"), applied("r2", second, "plan-2")])
    assert sorted(d.event.plan.plan_id for d in box.due(T0, set(ALL)) if d.event.plan) == ["plan-1", "plan-2"]


def test_a_failure_repeated_by_retries_is_one_message_a_different_one_is_news() -> None:
    box = RuleOutbox.of(None, CREATED)
    t = [T0 + timedelta(minutes=i) for i in range(4)]
    observe(box, [apply_failed("r1", t[0])])
    observe(box, [apply_failed("r2", t[1])])  # the controller collapsed r1 into r2 (attempts: 2)
    box = restart(box)
    observe(box, [apply_failed("r3", t[2])])
    assert types(box.due(T0, set(ALL))) == ["ApplyFailed"]
    observe(box, [apply_failed("r4", t[3], "quota exceeded (request 9c1e)")])  # a volatile message: the same
    assert types(box.due(T0, set(ALL))) == ["ApplyFailed"]
    observe(box, [apply_failed("r5", t[3] + timedelta(minutes=1), "access denied", reason="AccessDenied")])
    assert types(box.due(T0, set(ALL))) == ["ApplyFailed", "ApplyFailed"]


def test_history_entries_without_a_readable_finish_time_are_skipped() -> None:
    box = RuleOutbox.of(None, CREATED)
    bad = Observation("history", ev.simple_event("PlanApplied", REF, "x", plan_id="p"), key="r", at="yesterday")
    observe(box, [bad])
    assert box.pending_count() == 0


# ---- objects going away, filtering, bounds -------------------------------------------------------------


def test_an_object_gone_takes_its_memory_but_its_entries_wait_until_delivered_or_a_day_old() -> None:
    """Review finding 10: the destroy on deletion is usually the last thing an object does; its pending
    plan, though, is withdrawn (second review, finding 10: an approve command for an object that is gone)."""
    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan(), drift(), applied("r1", T0)])
    observe(box, [ms_failed()], key=MS)
    deliver_all(box, T0, result=FAILED_500)
    box.forget_missing({MS.uid}, T0)
    box = restart(box)
    assert [row["uid"] for row in box.to_status()["observed"]] == [MS.uid]
    assert box.to_status()["superseded"] == 1  # the PlanPending
    later = T0 + timedelta(hours=1)
    assert sorted(types(box.due(later, set(ALL)))) == ["DriftDetected", "ManifestSetFailed", "PlanApplied"]
    box.record(Outcome(box.due(later, set(ALL))[0].entry_id, "slack", DELIVERED), later)  # one delivered
    box.forget_missing({MS.uid}, later)
    assert box.pending_count() == 2
    box.forget_missing({MS.uid}, T0 + rule_outbox.GONE_TTL + timedelta(seconds=1))
    assert types(box.due(T0 + timedelta(days=2), set(ALL))) == ["ManifestSetFailed"]
    assert box.to_status()["expired"] == 1
    recreated = ObjectKey(TF.kind, TF.namespace, TF.name, "uid-tf-2")  # same name, new object: news again
    observe(box, [Observation("plan", ev.plan_pending(ev.ObjectRef("Terraform", "team-a", "bucket", "uid-tf-2"),
                                                      "plan-1", {}, now=T0))], key=recreated)
    assert "PlanPending" in types(box.due(T0 + timedelta(days=2), set(ALL)))


def test_an_object_back_in_the_selection_is_new_to_the_rule_and_its_waiting_entry_is_not_doubled() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan()])
    box.forget_missing(set(), T0)  # label removed
    observe(box, [plan()], now=T0 + timedelta(minutes=1))  # label back: the same plan is queued anew, once
    assert types(box.due(T0 + timedelta(minutes=1), set(ALL))) == ["PlanPending"]


@pytest.mark.parametrize("types_wanted,severity,want", [
    (None, "info", ["PlanPending", "DriftDetected", "ApplyFailed"]),
    (None, "error", ["DriftDetected", "ApplyFailed"]),
    (("PlanPending",), "info", ["PlanPending"]),
    (("PlanPending", "ApplyFailed"), "error", ["ApplyFailed"]),
    ((), "info", []),
])
def test_wanted_filters_by_type_and_severity(types_wanted: tuple[str, ...] | None, severity: str,
                                             want: list[str]) -> None:
    def wanted(event_type: str, event_severity: str) -> bool:
        return (types_wanted is None or event_type in types_wanted) and \
            (severity == "info" or event_severity == "error")

    box = RuleOutbox.of(None, CREATED)
    observe(box, [plan(), drift(), apply_failed("r1", T0)], wanted=wanted)
    observe(box, [plan(), drift(), apply_failed("r1", T0)], wanted=wanted)
    assert types(box.due(T0, set(ALL))) == want
    box = restart(box)
    observe(box, [plan(), drift(), apply_failed("r1", T0)], wanted=wanted)  # unwanted is remembered, not queued
    assert types(box.due(T0, set(ALL))) == want


def test_the_status_is_compact_and_bounded() -> None:
    box = RuleOutbox.of(None, CREATED)
    long = "x" * 10_000
    lines = [{"kind": "create", "text": f"+ r{i}"} for i in range(5000)]
    observe(box, [Observation("plan", ev.plan_pending(REF, "plan-1", {"add": 5000}, lines, now=T0)),
                  Observation("drift", ev.drift_event(REF, [f"r.{i}" for i in range(5000)], "fp", now=T0)),
                  apply_failed("r1", T0, long)])
    text = json.dumps(box.to_status())
    assert len(text) < 20_000 and "+ r1" not in text
    row = box.to_status()["observed"][0]
    assert set(row) == {"uid", "streams"}  # second review, finding 1: kind/namespace/name come from the object
    assert set(row["streams"]) == {"plan", "drift", "history"}


def test_unreadable_status_is_skipped_not_fatal() -> None:
    status: dict[str, Any] = {"observed": [None, {"kind": "x"}, {"uid": "u", "streams": "x"}],
                              "pending": [None, {"id": "a"}, {"id": "b", "event": {"type": "nope"}}],
                              "sent": "many", "failed": -3}
    box = RuleOutbox.of(status, CREATED)
    assert box.sent == 0 and box.failed == 0 and box.pending_count() == 1
    assert box.due(T0, set(ALL)) == []  # the entry that is no event has no provider: never due


# ---- a seeded random walk -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_random_walk_keeps_the_guarantees(seed: int) -> None:
    """Random observations (states coming and going), restarts and delivery outcomes (message-level
    refusals among them): an entry queued once is delivered exactly once per provider, or parked for it
    after its second refusal, and never both (no crash between send and record here, so at-least-once is
    exactly once) until it is queued anew (the same state coming back after a clear); an unchanged state
    never queues; the state streams never hold two undelivered entries (but drift's detected + resolved
    pair); once the receivers are back, nothing stays pending."""
    rnd = random.Random(seed)
    box = RuleOutbox.of(None, CREATED)
    providers = ("slack", "hook")
    now = T0
    done: set[tuple[str, str]] = set()
    states = [[plan("plan-1")], [plan("plan-2")], [clear("plan")], [drift("sha256:a")], [drift("sha256:b")],
              [clear("drift")], [drift("sha256:a"), plan("plan-2")], []]

    def pending_ids() -> set[tuple[str, str]]:
        return {(e["id"], e["queuedAt"]) for e in box.to_status()["pending"]}

    def send(d: Due, result: DeliveryResult) -> None:
        assert (d.entry_id, d.provider) not in done, "delivered (or parked) twice without being queued again"
        parked = box.record(Outcome(d.entry_id, d.provider, result), now)
        if result.delivered or parked is not None:
            done.add((d.entry_id, d.provider))

    def one_per_stream() -> None:
        streams = [rule_outbox.STREAM_OF[e["event"]["type"]] for e in box.to_status()["pending"]]
        for stream in ("plan", "stalled", "ready"):
            assert streams.count(stream) <= 1
        assert streams.count("drift") <= 2

    for _ in range(300):
        now += timedelta(seconds=rnd.randint(1, 120))
        action = rnd.random()
        if action < 0.4:
            before = pending_ids()
            state = rnd.choice(states)
            observe(box, state, providers=providers, now=now)
            again = pending_ids()
            for new, _ in again - before:  # queued (anew): every provider is to get it once more
                done.difference_update({(new, p) for p in providers})
            observe(box, state, providers=providers, now=now)  # the same state twice: nothing more
            assert pending_ids() == again
            one_per_stream()
        elif action < 0.55:
            box = restart(box)
        else:
            for d in box.due(now, set(providers)):
                send(d, rnd.choice([DELIVERED, DELIVERED, FAILED_500, TIMEOUT, REFUSED_MESSAGE]))
    for _ in range(50):  # drain: the receivers come back
        now += timedelta(hours=1)
        for d in box.due(now, set(providers)):
            send(d, DELIVERED)
    assert box.pending_count() == 0


def test_a_state_back_while_its_first_entry_still_waits_replaces_the_pair() -> None:
    """drift a (undelivered) → resolved (kept beside it) → a again: the newest state replaces both, so the
    receiver's last (and only) message says drifted."""
    box = RuleOutbox.of(None, CREATED)
    observe(box, [drift("sha256:a")])
    deliver_all(box, T0, result=FAILED_500)
    observe(box, [clear("drift")])
    assert types(box.due(T0 + timedelta(hours=1), set(ALL))) == ["DriftDetected", "DriftResolved"]
    observe(box, [drift("sha256:a")])
    assert types(deliver_all(box, T0 + timedelta(hours=1))) == ["DriftDetected"]
    assert box.pending_count() == 0 and box.to_status()["superseded"] == 1
