"""The pure parts of the NotificationRule controller that the second review of issue 19 changed: how long a
provider is held after a retryable answer (findings 2: the server's Retry-After, else the first backoff
step — never one entry's grown backoff), the key of an observed object carries its creationTimestamp
(finding 3: the history floor of an object created after the rule's first look), and the Stalled message
of a rule selecting more objects than its status can remember (finding 1)."""

from __future__ import annotations

import datetime as dt

import pytest

from tfcontroller.controllers.notification.rule_reconciler import (
    object_key,
    provider_hold,
    too_many_objects,
    with_backoff,
)
from tfcontroller.notify.http_delivery import DeliveryResult
from tfcontroller.notify.rule_outbox import MAX_OBSERVED_OBJECTS

BASE = dt.timedelta(seconds=30)


@pytest.mark.parametrize(("result", "want"), [
    (DeliveryResult("retryable", "ServerError", "503", 503), BASE),
    (DeliveryResult("retryable", "Timeout", "t"), BASE),
    (DeliveryResult("retryable", "ConnectionFailed", "refused"), BASE),
    (DeliveryResult("retryable", "RateLimited", "429", 429), BASE),
    (DeliveryResult("retryable", "RateLimited", "429", 429, dt.timedelta(seconds=90)), dt.timedelta(seconds=90)),
    (DeliveryResult("retryable", "ServerError", "503", 503, dt.timedelta(seconds=5)), dt.timedelta(seconds=5)),
])
@pytest.mark.parametrize("attempt", [1, 4, 12])
def test_a_provider_is_held_for_retry_after_else_the_first_step_whatever_the_entrys_attempt(
        result: DeliveryResult, want: dt.timedelta, attempt: int) -> None:
    assert provider_hold(result, BASE) == want
    # the entry's own delay grows (the outbox's), the provider's hold does not
    grown = with_backoff(result, attempt, BASE).retry_after
    assert grown is not None and grown >= want


@pytest.mark.parametrize("meta,want", [
    ({"creationTimestamp": "2026-05-01T12:00:00Z"}, dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)),
    ({"creationTimestamp": "2026-05-01T12:00:00.123456Z"}, dt.datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)),
    ({}, None),
    ({"creationTimestamp": "not a time"}, None),
])
def test_the_object_key_carries_the_creation_time(meta: dict[str, str], want: dt.datetime | None) -> None:
    key = object_key({"kind": "Terraform", "metadata": {"namespace": "a", "name": "b", "uid": "u", **meta}})
    assert (key.kind, key.namespace, key.name, key.uid) == ("Terraform", "a", "b", "u")
    assert key.created == want


@pytest.mark.parametrize("count", [MAX_OBSERVED_OBJECTS + 1, 10 * MAX_OBSERVED_OBJECTS])
def test_too_many_objects_says_how_many_the_limit_and_what_to_do(count: int) -> None:
    text = too_many_objects(count)
    assert str(count) in text and str(MAX_OBSERVED_OBJECTS) in text
    assert "split" in text and "spec.selector" in text
