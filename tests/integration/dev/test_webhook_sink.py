"""The webhook receiver (tfcontroller/dev/webhook_sink.py) as the demo uses it, fed by the product's own
sender (notify/dispatch.send, a real POST over loopback): each notification is recorded with its signature
checked with the receiver's key, saved as a `.json` file named for its type and object, announced to
`on_request` as it arrives, and found by `wait_until`; a wrong key or a missing signature shows as such;
and `stop()` / `start()` keep the port, so a sender retrying the same URL reaches it again.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tfcontroller.dev.webhook_sink import MISMATCH, MISSING, VERIFIED, Recorded, WebhookSink, describe
from tfcontroller.notify.dispatch import send
from tfcontroller.notify.event import Line, NotificationEvent, ObjectRef, drift_event, plan_pending
from tfcontroller.notify.http_delivery import HTTPTarget

KEY = "demo-hmac-key-0123"
PROD = ObjectRef("Terraform", "default", "app-stack-prod", uid="u-prod")
DEV = ObjectRef("Terraform", "default", "app-stack-dev", uid="u-dev")


def _pending() -> NotificationEvent:
    return plan_pending(PROD, "p-42", {"add": 1}, [Line("create", "+ aws_s3_bucket.this", 0)])


def test_signed_notifications_are_recorded_verified_saved_and_announced(tmp_path: Path) -> None:
    announced: list[Recorded] = []
    sink = WebhookSink(key=KEY, outdir=tmp_path / "webhook", on_request=announced.append).start()
    try:
        target = HTTPTarget(sink.url + "/hooks/tfcontroller")
        assert send("webhook", _pending(), target, signing_secret=KEY).outcome == "delivered"
        drift = drift_event(DEV, ["aws_s3_bucket.this"], "fp-1")
        assert send("webhook", drift, target, signing_secret=KEY).outcome == "delivered"

        got = sink.wait_until(lambda r: (r.json().get("plan") or {}).get("id") == "p-42", timeout=10)
        assert got is not None and got.signature == VERIFIED and got.path == "/hooks/tfcontroller"
        assert [r.signature for r in sink.requests] == [VERIFIED, VERIFIED] and announced == sink.requests
        block = describe(got)
        assert block.startswith("WEBHOOK  PlanPending Terraform default/app-stack-prod (signature verified)")
        assert "+ aws_s3_bucket.this" in block and "tfcontroller approve app-stack-prod --plan p-42" in block

        files = sorted((tmp_path / "webhook").glob("*.json"))
        assert [f.name for f in files] == ["001-PlanPending-app-stack-prod.json", "002-DriftDetected-app-stack-dev.json"]
        assert json.loads(files[1].read_text())["drift"]["resources"] == ["aws_s3_bucket.this"]
    finally:
        sink.stop()


def test_a_wrong_key_and_no_signature_are_told_apart() -> None:
    sink = WebhookSink(key=KEY).start()
    try:
        target = HTTPTarget(sink.url)
        send("webhook", _pending(), target, signing_secret="not-the-key")
        send("webhook", _pending(), target)
        assert [r.signature for r in sink.requests] == [MISMATCH, MISSING]
        assert "SIGNATURE MISMATCH" in describe(sink.requests[0]) and "NOT SIGNED" in describe(sink.requests[1])
    finally:
        sink.stop()


def test_wait_until_returns_none_after_the_timeout_and_wakes_on_arrival() -> None:
    sink = WebhookSink().start()
    try:
        assert sink.wait_until(lambda r: True, timeout=0.2) is None
        sender = threading.Thread(target=send, args=("webhook", _pending(), HTTPTarget(sink.url)))
        sender.start()
        got = sink.wait_until(lambda r: r.json()["type"] == "PlanPending", timeout=30)
        sender.join(timeout=30)
        assert got is not None and got.signature == ""  # no key: not checked
    finally:
        sink.stop()


def test_down_then_up_on_the_same_port_and_planned_answers() -> None:
    sink = WebhookSink(key=KEY).start()
    try:
        url = sink.url
        sink.stop()
        assert send("webhook", _pending(), HTTPTarget(url), signing_secret=KEY).outcome == "retryable"
        sink.start()
        assert sink.url == url
        sink.fail_next(1, 429, headers={"Retry-After": "3"})
        first = send("webhook", _pending(), HTTPTarget(url), signing_secret=KEY)
        second = send("webhook", _pending(), HTTPTarget(url), signing_secret=KEY)
        assert (first.outcome, second.outcome) == ("retryable", "delivered")
        assert [r.status for r in sink.requests] == [429, 200] and len(sink.delivered()) == 1
        assert 0 < sink.requests[0].at <= sink.requests[1].at  # arrival times, taken as each body was read
    finally:
        sink.stop()
