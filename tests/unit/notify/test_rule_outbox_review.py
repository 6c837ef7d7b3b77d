"""notify.rule_outbox, the review's findings (2, 3, 5, 9, 10): supersede per (object, stream) instead of
accumulating; defer, never drop, when the rule's budget is full; message-level refusals parked after the
second; the history floor of an object that joins the selection late; the status stays small enough for
etcd however many objects, drifts and policies there are.

Every case runs several inputs of its kind, and the status goes through JSON between steps where a
restart could happen (what the controller reads back is what counts)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tfcontroller.api.times import format_rfc3339
from tfcontroller.notify import event as ev
from tfcontroller.notify import rule_outbox
from tfcontroller.notify.http_delivery import DeliveryResult
from tfcontroller.notify.observe import Observation
from tfcontroller.notify.rule_outbox import Due, ObjectKey, Outcome, RuleOutbox

CREATED = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
T0 = CREATED + timedelta(minutes=1)
ALL = ("slack",)
DELIVERED = DeliveryResult("delivered", "Delivered", "accepted (200)", 200)
FAILED_500 = DeliveryResult("retryable", "ServerError", "answered 500", 500)
UNAUTHORIZED = DeliveryResult("permanent", "Rejected", "refused with 401: invalid token", 401)


@dataclass(frozen=True)
class _MessageLevel(DeliveryResult):
    """A permanent answer about this message (400/413/422): http_delivery's `message_level` flag."""

    message_level: bool = True


def refused(status: int = 400) -> DeliveryResult:
    return _MessageLevel("permanent", "Rejected", f"refused with {status}: invalid_payload", status)


def everything(_type: str, _severity: str) -> bool:
    return True


def errors_only(_type: str, severity: str) -> bool:
    return severity == "error"


def key(n: int | str = 0, kind: str = "Terraform", created: datetime | None = None) -> ObjectKey:
    return ObjectKey(kind, "team-a", f"obj-{n}", f"uid-{n}", created)


def ref(k: ObjectKey) -> ev.ObjectRef:
    return ev.ObjectRef(k.kind, k.namespace, k.name, k.uid)


def restart(box: RuleOutbox) -> RuleOutbox:
    return RuleOutbox.of(json.loads(json.dumps(box.to_status())), CREATED)


def plan(k: ObjectKey, plan_id: str) -> Observation:
    return Observation("plan", ev.plan_pending(ref(k), plan_id, {"add": 1}, now=T0))


def denied(k: ObjectKey, plan_id: str) -> Observation:
    event = ev.NotificationEvent("PolicyDenied", ref(k), "denied", "error", details=ev.PlanDetails(plan_id))
    return Observation("plan", event)


def drift(k: ObjectKey, fp: str, resources: Sequence[str] = ("aws_s3_bucket.a",)) -> Observation:
    return Observation("drift", ev.drift_event(ref(k), resources, fp, now=T0))


def stalled(k: ObjectKey, reason: str) -> Observation:
    return Observation("stalled", ev.simple_event("Stalled", ref(k), f"stalled: {reason}", reason=reason, now=T0))


def ms_failed(k: ObjectKey, reason: str) -> Observation:
    return Observation("ready", ev.simple_event("ManifestSetFailed", ref(k), f"failed: {reason}", reason=reason,
                                                now=T0))


def applied(k: ObjectKey, run_id: str, at: datetime, plan_id: str) -> Observation:
    return Observation("history", ev.simple_event("PlanApplied", ref(k), f"Applied {plan_id}", plan_id=plan_id,
                                                  now=at), key=run_id, at=format_rfc3339(at))


def clear(stream: str) -> Observation:
    return Observation(stream, None)


def observe(box: RuleOutbox, k: ObjectKey, obs: Sequence[Observation], *, now: datetime = T0,
            providers: Sequence[str] = ALL, wanted: Any = everything) -> None:
    box.observe(k, obs, wanted, providers, now)


def waiting(box: RuleOutbox, now: datetime = T0 + timedelta(days=1),
            ready: Sequence[str] = ALL) -> list[tuple[str, str]]:
    """(type, what) of every delivery due, `what` being the plan id, drift fingerprint or reason."""
    out: list[tuple[str, str]] = []
    for d in box.due(now, set(ready)):
        e = d.event
        what = e.plan.plan_id if e.plan else (e.drift.drift_fingerprint if e.drift else e.reason)
        out.append((e.type, what))
    return out


