"""notify.rule_outbox, the second review's findings 1, 2, 7, 9, 10: memory rows small and keyed by uid only
(fingerprints as short hashes, still read in full from an older status); a message the receiver keeps
failing is neither first in line forever nor kept for good while others get through; `next_due` asks for
an immediate look only when the deferred state fits and a provider can free room; every history run is
its own entry (ApplyFailed X, Y, X is three messages); the state entries of an object that is gone are
withdrawn, its history and drift kept.

Every case runs several inputs of its kind; the status goes through JSON where a restart could happen."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.unit.notify.test_rule_outbox_review import (
    ALL,
    CREATED,
    DELIVERED,
    FAILED_500,
    T0,
    applied,
    clear,
    deliver,
    drift,
    everything,
    fill,
    key,
    ms_failed,
    observe,
    plan,
    ref,
    restart,
    stalled,
    waiting,
)
from tfcontroller.api.times import format_rfc3339
from tfcontroller.notify import event as ev
from tfcontroller.notify import rule_outbox
from tfcontroller.notify.http_delivery import DeliveryResult
from tfcontroller.notify.observe import Observation
from tfcontroller.notify.rule_outbox import Outcome, RuleOutbox, short_hash

FAILED_502 = DeliveryResult("retryable", "ServerError", "answered 502", 502)
TIMEOUT = DeliveryResult("retryable", "Timeout", "did not answer", None)
RATE_LIMITED = DeliveryResult("retryable", "RateLimited", "answered 429", 429)


def failed(k: rule_outbox.ObjectKey, run_id: str, minute: int, reason: str) -> Observation:
    at = T0 + timedelta(minutes=minute)
    return Observation("history", ev.simple_event("ApplyFailed", ref(k), f"failed: {reason}", plan_id="p1",
                                                  reason=reason, now=at), key=run_id, at=format_rfc3339(at))


# ---- 1: small rows ---------------------------------------------------------------------------------------


def test_rows_keep_only_the_uid_short_hashes_and_no_empty_streams() -> None:
    box = RuleOutbox.of(None, CREATED)
    busy, quiet = key("busy"), key("quiet")
    observe(box, busy, [plan(busy, "plan-main-0123456789-abcdef01"), drift(busy, "sha256:" + "d" * 64),
                        stalled(busy, "SpecInvalid"), applied(busy, "run-" + "r" * 40, T0, "p1")])
    observe(box, quiet, [])
    rows = {r["uid"]: r for r in restart(box).to_status()["observed"]}
    assert rows[quiet.uid] == {"uid": quiet.uid}  # present, nothing else: see _Memory's docstring
    streams = rows[busy.uid]["streams"]
    assert set(rows[busy.uid]) == {"uid", "streams"}
    for name in ("plan", "drift", "stalled"):
        assert len(streams[name]["fingerprint"]) == 16
    assert all(len(r) == 16 for r in streams["history"]["runIds"])
    assert len(streams["history"]["fingerprint"]) == 16
    assert len(json.dumps(rows[busy.uid])) < 500  # four streams, one drift name and its fingerprint included


def test_a_row_per_object_stays_small_for_thousands_of_objects() -> None:
    box = RuleOutbox.of(None, CREATED)
    for n in range(rule_outbox.MAX_OBSERVED_OBJECTS):
        k = key(f"{n:036d}")
        observe(box, k, [plan(k, f"plan-main-0123456789-{n:08d}"), applied(k, f"run-{n}", T0, "p")],
                providers=ALL, wanted=lambda t, s: False)  # remembered, not queued
    rows = json.dumps(box.to_status()["observed"], separators=(",", ":"))
    assert len(rows) < 250 * rule_outbox.MAX_OBSERVED_OBJECTS  # ~440 B a row before, with a 36-character uid
    assert len(rows) + rule_outbox.MAX_PENDING_BYTES < 1024 * 1024  # far below etcd's 1.5 MiB


@pytest.mark.parametrize("stream_obs", [
    lambda k: [plan(k, "p1")], lambda k: [drift(k, "sha256:a")], lambda k: [stalled(k, "SpecInvalid")],
    lambda k: [ms_failed(k, "ApplyFailed")], lambda k: [applied(k, "r1", T0, "p1")]])
def test_a_status_of_an_older_version_with_full_fingerprints_sends_nothing_again(stream_obs) -> None:  # type: ignore[no-untyped-def]
    k = key("old")
    box = RuleOutbox.of(None, CREATED)
    observe(box, k, stream_obs(k))
    deliver(box, T0)
    status = box.to_status()
    for row in status["observed"]:  # what the previous version wrote: fingerprints and run ids in full
        for name, s in row["streams"].items():
            obs = next(o for o in stream_obs(k) if o.stream == name)
            assert obs.event is not None
            if "fingerprint" in s:
                s["fingerprint"] = obs.event.fingerprint
            if "runIds" in s:
                s["runIds"] = [obs.key]
        row.update({"kind": k.kind, "namespace": k.namespace, "name": k.name})
    old = RuleOutbox.of(json.loads(json.dumps(status)), CREATED)
    observe(old, k, stream_obs(k), now=T0 + timedelta(minutes=5))
    assert waiting(old) == []
    assert short_hash("x") != "x"


# ---- 2: one failing message does not hold the provider ---------------------------------------------------


@pytest.mark.parametrize("failure", [FAILED_500, FAILED_502, TIMEOUT, RATE_LIMITED])
def test_entries_never_tried_go_before_retrying_ones(failure: DeliveryResult) -> None:
    box = RuleOutbox.of(None, CREATED)
    stuck, fresh1, fresh2 = key("stuck"), key("fresh1"), key("fresh2")
    observe(box, stuck, [plan(stuck, "p-stuck")])
    deliver(box, T0, failure)
    observe(box, fresh1, [plan(fresh1, "p1")])
    observe(box, fresh2, [stalled(fresh2, "SpecInvalid")])
    assert [w[1] for w in waiting(box)] == ["p1", "SpecInvalid", "p-stuck"]


def test_a_state_never_overtakes_the_older_entry_of_its_own_stream() -> None:
    box = RuleOutbox.of(None, CREATED)
    k = key("d")
    observe(box, k, [drift(k, "a")])
    deliver(box, T0, FAILED_500)
    observe(box, k, [clear("drift")])
    assert waiting(box) == [("DriftDetected", "a"), ("DriftResolved", "a")]


@pytest.mark.parametrize("failure", [FAILED_500, FAILED_502])
def test_an_entry_failing_with_5xx_while_others_get_through_is_parked(failure: DeliveryResult) -> None:
    box = RuleOutbox.of(None, CREATED)
    bad = key("bad")
    observe(box, bad, [plan(bad, "p-bad")])
    now = T0
    parked = None
    for n in range(rule_outbox.MAX_SERVER_ERRORS):
        other = key(f"ok{n}")
        observe(box, other, [plan(other, f"p{n}")], now=now)
        for d in box.due(now + timedelta(days=1), set(ALL)):
            result = failure if d.event.plan and d.event.plan.plan_id == "p-bad" else DELIVERED
            parked = box.record(Outcome(d.entry_id, d.provider, result), now) or parked
        box = restart(box)  # the streak survives a restart
        now += timedelta(days=1)
    assert parked is not None and parked.event.plan is not None and parked.event.plan.plan_id == "p-bad"
    assert box.pending_count() == 0 and box.to_status()["undeliverable"] == 1


@pytest.mark.parametrize("failure", [FAILED_500, TIMEOUT, RATE_LIMITED])
def test_a_provider_that_fails_everything_parks_nothing(failure: DeliveryResult) -> None:
    """A receiver that is down fails every entry: no entry's streak saw another pass."""
    box = RuleOutbox.of(None, CREATED)
    for n in range(3):
        observe(box, key(n), [plan(key(n), f"p{n}")])
    for day in range(3 * rule_outbox.MAX_SERVER_ERRORS):
        deliver(box, T0 + timedelta(days=day), failure)
    assert box.pending_count() == 3 and not box.to_status().get("undeliverable")


