"""notify.http_delivery's pure decisions: the classification of an HTTP answer (2xx delivered; 429, 5xx
retryable; any other 4xx permanent, with the status and the body's first line, scrubbed), `Retry-After`
as seconds or an HTTP-date (past, garbage, huge), the delay before the next attempt, and that messages
name only scheme, host and port (a chat webhook's path is its token)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tfcontroller.notify.http_delivery import (
    MAX_RETRY_AFTER,
    DeliveryResult,
    HTTPTarget,
    classify,
    first_line,
    next_attempt_delay,
    parse_retry_after,
    url_secrets,
    where,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
T = "https://hooks.example.com"


@pytest.mark.parametrize(("status", "outcome", "reason", "message_level"), [
    (200, "delivered", "Delivered", False), (202, "delivered", "Delivered", False),
    (204, "delivered", "Delivered", False),
    (429, "retryable", "RateLimited", False), (500, "retryable", "ServerError", False),
    (502, "retryable", "ServerError", False), (503, "retryable", "ServerError", False),
    (504, "retryable", "ServerError", False),
    (408, "retryable", "RequestTimeout", False), (425, "retryable", "RequestTimeout", False),
    # this message is refused, the provider works: message-level
    (400, "permanent", "Rejected", True), (413, "permanent", "Rejected", True), (422, "permanent", "Rejected", True),
    # no message can pass until the provider is fixed: provider-level
    (401, "permanent", "Rejected", False), (403, "permanent", "Rejected", False),
    (404, "permanent", "Rejected", False), (410, "permanent", "Rejected", False),
    (405, "permanent", "Rejected", False),
    (301, "permanent", "Rejected", False),  # a redirecting webhook is misconfigured; it is not followed
    (307, "permanent", "Rejected", False),
])
def test_classify(status: int, outcome: str, reason: str, message_level: bool) -> None:
    r = classify(status, {}, b"", target=T, now=NOW)
    assert (r.outcome, r.reason, r.status, r.message_level) == (outcome, reason, status, message_level)


def test_permanent_names_status_and_first_line_of_body_scrubbed() -> None:
    body = b"\n  invalid_payload: token xoxb-123456 is bad\nsecond line\n"
    r = classify(400, {}, body, target=T, now=NOW, secrets=["xoxb-123456"])
    assert r.message == f"{T} refused the notification with 400: invalid_payload: token *** is bad"
    assert "second line" not in r.message
    assert len(first_line("x" * 5000)) == 200 and first_line(b"\xff\xfe") == "\ufffd\ufffd"


@pytest.mark.parametrize(("value", "want"), [
    ("120", timedelta(seconds=120)),
    ("0", timedelta(0)),
    (" 7 ", timedelta(seconds=7)),
    (format_datetime(NOW + timedelta(seconds=90), usegmt=True), timedelta(seconds=90)),
    ("Thu, 01 Jan 2026 12:00:30 GMT", timedelta(seconds=30)),
    (format_datetime(NOW - timedelta(hours=1), usegmt=True), timedelta(0)),  # in the past: no wait
    ("999999999", MAX_RETRY_AFTER),
    ("soon", None), ("-5", None), ("1.5", None), ("", None), (None, None),
])
def test_parse_retry_after(value: str | None, want: timedelta | None) -> None:
    assert parse_retry_after(value, NOW) == want


def test_429_and_503_carry_retry_after_whatever_the_header_case() -> None:
    r = classify(429, {"retry-after": "30"}, b"slow down", target=T, now=NOW)
    assert r.retry_after == timedelta(seconds=30) and "retry after 30s" in r.message
    assert classify(503, {"Retry-After": "5"}, b"", target=T, now=NOW).retry_after == timedelta(seconds=5)
    assert classify(429, {}, b"", target=T, now=NOW).retry_after is None


def test_next_attempt_delay_honours_retry_after_else_backs_off() -> None:
    plain = DeliveryResult("retryable", "ServerError", "m", 500)
    assert [next_attempt_delay(n, plain).total_seconds() for n in (0, 1, 2, 3, 10, 100)] == \
        [0, 30, 60, 120, 1800, 1800]
    asked = DeliveryResult("retryable", "RateLimited", "m", 429, timedelta(minutes=45))
    assert next_attempt_delay(1, asked) == timedelta(minutes=45)  # beyond our cap: the server knows best
    assert next_attempt_delay(5, DeliveryResult("retryable", "RateLimited", "m", 429, timedelta(0))) == timedelta(0)


def test_where_hides_path_query_and_credentials() -> None:
    assert where("https://hooks.slack.com/services/T0/B0/XXXX?x=1") == "https://hooks.slack.com"
    assert where("http://u:pw@127.0.0.1:8080/hook") == "http://127.0.0.1:8080"
    target = HTTPTarget("https://discord.com/api/webhooks/1/tok", proxy="http://u:pw@proxy:3128")
    assert "tok" not in repr(target) and "pw" not in repr(target)


def test_url_secrets_are_the_url_its_query_and_a_long_path() -> None:
    assert url_secrets("https://h/services/T/B/X?k=v") == ["https://h/services/T/B/X?k=v", "k=v", "/services/T/B/X"]
    assert url_secrets("http://127.0.0.1:9/") == ["http://127.0.0.1:9/"]


@pytest.mark.parametrize("url", ["ftp://h/x", "hooks.slack.com/x", "https:///x", ""])
def test_target_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        HTTPTarget(url)