def deliver(box: RuleOutbox, now: datetime, result: DeliveryResult = DELIVERED,
            ready: Sequence[str] = ALL) -> list[Due]:
    due = box.due(now, set(ready))
    for d in due:
        box.record(Outcome(d.entry_id, d.provider, result), now)
    return due


# ---- 3: supersede per (object, stream) --------------------------------------------------------------------


@pytest.mark.parametrize("states,want", [
    ([plan(key(), "p1"), plan(key(), "p2"), plan(key(), "p3")], [("PlanPending", "p3")]),
    ([plan(key(), "p1"), denied(key(), "p2")], [("PolicyDenied", "p2")]),
    ([denied(key(), "p1"), plan(key(), "p2")], [("PlanPending", "p2")]),
    ([stalled(key(), "SpecInvalid"), stalled(key(), "SourceNotFound")], [("Stalled", "SourceNotFound")]),
    ([drift(key(), "a"), drift(key(), "b"), drift(key(), "c")], [("DriftDetected", "c")]),
    ([ms_failed(key(1, "ManifestSet"), "ApplyFailed"), ms_failed(key(1, "ManifestSet"), "HealthCheckFailed")],
     [("ManifestSetFailed", "HealthCheckFailed")]),
])
def test_a_newer_state_replaces_the_older_undelivered_one(states: list[Observation],
                                                          want: list[tuple[str, str]]) -> None:
    box = RuleOutbox.of(None, CREATED)
    for o in states:
        k = key(1, "ManifestSet") if o.stream == "ready" else key()
        observe(box, k, [o])
        box = restart(box)
    assert waiting(box) == want
    status = box.to_status()
    assert status["superseded"] == len(states) - 1 and status["pendingCount"] == 1 and "dropped" not in status


@pytest.mark.parametrize("first,stream", [
    (plan(key(), "p1"), "plan"),  # approved, applied or replanned away: no longer waits
    (denied(key(), "p1"), "plan"),
    (stalled(key(), "SpecInvalid"), "stalled"),
])
def test_a_state_no_longer_true_is_dropped_when_its_stream_clears(first: Observation, stream: str) -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, key(), [first])
    deliver(box, T0, FAILED_500)
    observe(box, key(), [clear(stream)])
    assert waiting(box) == [] and box.to_status()["superseded"] == 1


def test_a_manifestset_recovery_replaces_its_undelivered_failure() -> None:
    ms = key(1, "ManifestSet")
    box = RuleOutbox.of(None, CREATED)
    observe(box, ms, [ms_failed(ms, "HealthCheckFailed")])
    observe(box, ms, [clear("ready")])
    due = box.due(T0, set(ALL))
    assert [d.event.type for d in due] == ["ManifestSetRecovered"] and "HealthCheckFailed" in due[0].event.message


def test_an_undelivered_drift_keeps_its_resolve_beside_it_and_a_delivered_one_gets_the_resolve() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, key(), [drift(key(), "a")])
    observe(box, key(), [clear("drift")])
    assert waiting(box) == [("DriftDetected", "a"), ("DriftResolved", "a")]
    deliver(box, T0 + timedelta(days=1))
    observe(box, key(), [drift(key(), "b")])
    deliver(box, T0 + timedelta(days=1))
    observe(box, key(), [clear("drift")])
    assert waiting(box) == [("DriftResolved", "b")] and "superseded" not in box.to_status()


def test_history_is_never_superseded() -> None:
    box = RuleOutbox.of(None, CREATED)
    runs = [applied(key(), f"r{i}", T0 + timedelta(minutes=i), f"p{i}") for i in range(8)]
    for i in range(1, len(runs) + 1):
        observe(box, key(), runs[:i])
        box = restart(box)
    assert waiting(box) == [("PlanApplied", f"p{i}") for i in range(8)]


