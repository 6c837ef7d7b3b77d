"""The drift report view (operations/drift_report.py) shared by `tfcontroller drift` and the dashboard:
every spelling of `status.drift.resources[]` read one way, the notification state, and the remediation
plan named only when the pending plan is a drift plan."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.operations.drift_report import DriftedResource, DriftReport, notification_state


@pytest.mark.parametrize(("entry", "want"), [
    ("aws_s3_bucket.b", DriftedResource("aws_s3_bucket.b")),
    ({"address": "a.b", "action": "update", "attributes": ["tags.env", "acl"]},
     DriftedResource("a.b", "update", ("tags.env", "acl"))),
    ({"name": "a.c", "actions": ["delete", "create"], "changedAttributes": {"z": 1, "y": 2}},
     DriftedResource("a.c", "delete+create", ("y", "z"))),
    ({"attributes": "not-a-list"}, DriftedResource("?")),
])
def test_resource_spellings(entry: Any, want: DriftedResource) -> None:
    assert DriftedResource.of(entry) == want


@pytest.mark.parametrize(("drift", "want"), [
    ({}, "-"),
    ({"notifiedAt": "2026-01-01T00:00:00Z"}, "delivered 2026-01-01T00:00:00Z"),
    ({"pendingNotification": {"kind": "resolved", "attempts": 2, "nextAttemptAt": "T"}},
     "resolved report pending (not delivered yet, 2 failed attempts, next attempt T)"),
])
def test_notification_state(drift: dict[str, Any], want: str) -> None:
    assert notification_state(drift) == want


def _tf(status: dict[str, Any], spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "x", "namespace": "n"}, "spec": spec or {}, "status": status}


def test_no_check_yet_and_disabled() -> None:
    report = DriftReport.of(_tf({}, {"driftDetection": {"disabled": True}}))
    assert report.disabled and not report.checked and not report.drifted


def test_report_names_remediation_plan_only_for_a_drift_plan() -> None:
    drift = {"lastCheckedAt": "C", "lastDetectedAt": "D", "fingerprint": "f",
             "resources": [{"address": "a.b", "action": "update", "attributes": ["tags"]}]}
    conditions = [{"type": "Drifted", "status": "True", "reason": "DriftDetected"}]
    report = DriftReport.of(_tf({"drift": drift, "conditions": conditions,
                                 "plan": {"pending": "plan-1", "isDrift": True}}))
    assert report.drifted and report.condition_reason == "DriftDetected"
    assert report.remediation_plan == "plan-1" and report.resources[0].attributes == ("tags",)
    plain = DriftReport.of(_tf({"drift": drift, "plan": {"pending": "plan-2"}}))
    assert plain.remediation_plan == "" and plain.condition_reason == ""
    assert not DriftReport.of(_tf({"drift": {"lastCheckedAt": "C", "resources": "junk"}})).drifted
