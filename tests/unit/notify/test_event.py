"""notify.event: types and severities are checked, the fingerprint is the rule the outbox deduplicates
on (one message per plan id for pending/applied/denied plans, per drift fingerprint for drift, per
reason, plan id and revision for failures, never their volatile message; always per object), a drift of
many resources is one bounded message, `scrubbed` reaches every text field, and the
approve commands are api/commands.py's. Plus notify.formats.text: the diff is cut at a line boundary
within the limit with an exact count of what was left out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tfcontroller.api.commands import approve_command, cli_approve_command
from tfcontroller.notify import event as ev
from tfcontroller.notify.formats.text import diff_text, facts, omitted_note
from tfcontroller.terraform.plan_view import DiffLine

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OBJ = ev.ObjectRef("Terraform", "team-a", "bucket", "uid-1", "main@sha1:" + "a" * 40)


def test_unknown_type_and_severity_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown notification event type"):
        ev.NotificationEvent("PlanWaiting", OBJ, "m")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="severity"):
        ev.NotificationEvent("Stalled", OBJ, "m", "warning")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a message"):
        ev.NotificationEvent("Stalled", OBJ, " \n")


def test_every_type_has_a_default_severity_and_a_title() -> None:
    for t in ev.EVENT_TYPES:
        e = ev.NotificationEvent(t, OBJ, "m", ev.DEFAULT_SEVERITY[t])  # type: ignore[arg-type]
        assert e.title.endswith("Terraform team-a/bucket") and e.reason == t


def test_pending_plan_fingerprint_is_the_plan_id_not_the_time_or_diff_rendering() -> None:
    a = ev.plan_pending(OBJ, "plan-a", {"add": 1}, [{"kind": "create", "text": "+ x", "indent": 1}], now=T0)
    again = ev.plan_pending(OBJ, "plan-a", {"add": 1}, [], now=datetime(2027, 1, 1, tzinfo=UTC))
    other_plan = ev.plan_pending(OBJ, "plan-b", {"add": 1}, [], now=T0)
    other_obj = ev.plan_pending(ev.ObjectRef("Terraform", "team-b", "bucket", "uid-2"), "plan-a", {}, [], now=T0)
    assert a.fingerprint == again.fingerprint
    assert len({a.fingerprint, other_plan.fingerprint, other_obj.fingerprint}) == 3
    applied = ev.simple_event("PlanApplied", OBJ, "applied", plan_id="plan-a")
    assert applied.fingerprint != a.fingerprint  # same plan, another event type: news
    assert applied.fingerprint == ev.simple_event("PlanApplied", OBJ, "other text", plan_id="plan-a").fingerprint


def test_failure_fingerprint_follows_reason_plan_and_revision_not_the_message() -> None:
    """Review finding 7: a failure's message carries volatile detail; the same failure is one message."""
    one = ev.simple_event("ApplyFailed", OBJ, "quota exceeded", plan_id="plan-a")
    assert one.fingerprint == ev.simple_event("ApplyFailed", OBJ, "quota exceeded (request id 7f3a)",
                                              plan_id="plan-a").fingerprint
    assert one.fingerprint != ev.simple_event("ApplyFailed", OBJ, "quota exceeded", plan_id="plan-b").fingerprint
    assert one.fingerprint != ev.simple_event("ApplyFailed", OBJ, "quota exceeded", reason="Interrupted",
                                              plan_id="plan-a").fingerprint
    moved = ev.ObjectRef(OBJ.kind, OBJ.namespace, OBJ.name, OBJ.uid, "main@sha1:" + "b" * 40)
    assert one.fingerprint != ev.simple_event("ApplyFailed", moved, "quota exceeded", plan_id="plan-a").fingerprint
    stalled = ev.simple_event("Stalled", OBJ, "bad spec", reason="SpecInvalid")
    assert stalled.fingerprint != ev.simple_event("Stalled", OBJ, "bad spec", reason="SourceNotFound").fingerprint
    assert stalled.fingerprint == ev.simple_event("Stalled", OBJ, "other words", reason="SpecInvalid").fingerprint
    ms = ev.ObjectRef("ManifestSet", "team-a", "apps", "uid-2", "main@sha1:" + "a" * 40)
    flapping = {ev.simple_event("ManifestSetFailed", ms, f"deployment/web: readyReplicas {n}/3",
                                reason="HealthCheckFailed").fingerprint for n in (0, 1, 2)}
    assert len(flapping) == 1


@pytest.mark.parametrize("count", [1, ev.MAX_NAMED_RESOURCES, ev.MAX_NAMED_RESOURCES + 1, ev.MAX_STORED_RESOURCES + 1,
                                   5000])
def test_a_drift_message_names_a_bounded_number_of_resources_and_counts_the_rest(count: int) -> None:
    names = [f"aws_s3_bucket.b{i}" for i in range(count)]
    event = ev.drift_event(OBJ, names, "fp")
    assert event.message.startswith(f"{count} resource")
    assert len(event.message) < 40 * ev.MAX_NAMED_RESOURCES + 100
    assert event.drift is not None
    kept, more = ev.split_more(event.drift.resources)
    assert kept == tuple(names[:ev.MAX_STORED_RESOURCES]) and len(kept) + more == count
    hidden = count - min(count, ev.MAX_NAMED_RESOURCES)
    assert (f"… and {hidden} more" in event.message) == (hidden > 0)
    again = ev.drift_event(OBJ, event.drift.resources, "fp", resolved=True)  # what a record gives back
    assert again.message.startswith(f"{count} resource") and again.drift is not None
    assert again.drift.resources == event.drift.resources