def test_superseding_reaches_providers_that_have_not_got_it_and_unwanted_states_supersede_too() -> None:
    box = RuleOutbox.of(None, CREATED)
    both = ("slack", "hook")
    observe(box, key(), [plan(key(), "p1")], providers=both)
    for d in box.due(T0, set(both)):
        box.record(Outcome(d.entry_id, d.provider, DELIVERED if d.provider == "slack" else FAILED_500), T0)
    observe(box, key(), [plan(key(), "p2")], providers=both)
    assert sorted((d.provider, d.event.plan.plan_id if d.event.plan else "")
                  for d in box.due(T0 + timedelta(days=1), set(both))) == [("hook", "p2"), ("slack", "p2")]
    picky = RuleOutbox.of(None, CREATED)  # a rule for errors: PolicyDenied queued, the next PlanPending not
    observe(picky, key(), [denied(key(), "p1")], wanted=errors_only)
    observe(picky, key(), [plan(key(), "p2")], wanted=errors_only)
    assert waiting(picky) == []  # p1's denial is no longer true


def test_four_hundred_plans_at_once_none_lost_with_a_healthy_provider() -> None:
    """Review finding 3: 400 Terraforms planning at once used to drop 100 at queue time."""
    box = RuleOutbox.of(None, CREATED)
    keys = [key(n) for n in range(400)]
    sent: set[str] = set()
    now = T0
    for _ in range(10):  # reconciles: observe everything, deliver what is due, as the controller does
        for k in keys:
            observe(box, k, [plan(k, "p1")], now=now)
        assert box.pending_count() <= rule_outbox.MAX_PENDING
        for d in deliver(box, now):
            assert d.event.object.uid not in sent
            sent.add(d.event.object.uid)
        if box.deferred:  # deliveries made room: the controller is asked to look again at once
            when = box.next_due(set(ALL))
            assert when is not None and when <= now
        box = restart(box)
        now += timedelta(seconds=5)
    assert len(sent) == 400 and box.pending_count() == 0


# ---- 3: defer when the budget is full ---------------------------------------------------------------------


def fill(box: RuleOutbox, n: int = rule_outbox.MAX_PENDING) -> None:
    """A provider is down and n objects each have a plan waiting."""
    for i in range(n):
        observe(box, key(f"f{i}"), [plan(key(f"f{i}"), "p")])


def test_a_full_budget_defers_a_new_state_until_there_is_room() -> None:
    box = RuleOutbox.of(None, CREATED)
    fill(box)
    late = key("late")
    for obs in ([plan(late, "p9")], [drift(late, "d9")], [stalled(late, "SpecInvalid")]):
        observe(box, late, obs)
    assert box.deferred == 3 and box.pending_count() == rule_outbox.MAX_PENDING
    assert box.next_due(set()) is None  # no room: nothing to come back for until deliveries free some
    box = restart(box)
    row = next(r for r in box.to_status()["observed"] if r["uid"] == late.uid)
    assert row.get("streams", {}) == {}  # not remembered: still news
    deliver(box, T0)
    observe(box, late, [plan(late, "p9"), drift(late, "d9"), stalled(late, "SpecInvalid")])
    assert box.deferred == 0
    assert waiting(box) == [("PlanPending", "p9"), ("DriftDetected", "d9"), ("Stalled", "SpecInvalid")]


def test_a_superseding_state_fits_in_a_full_budget_a_new_one_does_not() -> None:
    box = RuleOutbox.of(None, CREATED)
    fill(box)
    observe(box, key("f0"), [plan(key("f0"), "p-new")])  # replaces f0's entry: fits
    assert box.deferred == 0 and ("PlanPending", "p-new") in waiting(box)
    observe(box, key("f1"), [drift(key("f1"), "d")])  # another stream of f1: a new entry, no room
    assert box.deferred == 1


def test_deferred_history_keeps_its_watermark_and_is_queued_in_order_later() -> None:
    box = RuleOutbox.of(None, CREATED)
    fill(box, rule_outbox.MAX_PENDING - 2)
    k = key("h")
    runs = [applied(k, f"r{i}", T0 + timedelta(minutes=i), f"p{i}") for i in range(5)]
    observe(box, k, runs)
    assert box.deferred == 1 and [w for w in waiting(box) if w[0] == "PlanApplied"] == [
        ("PlanApplied", "p0"), ("PlanApplied", "p1")]
    box = restart(box)
    observe(box, k, runs)  # still full: nothing more, nothing twice
    assert [w for w in waiting(box) if w[0] == "PlanApplied"] == [("PlanApplied", "p0"), ("PlanApplied", "p1")]
    deliver(box, T0 + timedelta(days=1))
    observe(box, k, runs)
    assert waiting(box) == [("PlanApplied", f"p{i}") for i in (2, 3, 4)]


