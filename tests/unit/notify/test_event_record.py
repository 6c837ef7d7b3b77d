"""notify.event records: `to_record` → JSON → `from_record` gives back the same event (every type, every
kind of details) except the diff, which is never stored; stored text is bounded; the fingerprint survives
even when the message is cut (the outbox's identity of an entry must not change through status)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tfcontroller.notify import event as ev

T0 = datetime(2026, 1, 1, 12, 30, 5, tzinfo=UTC)
OBJ = ev.ObjectRef("Terraform", "team-a", "bucket", "uid-1", "main@sha1:" + "a" * 40)
POLICY = {"result": "denied", "results": [
    {"policy": "no-public", "result": "denied", "messages": ["bucket is public", "acl"]},
    {"policy": "tags", "result": "waived", "messages": ["no owner tag"], "exception": "tags-ok"},
    {"policy": "size", "result": "passed"}]}


def _events() -> list[ev.NotificationEvent]:
    diff = [{"kind": "create", "text": "+ aws_s3_bucket.b", "indent": 1}]
    return [
        ev.plan_pending(OBJ, "plan-a", {"add": 2, "change": 1, "destroy": 3}, diff, policy=POLICY,
                        dashboard_url="https://dash.example/terraform/team-a/bucket", now=T0),
        ev.plan_pending(ev.ObjectRef("Terraform", "ns", "n"), "plan-b", {}, now=T0),
        ev.drift_event(OBJ, ["aws_s3_bucket.b", "aws_iam_role.r"], "fp1", plan_id="plan-c", now=T0),
        ev.drift_event(OBJ, ["aws_s3_bucket.b"], "fp1", resolved=True, now=T0),
        ev.simple_event("PlanApplied", OBJ, "Applied plan plan-a", reason="ApplySucceeded", plan_id="plan-a", now=T0),
        ev.simple_event("ApplyFailed", OBJ, "quota exceeded", reason="ApplyFailed", plan_id="plan-a", now=T0),
        ev.simple_event("Stalled", OBJ, "bad spec", reason="SpecInvalid", now=T0),
        ev.simple_event("ManifestSetFailed", ev.ObjectRef("ManifestSet", "ns", "apps", "u2"), "apply failed",
                        reason="ApplyFailed", now=T0),
        ev.simple_event("ManifestSetRecovered", ev.ObjectRef("ManifestSet", "ns", "apps", "u2"), "ready again",
                        now=T0),
        ev.NotificationEvent("PolicyDenied", OBJ, "denied", "error", reason="PolicyDenied",
                             details=ev.PlanDetails("plan-a", 1, policy_result="denied"), timestamp=T0,
                             metadata={"revision": "main@sha1:abc"}),
    ]


@pytest.mark.parametrize("event", _events(), ids=lambda e: e.type)
def test_round_trip_through_json_gives_the_same_event_without_the_diff(event: ev.NotificationEvent) -> None:
    record = json.loads(json.dumps(event.to_record()))
    back = ev.NotificationEvent.from_record(record)
    want = event
    if event.plan is not None:
        want = replace(event, details=replace(event.plan, diff=()))  # the diff is re-read at send time
    assert back == want
    assert back.fingerprint == event.fingerprint


def test_every_event_type_is_covered_by_the_round_trip() -> None:
    assert {e.type for e in _events()} == set(ev.EVENT_TYPES)


def test_the_diff_is_not_stored() -> None:
    assert ev.MAX_STORED_DIFF_LINES == 0
    record = _events()[0].to_record()
    assert "create" not in json.dumps(record) and "diff" not in record["plan"]


def test_long_texts_are_cut_and_the_fingerprint_is_kept() -> None:
    long = "x" * 5000
    failed = ev.simple_event("ApplyFailed", OBJ, long, plan_id="p", now=T0)
    record = failed.to_record()
    assert len(record["message"]) == ev.MAX_STORED_TEXT
    back = ev.NotificationEvent.from_record(record)
    assert back.fingerprint == failed.fingerprint  # not recomputed from the cut message
    assert back.message.endswith("…")
    denied = ev.plan_pending(OBJ, "p", {}, policy={"result": "denied", "results": [
        {"policy": "p1", "result": "denied", "messages": [long]}]}, now=T0)
    row = denied.to_record()["plan"]["policy"][0]
    assert len(row["messages"][0]) == ev.MAX_STORED_TEXT
    chatty = ev.plan_pending(OBJ, "p", {}, policy={"result": "denied", "results": [
        {"policy": "p1", "result": "denied", "messages": [f"m{i}" for i in range(20)]}]}, now=T0)
    stored = chatty.to_record()["plan"]["policy"][0]["messages"]
    assert stored == [f"m{i}" for i in range(ev.MAX_STORED_POLICY_MESSAGES)] + ["… and 15 more"]
    many = ev.drift_event(OBJ, [f"r.{i}" for i in range(500)], "fp", now=T0)
    assert len(many.to_record()["drift"]["resources"]) == ev.MAX_STORED_RESOURCES


@pytest.mark.parametrize("record", [
    {},
    {"type": "Nope", "message": "m"},
    {"type": "Stalled", "message": ""},
    {"type": "Stalled", "message": "m", "severity": "warning"},
])
def test_a_record_that_is_no_event_is_refused(record: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ev.NotificationEvent.from_record(record)


def test_a_record_without_timestamp_or_with_garbage_fields_still_reads() -> None:
    back = ev.NotificationEvent.from_record({"type": "Stalled", "message": "m", "timestamp": "yesterday",
                                             "object": "not a mapping", "plan": {"add": "many"}})
    assert back.type == "Stalled" and back.severity == "error" and back.object.kind == ""
    assert back.plan is not None and back.plan.add == 0