@pytest.mark.parametrize("between", [TIMEOUT, RATE_LIMITED])
def test_a_non_5xx_answer_breaks_the_streak(between: DeliveryResult) -> None:
    box = RuleOutbox.of(None, CREATED)
    bad = key("bad")
    observe(box, bad, [plan(bad, "p-bad")])
    results = [FAILED_500] * (rule_outbox.MAX_SERVER_ERRORS - 1) + [between] + [FAILED_500]
    for n, result in enumerate(results):
        other = key(f"ok{n}")
        observe(box, other, [plan(other, f"p{n}")])
        for d in box.due(T0 + timedelta(days=n + 1), set(ALL)):
            box.record(Outcome(d.entry_id, d.provider, result if d.event.plan.plan_id == "p-bad" else DELIVERED),
                       T0 + timedelta(days=n))
    assert box.pending_count() == 1  # not parked: the streak restarted


# ---- 7: next_due after a deferral ------------------------------------------------------------------------


def big_plan(k: rule_outbox.ObjectKey, size: int) -> Observation:
    policy = {"result": "denied", "results": [{"policy": f"policy-{i}", "result": "denied", "messages": [
        "y" * 290] * 3} for i in range(size)]}
    return Observation("plan", ev.plan_pending(ref(k), "p-big", {}, policy=policy, now=T0))