def test_a_deferred_drift_resolve_is_queued_when_there_is_room() -> None:
    box = RuleOutbox.of(None, CREATED)
    k = key("d")
    observe(box, k, [drift(k, "a")])
    deliver(box, T0)
    fill(box)
    observe(box, k, [clear("drift")])
    assert box.deferred == 1 and ("DriftResolved", "a") not in waiting(box)
    deliver(box, T0 + timedelta(days=1))
    observe(box, k, [clear("drift")])
    assert waiting(box) == [("DriftResolved", "a")]


def test_the_byte_budget_defers_before_the_entry_count_when_records_are_big() -> None:
    policy = {"result": "denied", "results": [{"policy": f"policy-{i}", "result": "denied", "messages": [
        "y" * 2000] * 10} for i in range(40)]}
    box = RuleOutbox.of(None, CREATED)
    for n in range(rule_outbox.MAX_PENDING):
        k = key(f"b{n}")
        observe(box, k, [Observation("plan", ev.plan_pending(ref(k), "p", {}, policy=policy, now=T0))])
    assert 0 < box.pending_count() < rule_outbox.MAX_PENDING and box.deferred > 0
    size = len(json.dumps(box.to_status()))
    assert size <= rule_outbox.MAX_PENDING_BYTES + 64 * 1024


# ---- 5: message-level refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 413, 422])
def test_a_message_refused_twice_is_parked_the_others_go_first(status: int) -> None:
    box = RuleOutbox.of(None, CREATED)
    for i in range(3):
        observe(box, key(i), [plan(key(i), "p")])
    first = box.due(T0, set(ALL))[0]
    assert box.record(Outcome(first.entry_id, "slack", refused(status)), T0) is None
    box = restart(box)
    row = box.to_status()["pending"][0]["providers"][0]
    assert row["refused"] == 1 and row["permanent"] is True
    assert box.due(T0 + timedelta(days=1), set()) == []  # the provider went Ready=False: nothing due
    again = T0 + timedelta(days=1)
    order = [d.event.object.uid for d in box.due(again, set(ALL))]
    assert order == ["uid-1", "uid-2", "uid-0"]  # Ready again: the never-refused ones first
    parked = box.record(Outcome(first.entry_id, "slack", refused(status)), again)
    assert parked is not None and parked.provider == "slack" and parked.event.object.uid == "uid-0"
    assert str(status) in parked.error and box.parked == [parked]
    box = restart(box)
    assert box.to_status()["undeliverable"] == 1
    assert [d.event.object.uid for d in box.due(again, set(ALL))] == ["uid-1", "uid-2"]
    observe(box, key(0), [plan(key(0), "p")], now=again)  # the same state: not news, not queued again
    assert box.pending_count() == 2


def test_a_provider_level_refusal_never_parks_and_a_parked_entry_still_reaches_other_providers() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, key(), [plan(key(), "p")], providers=("slack", "hook"))
    now = T0
    for _ in range(5):  # 401: the provider is at fault, the entry waits for it however often
        due = box.due(now, {"slack"})
        assert len(due) == 1
        assert box.record(Outcome(due[0].entry_id, "slack", UNAUTHORIZED), now) is None
        now += timedelta(hours=1)
    for _ in range(2):
        due = box.due(now, {"hook"})
        box.record(Outcome(due[0].entry_id, "hook", refused()), now)
        now += timedelta(hours=1)
    assert box.undeliverable == 1 and [d.provider for d in box.due(now, {"slack", "hook"})] == ["slack"]
    deliver(box, now, ready=("slack",))
    assert box.pending_count() == 0


def test_a_retryable_answer_between_refusals_does_not_reset_the_count() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, key(), [plan(key(), "p")])
    now = T0
    for result in (refused(), FAILED_500):
        d = box.due(now, set(ALL))[0]
        assert box.record(Outcome(d.entry_id, "slack", result), now) is None
        now += timedelta(days=1)
    d = box.due(now, set(ALL))[0]
    assert box.record(Outcome(d.entry_id, "slack", refused(422)), now) is not None


