"""The pure parts of the demo's webhook receiver (tfcontroller/dev/webhook_sink.py): the signature check of
a request and the block `describe` prints per notification, on documents the product's own webhook format
builds (notify/formats/webhook.py), so a change of the format that the printout would miss shows here.

Kinds covered: every signature state (verified, a wrong key, a changed body, no header, no key, the header
named in another case); every event shape the demo shows (a pending plan with diff, policy, commands and
page; drift; an event without details) and what is not a notification (another format, not JSON, not JSON
object); the diff cut at the limit with the left-out lines counted, including those the sender left out.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tfcontroller.dev.webhook_sink import (
    MISMATCH,
    MISSING,
    VERIFIED,
    Recorded,
    describe,
    headline,
    notification_of,
    signature_state,
)
from tfcontroller.notify.event import Line, ObjectRef, drift_event, plan_pending, simple_event
from tfcontroller.notify.formats import webhook

OBJ = ObjectRef("Terraform", "default", "app-stack-prod", uid="u-1")
KEY = "demo-hmac-key"


def _rec(doc: dict[str, Any], *, key: str | None = KEY, sign_with: str | None = KEY, status: int = 200) -> Recorded:
    body = webhook.encode(doc)
    headers = {"Content-Type": "application/json"}
    if sign_with:
        headers[webhook.SIGNATURE_HEADER] = webhook.signature(body, sign_with)
    return Recorded("POST", "/hook", headers, body, status, signature_state(body, headers, key))


def _pending(lines: int = 3, policy: dict[str, Any] | None = None, url: str = "") -> dict[str, Any]:
    diff = [Line("create", f"+ aws_s3_bucket.b{i}", 0) for i in range(lines)]
    return webhook.payload(plan_pending(OBJ, "p-123", {"add": lines}, diff, policy=policy, dashboard_url=url))


@pytest.mark.parametrize(("key", "header", "body_changed", "want"), [
    (KEY, KEY, False, VERIFIED),
    (KEY, "another-key", False, MISMATCH),
    (KEY, KEY, True, MISMATCH),
    (KEY, None, False, MISSING),
    (None, KEY, False, ""),
    (b"demo-hmac-key", KEY, False, VERIFIED),
])
def test_signature_state(key: str | bytes | None, header: str | None, body_changed: bool, want: str) -> None:
    body = webhook.encode(_pending())
    headers = {webhook.SIGNATURE_HEADER: webhook.signature(body, header)} if header else {}
    sent = body.replace(b"p-123", b"p-999") if body_changed else body
    assert signature_state(sent, headers, key) == want


def test_the_signature_header_is_found_in_any_case() -> None:
    body = b"{}"
    assert signature_state(body, {"x-tfcontroller-signature": webhook.signature(body, KEY)}, KEY) == VERIFIED


def test_a_pending_plan_shows_id_counts_diff_policy_commands_and_page() -> None:
    policy = {"result": "warned", "results": [{"policy": "tags", "result": "warned", "messages": ["no owner"]}]}
    text = describe(_rec(_pending(policy=policy, url="http://127.0.0.1:9/terraform/default/app-stack-prod")))
    lines = text.splitlines()
    assert lines[0] == "WEBHOOK  PlanPending Terraform default/app-stack-prod (signature verified)"
    assert "Plan waiting for approval: Terraform default/app-stack-prod" in lines[1]
    assert "  plan:     p-123 (3 to add, 0 to change, 0 to destroy)" in lines
    assert [ln.strip() for ln in lines if "aws_s3_bucket" in ln] == [f"+ aws_s3_bucket.b{i}" for i in range(3)]
    assert "  policy:   warned" in lines
    assert any(ln.startswith("  approve:") and "tfcontroller approve app-stack-prod --plan p-123 -n default" in ln
               for ln in lines)
    assert any("kubectl" in ln and "p-123" in ln for ln in lines)
    assert "  page:     http://127.0.0.1:9/terraform/default/app-stack-prod" in lines
    assert "more line" not in text  # nothing was left out


@pytest.mark.parametrize(("lines", "max_diff", "omitted", "want_left"), [
    (30, 25, 0, 5), (26, 25, 0, 1), (25, 25, 0, 0), (10, 25, 7, 7), (40, 5, 3, 38),
])
def test_the_diff_is_cut_and_every_left_out_line_counted(lines: int, max_diff: int, omitted: int,
                                                         want_left: int) -> None:
    doc = _pending(lines)
    doc["plan"]["diffOmitted"] = omitted
    text = describe(_rec(doc), max_diff=max_diff)
    assert sum("aws_s3_bucket" in ln for ln in text.splitlines()) == min(lines, max_diff)
    if want_left:
        assert f"… {want_left} more line{'s' if want_left != 1 else ''} " in text
    else:
        assert "more line" not in text


def test_nested_diff_lines_keep_their_indent() -> None:
    event = plan_pending(OBJ, "p-1", {"change": 1}, [Line("update", "~ aws_s3_bucket.b", 0),
                                                      Line("attribute", '~ tags = { "owner" = "x" }', 1)])
    lines = describe(_rec(webhook.payload(event))).splitlines()
    assert "    ~ aws_s3_bucket.b" in lines and '      ~ tags = { "owner" = "x" }' in lines


def test_drift_shows_its_resources() -> None:
    doc = webhook.payload(drift_event(OBJ, ["aws_s3_bucket.this", "aws_sqs_queue.q"], "fp-1"))
    text = describe(_rec(doc))
    assert text.splitlines()[0] == "WEBHOOK  DriftDetected Terraform default/app-stack-prod (signature verified)"
    assert "  drift:    aws_s3_bucket.this, aws_sqs_queue.q" in text.splitlines()
    assert "plan:" not in text


@pytest.mark.parametrize(("key", "sign_with", "want"), [
    (KEY, "wrong", "SIGNATURE MISMATCH"), (KEY, None, "NOT SIGNED"), (None, None, "signature not checked"),
])
def test_the_headline_says_what_the_signature_check_found(key: str | None, sign_with: str | None,
                                                          want: str) -> None:
    doc = webhook.payload(simple_event("PlanApplied", OBJ, "Applied plan p-1.", plan_id="p-1"))
    assert headline(_rec(doc, key=key, sign_with=sign_with)) == f"PlanApplied Terraform default/app-stack-prod ({want})"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", json.dumps({"text": "a slack message"}).encode(),
                                  json.dumps({"kind": "Event", "type": "x"}).encode()])
def test_what_is_not_a_notification_is_named_not_parsed(body: bytes) -> None:
    rec = Recorded("POST", "/x", {}, body, 200)
    assert notification_of(rec) is None
    assert describe(rec) == f"POST /x ({len(body)} bytes, not a tfcontroller notification)"