@pytest.mark.parametrize("policies", [10, 20])
def test_a_deferred_state_bigger_than_the_free_room_is_not_a_look_now(policies: int) -> None:
    box = RuleOutbox.of(None, CREATED)
    fill(box, rule_outbox.MAX_PENDING - 1)
    k = key("big")
    while box.has_room(40 * 1024):  # leave a little more than 8 KiB, less than the big entry needs
        observe(box, key(f"pad{box.pending_count()}"), [drift(key(f"pad{box.pending_count()}"), "x", ["r"] * 50)])
    observe(box, k, [big_plan(k, policies)])
    assert box.deferred >= 1
    assert box.next_due(set()) is None  # no provider ready: nothing frees room
    later = box.next_due(set(ALL))  # a provider ready: the next entry's due time, not "now" for the deferral
    assert later is not None


def test_a_deferred_state_that_fits_after_deliveries_is_a_look_now_only_with_a_ready_provider() -> None:
    box = RuleOutbox.of(None, CREATED)
    fill(box)
    late = key("late")
    observe(box, late, [plan(late, "p-late")])
    assert box.deferred == 1
    deliver(box, T0 + timedelta(days=1))  # room now
    assert box.next_due(set()) is None
    assert box.next_due(set(ALL)) == CREATED  # a past time: now


# ---- 9: every run its own entry --------------------------------------------------------------------------


@pytest.mark.parametrize("reasons", [("X", "Y", "X"), ("X", "Y", "X", "Y"), ("X", "Y", "Z", "X", "Y")])
def test_each_failed_run_is_its_own_entry_even_when_an_older_one_had_the_same_fingerprint(reasons) -> None:  # type: ignore[no-untyped-def]
    box = RuleOutbox.of(None, CREATED)
    k = key("h")
    runs = [failed(k, f"run-{n}", n, r) for n, r in enumerate(reasons)]
    observe(box, k, runs)
    box = restart(box)
    observe(box, k, runs, now=T0 + timedelta(hours=1))  # nothing twice
    assert reasons_waiting(box) == list(reasons)


def test_a_retry_of_the_same_failure_is_still_one_message() -> None:
    box = RuleOutbox.of(None, CREATED)
    k = key("h")
    observe(box, k, [failed(k, "run-0", 0, "X"), failed(k, "run-1", 1, "X"), failed(k, "run-2", 2, "Y")])
    assert reasons_waiting(box) == ["X", "Y"]


def reasons_waiting(box: RuleOutbox) -> list[str]:
    return [d.event.reason for d in box.due(T0 + timedelta(days=1), set(ALL))]


# ---- 10: an object that is gone ------------------------------------------------------------------------


@pytest.mark.parametrize("obs,kept", [
    (lambda k: [plan(k, "p1")], []),
    (lambda k: [stalled(k, "SpecInvalid")], []),
    (lambda k: [ms_failed(k, "ApplyFailed")], []),
    (lambda k: [plan(k, "p1"), drift(k, "a"), applied(k, "r1", T0, "p1")], ["DriftDetected", "PlanApplied"]),
    (lambda k: [stalled(k, "SpecInvalid"), applied(k, "r1", T0, "p1")], ["PlanApplied"]),
])
def test_a_gone_objects_state_entries_are_withdrawn_its_history_and_drift_kept(obs, kept) -> None:  # type: ignore[no-untyped-def]
    box = RuleOutbox.of(None, CREATED)
    gone, stays = key("gone"), key("stays")
    observe(box, gone, obs(gone))
    observe(box, stays, [plan(stays, "p-stays")])
    deliver(box, T0, FAILED_500)  # undelivered
    queued = box.pending_count()
    box.forget_missing({stays.uid}, T0 + timedelta(minutes=1))
    box = restart(box)
    assert sorted(t for t, _ in waiting(box) if t != "PlanPending" or _ != "p-stays") == sorted(kept)
    assert ("PlanPending", "p-stays") in waiting(box)
    assert box.to_status().get("superseded", 0) == queued - 1 - len(kept)


def test_everything_wanted_is_still_queued() -> None:
    """A guard that the helpers above queue what they claim (the filter lets everything through)."""
    assert everything("PlanPending", "info")
