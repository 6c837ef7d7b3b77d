"""notify.http_delivery against a real HTTP server on loopback (tests/fixtures/http_receiver.py): every
provider's payload arrives as sent, with its content type, and the webhook's HMAC verifies at the
receiver; 500, 429 with Retry-After (seconds and HTTP-date) and 400 are classified from the real answer;
a receiver that is down, slow or presents a certificate we do not trust is retryable, with a message that
never shows the URL's path (a chat webhook's token); the CA bundle and the proxy are used; and a receiver
down for three attempts then up gets the notification exactly once (each attempt builds its request anew
from the event and the attempt count, as a restarted controller would); `dispatch.send` scrubs, formats
and signs for every provider; a huge error page is read only as far as its first line."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.fixtures.http_receiver import HTTPReceiver
from tfcontroller.notify import dispatch
from tfcontroller.notify import event as ev
from tfcontroller.notify.formats import FORMATTERS, webhook
from tfcontroller.notify.http_delivery import HTTPTarget, next_attempt_delay, post

OBJ = ev.ObjectRef("Terraform", "team-a", "bucket", "uid-1", "main@sha1:" + "a" * 40)
TOKEN_PATH = "/services/T000/B000/XXXXsecretTOKEN"


def _event() -> ev.NotificationEvent:
    return ev.plan_pending(OBJ, "plan-main-aaaaaaaaaa-12345678", {"add": 1},
                           [{"kind": "create", "text": "+ aws_s3_bucket.b (create)", "indent": 1}])


def _send(url: str, *, secret: str | None = None, **target: object) -> tuple[bytes, object]:
    event = _event()
    body = webhook.encode(webhook.payload(event))
    return body, post(HTTPTarget(url, **target), body, webhook.headers(event, body, secret))  # type: ignore[arg-type]


@pytest.mark.parametrize("provider", sorted(FORMATTERS))
def test_each_payload_arrives_as_sent(http_receiver: HTTPReceiver, provider: str) -> None:
    doc = FORMATTERS[provider](_event())
    body = json.dumps(doc).encode()
    result = post(HTTPTarget(http_receiver.url + TOKEN_PATH), body, {"Content-Type": "application/json"})
    assert result.delivered and result.reason == "Delivered", result
    (req,) = http_receiver.requests
    assert req.path == TOKEN_PATH and req.header("Content-Type") == "application/json"
    assert req.json() == doc
    assert TOKEN_PATH not in result.message


def test_webhook_signature_verifies_at_the_receiver(http_receiver: HTTPReceiver) -> None:
    body, result = _send(http_receiver.url + "/hook", secret="shared-secret")
    assert result.delivered  # type: ignore[attr-defined]
    (req,) = http_receiver.requests
    assert req.body == body
    want = "sha256=" + hmac.new(b"shared-secret", req.body, "sha256").hexdigest()
    assert hmac.compare_digest(req.header(webhook.SIGNATURE_HEADER) or "", want)
    assert req.header(webhook.EVENT_HEADER) == "PlanPending"


def test_500_is_retryable_and_429_carries_retry_after(http_receiver: HTTPReceiver) -> None:
    http_receiver.fail_next(1, 500, body=b"upstream broke\n<html>...")
    http_receiver.fail_next(1, 429, headers={"Retry-After": "17"}, body=b"rate_limited")
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    http_receiver.fail_next(1, 503, headers={"Retry-After": later})
    url = http_receiver.url + TOKEN_PATH
    r500 = _send(url)[1]
    r429 = _send(url)[1]
    r503 = _send(url)[1]
    assert (r500.outcome, r500.reason, r500.status) == ("retryable", "ServerError", 500)  # type: ignore[attr-defined]
    assert r500.message.endswith(": upstream broke")  # type: ignore[attr-defined]
    assert (r429.outcome, r429.reason, r429.retry_after) == (  # type: ignore[attr-defined]
        "retryable", "RateLimited", timedelta(seconds=17))
    assert timedelta(seconds=100) < r503.retry_after <= timedelta(seconds=120)  # type: ignore[attr-defined]
    assert next_attempt_delay(1, r429) == timedelta(seconds=17)  # type: ignore[arg-type]


def test_400_is_permanent_with_status_and_first_line_and_no_token(http_receiver: HTTPReceiver) -> None:
    http_receiver.fail_next(1, 400, body=b"invalid_blocks\nmore detail")
    _, r = _send(http_receiver.url + TOKEN_PATH)
    assert (r.outcome, r.reason, r.status) == ("permanent", "Rejected", 400)  # type: ignore[attr-defined]
    assert r.message == f"{http_receiver.url} refused the notification with 400: invalid_blocks"  # type: ignore[attr-defined]


def test_receiver_down_is_retryable_and_names_no_token(http_receiver: HTTPReceiver) -> None:
    http_receiver.stop()
    _, r = _send(http_receiver.url + TOKEN_PATH)
    assert (r.outcome, r.reason) == ("retryable", "ConnectionFailed"), r  # type: ignore[attr-defined]
    assert "XXXXsecretTOKEN" not in r.message  # type: ignore[attr-defined]


def test_a_slow_receiver_times_out_as_retryable(http_receiver: HTTPReceiver) -> None:
    http_receiver.delay_next(1, 3.0)
    _, r = _send(http_receiver.url + TOKEN_PATH, timeout=0.5)
    assert (r.outcome, r.reason) == ("retryable", "Timeout"), r  # type: ignore[attr-defined]


def test_down_three_attempts_then_up_is_delivered_once(http_receiver: HTTPReceiver) -> None:
    """The retry loop the outbox will run, in miniature: each attempt is built from nothing but the
    attempt count (what the outbox persists), as a restarted controller would."""
    url = http_receiver.url + TOKEN_PATH
    http_receiver.stop()
    delays = []
    attempts = 0
    while True:
        if attempts == 3:
            http_receiver.start()
        _, r = _send(url)
        if r.delivered:  # type: ignore[attr-defined]
            break
        attempts += 1
        delays.append(next_attempt_delay(attempts, r))  # type: ignore[arg-type]
        assert attempts < 10
    assert attempts == 3 and delays == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert len(http_receiver.delivered()) == 1 and len(http_receiver.requests) == 1


def test_https_with_the_ca_bundle_and_refused_without(https_receiver: HTTPReceiver) -> None:
    assert https_receiver.tls is not None
    _, ok = _send(https_receiver.url + TOKEN_PATH, ca_file=https_receiver.tls.ca_file)
    assert ok.delivered, ok  # type: ignore[attr-defined]
    _, bad = _send(https_receiver.url + TOKEN_PATH)
    assert (bad.outcome, bad.reason) == ("retryable", "TLSFailed"), bad  # type: ignore[attr-defined]
    assert "XXXXsecretTOKEN" not in bad.message  # type: ignore[attr-defined]
    assert len(https_receiver.delivered()) == 1


def test_the_proxy_is_used(http_receiver: HTTPReceiver) -> None:
    """The receiver stands in for the proxy: an HTTP proxy gets the absolute URL in the request line."""
    _, r = _send("http://hooks.invalid" + TOKEN_PATH, proxy=http_receiver.url)
    assert r.delivered, r  # type: ignore[attr-defined]
    (req,) = http_receiver.requests
    assert req.path == "http://hooks.invalid" + TOKEN_PATH


def test_a_huge_error_page_is_read_only_as_far_as_its_first_line(http_receiver: HTTPReceiver) -> None:
    http_receiver.fail_next(1, 404, body=b"no_such_webhook\n" + b"x" * (4 * 1024 * 1024))
    _, r = _send(http_receiver.url + TOKEN_PATH)
    assert (r.outcome, r.status) == ("permanent", 404)  # type: ignore[attr-defined]
    assert r.message.endswith("404: no_such_webhook")  # type: ignore[attr-defined]


@pytest.mark.parametrize("provider", sorted(FORMATTERS))
def test_send_scrubs_formats_and_signs_for_every_provider(http_receiver: HTTPReceiver, provider: str) -> None:
    """notify.dispatch: the caller hands over the raw event and the secrets; nothing of them arrives, the
    URL's token echoed in a message neither, and only the webhook is signed (and verifies)."""
    url = http_receiver.url + TOKEN_PATH
    raw = ev.simple_event("ApplyFailed", OBJ, f"token abc-SECRET-123 rejected by {url}", plan_id="plan-a")
    result = dispatch.send(provider, raw, HTTPTarget(url), secrets=["abc-SECRET-123"], signing_secret="hmac-key")
    assert result.delivered, result
    (req,) = http_receiver.requests
    assert b"abc-SECRET-123" not in req.body and b"XXXXsecretTOKEN" not in req.body and b"hmac-key" not in req.body
    assert req.json() and req.header("User-Agent") == dispatch.USER_AGENT
    signature = req.header(webhook.SIGNATURE_HEADER)
    if provider == "webhook":
        assert signature and webhook.verify(req.body, "hmac-key", signature)
    else:
        assert signature is None
