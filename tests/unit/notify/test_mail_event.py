"""The notification e-mail (notify/mail_event.py) for every event type and for the inputs at the limits
that the chat formats are tested with (tests/unit/notify/test_formats.py): each builds a well-formed
multipart/alternative message that parses back with the event's title as subject, the shared headers,
and the event's message in both parts; a pending plan carries its id, counts, both approve commands,
the policy lines, the link, and a long diff cut with the count of left-out lines; every value is escaped
in the HTML part (markup in a diff line, a resource, the object's name; a link that is not http(s) is
not made a link); the Message-ID is stable for one event and new for the same fingerprint later."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from tests.unit.notify.test_formats import EVENTS, OBJ, PLAN_ID, POLICY, T0, _diff
from tfcontroller.notify import event as ev
from tfcontroller.notify.formats.text import omitted_note
from tfcontroller.notify.mail_event import (
    EVENT_FINGERPRINT_HEADER,
    MAIL_DIFF_LIMIT,
    SEVERITY_HEADER,
    build_event_email,
    event_message_id,
)
from tfcontroller.notify.mail_parts import KIND_HEADER, esc

TO = ["ops@example.com", "oncall@example.com"]
FROM = "tfcontroller@example.com"
URL = "https://dash.example.com/terraform/team-a/bucket"


def parsed(event: ev.NotificationEvent) -> tuple[EmailMessage, str, str]:
    """The mail as a receiver sees it: built, serialised, parsed back; (message, text part, HTML part)."""
    raw = build_event_email(event, to=TO, from_addr=FROM).as_bytes()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    return msg, text.get_content(), html.get_content()


def test_every_event_type_is_covered() -> None:
    assert {e.type for e in EVENTS.values()} == set(ev.EVENT_TYPES)


@pytest.mark.parametrize("case", sorted(EVENTS))
def test_every_event_builds_a_well_formed_mail(case: str) -> None:
    event = EVENTS[case]
    msg, text, html = parsed(event)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert not msg.defects and all(not p.defects for p in msg.iter_parts())
    assert msg["Subject"] == event.title
    assert [a.addr_spec for a in msg["To"].addresses] == TO and msg["From"].addresses[0].addr_spec == FROM
    assert msg["Message-ID"] == event_message_id(event) and msg["Date"].datetime is not None
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg[KIND_HEADER] == event.type and msg[EVENT_FINGERPRINT_HEADER] == event.fingerprint
    assert msg[SEVERITY_HEADER] == event.severity
    assert msg["List-Id"].endswith(f"<{event.object.name}.{event.object.namespace}."
                                   f"{event.object.kind.lower()}.notifications.tfcontroller.io>")
    assert event.message in text
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert event.object.name in text and event.object.name in html


def test_a_pending_plan_carries_id_counts_approve_commands_policy_link_and_diff() -> None:
    event = ev.plan_pending(OBJ, PLAN_ID, {"add": 2, "change": 1}, _diff(2), policy=POLICY, dashboard_url=URL,
                            now=T0)
    plan = event.plan
    assert plan is not None
    _, text, html = parsed(event)
    for part in (text, html):
        assert PLAN_ID in part and "2 to add, 1 to change, 0 to destroy" in part
        assert "aws_s3_bucket.b1" in part
        assert "left out" not in part  # a short diff is whole
    assert plan.approve_command in text and plan.cli_approve_command in text
    assert esc(plan.approve_command) in html and esc(plan.cli_approve_command) in html
    for line in plan.policy_lines():
        assert line in text
    assert f'<a href="{URL}">' in html and URL in text


def test_a_long_diff_is_cut_with_the_count_of_left_out_lines() -> None:
    event = EVENTS["pending-huge"]  # 5000 resources, 10001 lines
    plan = event.plan
    assert plan is not None
    _, text, html = parsed(event)
    match = re.search(r"… and (\d+) more lines left out", text)
    assert match is not None
    left = int(match.group(1))
    shown = [ln for ln in text.splitlines() if ln.startswith(("  + aws_s3_bucket", "      tags.x"))]
    assert len(shown) + left + 1 == len(plan.diff)  # + the summary line, shown first
    assert omitted_note(left) in text and f"… and {left} more lines left out" in html
    assert len(text) < MAIL_DIFF_LIMIT + 5000


def test_events_without_plan_details_carry_no_approve_or_diff_section() -> None:
    for case in ("PlanApplied", "Stalled", "ManifestSetFailed", "drift", "resolved"):
        _, text, _ = parsed(EVENTS[case])
        assert "Approve with" not in text and "Planned changes" not in text, case


def test_drift_mails_list_every_resource() -> None:
    for case, head in (("drift-many", "Changed outside Terraform:"), ("resolved", "Previously drifted:")):
        event = EVENTS[case]
        drift = event.drift
        assert drift is not None
        _, text, html = parsed(event)
        assert head in text
        for address in drift.resources:
            assert f"  - {address}" in text and f"<li><code>{address}</code></li>" in html


def test_every_value_is_escaped_in_html() -> None:
    markup = "<script>alert(1)</script> & \"q\""
    obj = ev.ObjectRef("Terraform", "team-a", "bucket", revision=f"main<b>@sha1:{'a' * 40}")
    events = [
        EVENTS["pending-markup"],
        ev.plan_pending(obj, PLAN_ID, {"add": 1}, [{"kind": "create", "text": f"+ x {markup}", "indent": 1}],
                        policy={"result": "denied", "results": [
                            {"policy": "p<i>", "result": "denied", "messages": [markup]}]}, now=T0),
        ev.drift_event(obj, [f'aws_s3_bucket.b["{markup}"]'], "fp", now=T0),
        ev.simple_event("ManifestSetFailed", ev.ObjectRef("ManifestSet", "team-a", "app"), markup,
                        reason="HealthCheckFailed", now=T0),
    ]
    for event in events:
        _, text, html = parsed(event)
        assert "<script>" not in html and "<b>" not in html and "<i>" not in html and "<@&123>" not in html
        assert "&lt;script&gt;" in html or "&lt;@&amp;123&gt;" in html
        assert "<script>" in text or "<@&123>" in text  # the text part is plain text: unchanged


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<b>x</b>", "ftp://dash/x"])
def test_a_link_that_is_not_http_is_shown_but_not_linked(url: str) -> None:
    event = ev.plan_pending(OBJ, PLAN_ID, {"add": 1}, _diff(1), dashboard_url=url, now=T0)
    _, text, html = parsed(event)
    assert "<a " not in html and url in text


def test_a_link_with_quotes_cannot_break_out_of_its_attribute() -> None:
    url = 'https://dash.example.com/x" onmouseover="alert(1)'
    _, _, html = parsed(ev.plan_pending(OBJ, PLAN_ID, {"add": 1}, _diff(1), dashboard_url=url, now=T0))
    assert '" onmouseover="' not in html and "&quot; onmouseover=&quot;" in html


def test_message_id_is_stable_for_one_event_and_new_for_the_same_fingerprint_later() -> None:
    event = EVENTS["drift"]
    first = build_event_email(event, to=TO, from_addr=FROM)["Message-ID"]
    again = build_event_email(event, to=TO[:1], from_addr=FROM)["Message-ID"]
    assert first == again  # a retry is the same message to clients
    later = replace(event, timestamp=event.timestamp + timedelta(days=1))
    assert later.fingerprint == event.fingerprint
    assert build_event_email(later, to=TO, from_addr=FROM)["Message-ID"] != first
    sub_second = replace(event, timestamp=event.timestamp + timedelta(microseconds=5))
    assert event_message_id(sub_second) == event_message_id(event)  # a record keeps seconds
    other = EVENTS["resolved"]
    assert event_message_id(other) != event_message_id(event)
