"""Pure drift-detection rules of tfcontroller.controllers.terraform.drift.schedule: when a check is due (interval,
default, disabled, jitter spread and stability), and what a check or an apply records in status
(drift fields, the Drifted condition and its message, DriftDetected/DriftResolved Events without values)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.support.drift import applied_status, make_obj, report, tf_of
from tests.support.sample_plan import SECRETS, drift_plan
from tfcontroller.api import conditions as c
from tfcontroller.api.times import format_rfc3339, parse_rfc3339
from tfcontroller.controllers.terraform.drift import schedule as td
from tfcontroller.terraform.drift import DriftReport, analyze

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_jitter_factor_is_stable_and_within_ten_percent() -> None:
    factors = [td.jitter_factor(f"uid-{i}") for i in range(500)]
    assert all(0.9 <= f <= 1.1 for f in factors)
    assert td.jitter_factor("uid-7") == td.jitter_factor("uid-7")
    # spread: many objects do not land on the same second
    assert max(factors) - min(factors) > 0.15
    assert len({round(f * 600) for f in factors}) > 50


def test_due_after_the_jittered_interval_from_the_last_check() -> None:
    obj = make_obj(status=applied_status(NOW))
    tf = tf_of(obj)
    at = td.next_check_at(tf, NOW)
    assert at is not None
    assert dt.timedelta(minutes=9) <= at - NOW <= dt.timedelta(minutes=11)
    assert not td.drift_due(tf, at - dt.timedelta(seconds=1))
    assert td.drift_due(tf, at)
    assert td.seconds_until_due(tf, NOW) == pytest.approx((at - NOW).total_seconds())
    assert td.seconds_until_due(tf, at + dt.timedelta(hours=1)) == 0.0


def test_objects_checked_at_the_same_time_spread_out() -> None:
    times = {td.next_check_at(tf_of(make_obj(uid=f"uid-{i}", status=applied_status(NOW))), NOW) for i in range(40)}
    assert len(times) > 30


def test_drift_interval_overrides_the_object_interval_and_takes_effect_at_once() -> None:
    obj = make_obj(spec={"driftDetection": {"interval": "1h"}}, status=applied_status(NOW))
    at = td.next_check_at(tf_of(obj), NOW)
    assert at is not None and dt.timedelta(minutes=54) <= at - NOW <= dt.timedelta(minutes=66)
    obj["spec"]["driftDetection"]["interval"] = "1m"  # a stored nextCheckAt an hour away is not binding
    obj["status"]["drift"]["nextCheckAt"] = format_rfc3339(at)
    assert td.drift_due(tf_of(obj), NOW + dt.timedelta(seconds=70))


@pytest.mark.parametrize("spec,status", [
    ({"driftDetection": {"disabled": True}}, applied_status(NOW - dt.timedelta(days=1))),
    ({}, {}),  # never applied: nothing to check
    ({"suspend": True}, applied_status(NOW - dt.timedelta(days=1))),
])
def test_never_due(spec: dict[str, Any], status: dict[str, Any]) -> None:
    tf = tf_of(make_obj(spec=spec, status=status))
    assert not td.drift_due(tf, NOW + dt.timedelta(days=30))
    assert td.seconds_until_due(tf, NOW) is None


def test_first_check_counts_from_the_applied_condition_else_now() -> None:
    status = applied_status()
    status["conditions"] = [{"type": "Applied", "status": "True", "reason": "ApplySucceeded", "message": "",
                             "lastTransitionTime": format_rfc3339(NOW)}]
    tf = tf_of(make_obj(status=status))
    assert not td.drift_due(tf, NOW + dt.timedelta(minutes=8))
    assert td.drift_due(tf, NOW + dt.timedelta(minutes=12))
    assert td.drift_due(tf_of(make_obj(status=applied_status())), NOW)


def test_record_check_with_drift_sets_fields_condition_and_one_event_per_fingerprint() -> None:
    obj = make_obj(status=applied_status(NOW - dt.timedelta(minutes=10)))
    rep = analyze(drift_plan())
    out = td.record_check(obj, tf_of(obj), rep, NOW)
    drift = obj["status"]["drift"]
    assert drift["lastCheckedAt"] == drift["lastDetectedAt"] == "2026-01-02T03:04:05Z"
    assert drift["resources"] == ["aws_db_instance.main", "aws_s3_bucket.demo", "aws_sqs_queue.jobs"]
    assert drift["fingerprint"] == rep.fingerprint
    assert parse_rfc3339(drift["nextCheckAt"]) > NOW
    cond = c.find(obj["status"]["conditions"], c.DRIFTED)
    assert cond is not None and (cond.status, cond.reason) == ("True", "DriftDetected")
    assert cond.message.startswith("3 resources changed outside Terraform: aws_db_instance.main")
    assert out.drifted and out.changed
    [ev] = out.notices
    assert (ev.type, ev.reason) == ("Warning", "DriftDetected")
    assert "aws_s3_bucket.demo (update: tags.env, tags.owner)" in ev.message
    assert "auth.token" in ev.message
    for value in (*SECRETS, "prod", "dev", "team-a"):
        assert value not in ev.message
        assert value not in str(obj["status"])
    # the same drift at the next check: no new Event, lastDetectedAt moves
    later = NOW + dt.timedelta(minutes=10)
    again = td.record_check(obj, tf_of(obj), analyze(drift_plan()), later)
    assert again.notices == [] and not again.changed
    assert obj["status"]["drift"]["lastDetectedAt"] == format_rfc3339(later)


def test_condition_message_names_at_most_five_resources() -> None:
    obj = make_obj(status=applied_status())
    td.record_check(obj, tf_of(obj), report(*[f"aws_sqs_queue.q{i}" for i in range(7)]), NOW)
    cond = c.find(obj["status"]["conditions"], c.DRIFTED)
    assert cond is not None
    assert cond.message == ("7 resources changed outside Terraform: aws_sqs_queue.q0, aws_sqs_queue.q1, "
                            "aws_sqs_queue.q2, aws_sqs_queue.q3, aws_sqs_queue.q4 and 2 more")


def test_drift_that_clears_records_when_and_a_resolved_event() -> None:
    obj = make_obj(status=applied_status())
    td.record_check(obj, tf_of(obj), report("aws_s3_bucket.b"), NOW)
    later = NOW + dt.timedelta(minutes=10)
    out = td.record_check(obj, tf_of(obj), DriftReport([]), later)
    drift = obj["status"]["drift"]
    assert drift["fingerprint"] == "" and drift["resources"] == []
    assert drift["clearedAt"] == format_rfc3339(later)
    assert drift["lastDetectedAt"] == format_rfc3339(NOW)
    cond = c.find(obj["status"]["conditions"], c.DRIFTED)
    assert cond is not None and (cond.status, cond.reason) == ("False", "DriftResolved")
    assert cond.last_transition_time == format_rfc3339(later)
    assert [(n.type, n.reason) for n in out.notices] == [("Normal", "DriftResolved")]
    # the next clean check keeps the resolution as the reason and writes no Event
    quiet = td.record_check(obj, tf_of(obj), DriftReport([]), later + dt.timedelta(minutes=10))
    assert quiet.notices == []
    cond = c.find(obj["status"]["conditions"], c.DRIFTED)
    assert cond is not None and cond.reason == "DriftResolved" and drift["clearedAt"] == format_rfc3339(later)


def test_clean_first_check_is_drifted_false_without_events() -> None:
    obj = make_obj(status=applied_status())
    out = td.record_check(obj, tf_of(obj), DriftReport([]), NOW)
    cond = c.find(obj["status"]["conditions"], c.DRIFTED)
    assert cond is not None and (cond.status, cond.reason) == ("False", "NoDriftDetected")
    assert out.notices == [] and "clearedAt" not in obj["status"]["drift"]


def test_apply_remediates_recorded_drift() -> None:
    obj = make_obj(status=applied_status())
    assert td.record_applied(obj, NOW).notices == []  # nothing recorded: nothing to clear
    td.record_check(obj, tf_of(obj), report("aws_s3_bucket.b", "aws_sqs_queue.q"), NOW)
    later = NOW + dt.timedelta(seconds=30)
    out = td.record_applied(obj, later)
    drift = obj["status"]["drift"]
    assert drift["fingerprint"] == "" and drift["resources"] == [] and drift["clearedAt"] == format_rfc3339(later)
    cond = c.find(obj["status"]["conditions"], c.DRIFTED)
    assert cond is not None and (cond.status, cond.reason) == ("False", "DriftRemediated")
    assert "2 resources" in cond.message
    assert [(n.type, n.reason) for n in out.notices] == [("Normal", "DriftRemediated")]


def test_disabling_drops_the_condition_and_schedule() -> None:
    obj = make_obj(status=applied_status())
    td.record_check(obj, tf_of(obj), report("aws_s3_bucket.b"), NOW)
    obj["spec"]["driftDetection"] = {"disabled": True}
    td.clear_when_disabled(obj, tf_of(obj))
    assert c.find(obj["status"]["conditions"], c.DRIFTED) is None
    assert "nextCheckAt" not in obj["status"]["drift"]
    assert obj["status"]["drift"]["resources"] == ["aws_s3_bucket.b"]


def test_refresh_schedule_follows_any_plan_and_leaves_unchecked_objects_alone() -> None:
    obj = make_obj(status=applied_status())
    td.refresh_schedule(obj, tf_of(obj), NOW)
    assert "drift" not in obj["status"]
    obj["status"]["drift"] = {"lastCheckedAt": format_rfc3339(NOW), "nextCheckAt": "2020-01-01T00:00:00Z"}
    td.refresh_schedule(obj, tf_of(obj), NOW)
    nxt = parse_rfc3339(obj["status"]["drift"]["nextCheckAt"])
    assert nxt == td.next_check_at(tf_of(obj), NOW)
    assert nxt is not None and nxt - NOW > dt.timedelta(minutes=8)