# ---- 9: history floor --------------------------------------------------------------------------------------


def history(k: ObjectKey, *ages: timedelta) -> list[Observation]:
    return [applied(k, f"r{i}", JOIN - age, f"p{i}") for i, age in enumerate(ages)]


JOIN = CREATED + timedelta(days=90)  # when the label was added


def test_an_object_that_joins_late_does_not_replay_its_past() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, key("early"), [clear("plan")], now=T0)  # the rule's first look
    box = restart(box)
    late = key("late")
    old = history(late, timedelta(days=60), timedelta(days=1), timedelta(seconds=1))
    observe(box, late, old, now=JOIN)
    assert waiting(box) == []
    box = restart(box)
    new = [applied(late, "r9", JOIN + timedelta(minutes=3), "p9")]
    observe(box, late, old + new, now=JOIN + timedelta(minutes=5))
    assert waiting(box) == [("PlanApplied", "p9")]


def test_objects_of_the_first_look_keep_the_rule_creation_as_floor() -> None:
    box = RuleOutbox.of(None, CREATED)
    first = [key(i) for i in range(3)]
    for k in first:  # the first reconcile, a while after the rule was created
        observe(box, k, [applied(k, "r1", CREATED + timedelta(minutes=2), "p1"),
                         applied(k, "r0", CREATED - timedelta(minutes=2), "p0")], now=CREATED + timedelta(minutes=10))
    assert waiting(box) == [("PlanApplied", "p1")] * 3


def test_an_object_created_after_the_first_look_keeps_its_whole_history() -> None:
    box = RuleOutbox.of(None, CREATED)
    observe(box, key(0), [], now=T0)
    box = restart(box)
    born = T0 + timedelta(hours=1)
    fresh = key("fresh", created=born)
    runs = [applied(fresh, "r1", born + timedelta(minutes=1), "p1")]
    observe(box, fresh, runs, now=born + timedelta(minutes=30))  # the rule was down while it applied
    assert waiting(box) == [("PlanApplied", "p1")]


def test_a_rule_whose_first_look_saw_nothing_still_gets_a_first_look_time() -> None:
    box = RuleOutbox.of(None, CREATED)
    box.forget_missing(set(), T0)  # the first reconcile: no object selected
    box = restart(box)
    assert box.to_status()["observedSince"] == format_rfc3339(T0)
    late = key("late")
    observe(box, late, history(late, timedelta(days=3)), now=JOIN)
    assert waiting(box) == []


# ---- 2: the status stays small enough for etcd -----------------------------------------------------------


def test_the_reviews_worst_case_stays_far_below_etcds_limit() -> None:
    """60 objects x 5 drifts x 200 resources measured 5.4 MB before; and 2000 quiet objects."""
    box = RuleOutbox.of(None, CREATED)
    for n in range(60):
        k = key(n)
        for d in range(5):
            observe(box, k, [drift(k, f"fp-{d}", [f"module.m{n}.aws_iam_role.role_{d}_{i}" for i in range(200)])])
    for n in range(2000):
        k = key(f"q{n}")
        observe(box, k, [applied(k, "r1", T0, "p1")])
    text = json.dumps(box.to_status())
    assert len(text) < 1024 * 1024
    rows = json.dumps(box.to_status()["observed"])
    assert len(rows) < rule_outbox.MAX_OBSERVED_BYTES + 2000 * 400
    due = [d for d in box.due(T0, set(ALL)) if d.event.type == "DriftDetected"]
    assert len(due) == 60 and due[0].event.drift is not None and due[0].event.drift.resources[-1] == "… and 150 more"


def test_a_resolve_after_the_memory_shed_its_names_still_counts_them() -> None:
    box = RuleOutbox.of(None, CREATED)
    many = rule_outbox.MAX_OBSERVED_BYTES // (50 * 30) + 10
    for n in range(many):
        k = key(n)
        observe(box, k, [drift(k, "fp", [f"aws_s3_bucket.bucket_number_{i:04}" for i in range(80)])])
    box = restart(box)  # to_status shed the names of the drift rows
    deliver(box, T0)
    observe(box, key(0), [clear("drift")])
    resolved = box.due(T0, set(ALL))[0].event
    assert resolved.type == "DriftResolved" and resolved.message.startswith("80 resources")