def test_drift_fingerprint_follows_the_drift_fingerprint() -> None:
    a = ev.drift_event(OBJ, ["x.a"], "fp1")
    assert a.fingerprint == ev.drift_event(OBJ, ["x.a"], "fp1", plan_id="p").fingerprint
    assert a.fingerprint != ev.drift_event(OBJ, ["x.a", "x.b"], "fp2").fingerprint
    assert a.fingerprint != ev.drift_event(OBJ, ["x.a"], "fp1", resolved=True).fingerprint
    assert a.severity == "error" and ev.drift_event(OBJ, ["x.a"], "fp1", resolved=True).severity == "info"


def test_plan_pending_takes_diff_lines_as_plan_view_makes_them_and_the_commands_from_api() -> None:
    lines = [DiffLine("summary", "Plan: 1 to add."), DiffLine("create", "+ x (create)", 1)]
    e = ev.plan_pending(OBJ, "plan-a", {"add": 1, "change": 2, "destroy": 3}, lines,
                        policy={"result": "passed", "results": [{"policy": "p", "result": "passed"}]})
    plan = e.plan
    assert plan is not None
    assert plan.diff == (ev.Line("summary", "Plan: 1 to add."), ev.Line("create", "+ x (create)", 1))
    assert plan.approve_command == approve_command("team-a", "bucket", "plan-a")
    assert plan.cli_approve_command == cli_approve_command("team-a", "bucket", "plan-a")
    assert (plan.add, plan.change, plan.destroy) == (1, 2, 3)
    assert plan.policy_lines() == ["Policy check: passed", "  passed: p"]
    assert ("Changes", "1 to add, 2 to change, 3 to destroy") in facts(e)


SECRET = "hunter2-very-secret"


def test_scrubbed_reaches_every_free_text_field() -> None:
    obj = ev.ObjectRef("Terraform", "ns", "app", "uid", f"main-{SECRET}@sha1:x")
    plan = ev.plan_pending(obj, "plan-main-1", {}, [{"kind": "k", "text": SECRET}],
                           policy={"result": "denied", "results": [
                               {"policy": "p", "result": "denied", "messages": [SECRET], "exception": SECRET}]},
                           dashboard_url=f"https://user:{SECRET}@h/p")
    plan = ev.NotificationEvent(plan.type, plan.object, f"m {SECRET}", details=plan.details,
                                metadata={"k": SECRET})
    drift = ev.drift_event(obj, [SECRET], "fp", plan_id="plan-main-1")
    for e in (plan, drift):
        assert SECRET in repr(e)
        clean = e.scrubbed([SECRET])
        assert SECRET not in repr(clean)
        assert clean.fingerprint == e.fingerprint  # deduplication does not change with the scrub


@pytest.mark.parametrize("value", ["app", "team-a", "3", "1", "plan", "main", "tfcontroller", "approve"])
def test_scrub_leaves_structural_fields_intact(value: str) -> None:
    """A "secret" value equal to the object's name, its namespace, a number or a word of the command (a
    non-sensitive output that slipped into the list) must not mangle the title, the plan id, the approve
    commands or the link: they come from trusted data. Free text still loses it."""
    obj = ev.ObjectRef("Terraform", "team-a", "app", "uid-1", "main@sha1:abc")
    plan_id = "plan-main-0123456789-3b8f0a1c"
    raw = ev.plan_pending(obj, plan_id, {"add": 3, "change": 1}, [{"kind": "create", "text": f"+ x = {value}"}],
                          dashboard_url="https://dash.example.com/terraform/team-a/app")
    raw = ev.NotificationEvent(raw.type, raw.object, f"plan {plan_id} of app: {value}", details=raw.details)
    clean = raw.scrubbed([value])
    assert clean.title == raw.title
    assert (clean.object.kind, clean.object.namespace, clean.object.name, clean.object.uid) == \
        ("Terraform", "team-a", "app", "uid-1")
    assert clean.plan is not None and raw.plan is not None
    assert clean.plan.plan_id == plan_id
    assert clean.plan.approve_command == approve_command("team-a", "app", plan_id)
    assert clean.plan.cli_approve_command == raw.plan.cli_approve_command
    assert clean.plan.dashboard_url == raw.plan.dashboard_url
    assert (clean.plan.add, clean.plan.change) == (3, 1)
    if len(value) >= 3:  # shorter values are never scrubbed (api/redact.MIN_SECRET_LENGTH)
        assert value not in clean.message.split(": ")[-1] and value not in clean.plan.diff[0].text


LINES = tuple(ev.Line("create", f"+ r.{i} (create)", 1) for i in range(200))


@pytest.mark.parametrize("limit", [0, 10, 60, 80, 100, 500, 1333, 4000])
def test_diff_text_stays_within_the_limit_and_counts_what_it_left_out(limit: int) -> None:
    text, left = diff_text(LINES, limit)
    assert len(text) <= limit
    shown = [ln for ln in text.splitlines() if "(create)" in ln]
    assert [s.strip() for s in shown] == [ln.text for ln in LINES[: len(shown)]]  # a prefix, whole lines
    assert len(shown) + left == len(LINES)
    if left and limit >= len(omitted_note(left)):
        assert text.endswith(omitted_note(left))


def test_diff_text_whole_when_it_fits() -> None:
    text, left = diff_text(LINES[:3], 1000)
    assert left == 0 and text == "  + r.0 (create)\n  + r.1 (create)\n  + r.2 (create)"
