"""The rule controller's delivery guards (issue 19 review, findings 1, 8, 11, 13), pure parts and the
Deliverer with a real loopback server: a provider held after a retryable answer gets no token for any
rule; an attempt is given up at its deadline (a server that drips a byte at a time, its head or its body:
only a wall-clock deadline can end that), and a second attempt is not started while the first still runs;
the cross-namespace gate; the delivery id is stable per queued message and provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.drip_server import DripServer
from tfcontroller.api.notification import NotificationProvider, RateLimit
from tfcontroller.controllers.notification.delivery import (
    REASON_ATTEMPT_RUNNING,
    REASON_TIMEOUT,
    Deliverer,
    delivery_id,
)
from tfcontroller.controllers.notification.object_secrets import sensitive_output_values
from tfcontroller.controllers.notification.provider_secrets import ResolvedProvider
from tfcontroller.controllers.notification.rule_reconciler import cross_namespace_denial
from tfcontroller.notify import event as ev


def provider(uid: str = "p1", timeout: float = 15.0, messages: int = 20) -> NotificationProvider:
    return NotificationProvider(namespace="team-a", name=f"hook-{uid}", uid=uid, generation=1, type="webhook",
                                address="http://127.0.0.1:9/x", timeout=timeout, rate_limit=RateLimit(messages, 60.0))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_held_provider_gets_no_token_for_any_rule_until_the_hold_ends() -> None:
    clock = Clock()
    d = Deliverer(clock=clock)
    p, other = provider("p1"), provider("p2")
    assert d.throttle(p) == 0.0
    d.hold(p, 60.0)  # a 429 with Retry-After: 60
    for _ in range(5):  # every rule asks: none gets a token, none is taken
        assert d.throttle(p) == pytest.approx(60.0)
    assert d.throttle(other) == 0.0  # another provider is not held
    d.hold(p, 10.0)  # a shorter hold never shortens a longer one
    clock.now += 59.0
    assert d.throttle(p) == pytest.approx(1.0) and d.held_for(p) == pytest.approx(1.0)
    clock.now += 1.0
    assert d.throttle(p) == 0.0 and d.held_for(p) == 0.0
    burst = sum(1 for _ in range(30) if d.throttle(p) == 0.0)
    assert burst == 19  # the bucket (20, refilled during the hold) gave one just now: the rest at once


def test_no_hold_for_nothing() -> None:
    d = Deliverer(clock=Clock())
    p = provider()
    d.hold(p, 0.0)
    d.hold(p, -3.0)
    assert d.held_for(p) == 0.0 and d.throttle(p) == 0.0


def resolved(p: NotificationProvider, address: str) -> ResolvedProvider:
    return ResolvedProvider(provider=p, address=address)


EVENT = ev.simple_event("Stalled", ev.ObjectRef("Terraform", "team-a", "app", "u"), "m")


@pytest.fixture
def drip_server(request: pytest.FixtureRequest) -> Iterator[DripServer]:
    where, interval = request.param
    server = DripServer(for_seconds=60.0, interval=interval, where=where)
    try:
        yield server
    finally:
        server.close()


DRIPS = [("body", 0.2), ("head", 0.2), ("body", 0.05)]


@pytest.mark.parametrize("drip_server", DRIPS, indirect=True, ids=lambda p: f"{p[0]}-{p[1]}")
@pytest.mark.parametrize("timeout", [0.5, 1.0])
def test_an_attempt_is_given_up_at_its_deadline_and_not_doubled(drip_server: DripServer, timeout: float) -> None:
    """urllib3's read timeout restarts with each byte: a server that drips (its headers or its body) would
    keep the attempt busy for as long as it drips (60 s). Only the Deliverer's wall-clock deadline can end
    it: the attempt returns while the server is still dripping to it (state, not a stopwatch), and no
    second connection is opened to that provider while the abandoned attempt still runs."""
    d = Deliverer(grace=0.3)
    p = provider(timeout=timeout)
    r = d.send(resolved(p, drip_server.url), EVENT, [])
    assert (r.outcome, r.reason) == ("retryable", REASON_TIMEOUT)
    assert not drip_server.ran_out.is_set(), "the attempt lasted as long as the server dripped: no deadline"
    assert drip_server.connections == 1 and drip_server.open == 1, "the dripping connection is still open"
    again = d.send(resolved(p, drip_server.url), EVENT, [])
    assert (again.outcome, again.reason) == ("retryable", REASON_ATTEMPT_RUNNING)
    assert drip_server.connections == 1, "no second connection while the first attempt runs"


@pytest.mark.parametrize(("own", "namespaces", "controller_ns", "allowed", "denied"), [
    ("team-a", ["team-a"], "flux-system", False, False),  # its own namespace: always
    ("team-a", ["team-b"], "flux-system", False, True),
    ("team-a", ["team-a", "team-b"], "flux-system", False, True),
    ("team-a", ["*"], "flux-system", False, True),  # every namespace: the same gate
    ("flux-system", ["team-b", "team-c"], "flux-system", False, False),  # the platform team's namespace
    ("flux-system", ["*"], "flux-system", False, False),
    ("team-a", ["team-b"], "flux-system", True, False),  # --allow-cross-namespace-refs
    ("team-a", ["*"], "", True, False),
    ("team-a", ["team-b"], "", False, True),  # the controller's namespace unknown: only the flag opens it
])
def test_cross_namespace_gate(own: str, namespaces: list[str], controller_ns: str, allowed: bool,
                              denied: bool) -> None:
    why = cross_namespace_denial(own, namespaces, controller_ns, allowed)
    assert bool(why) is denied
    if denied:
        assert "--allow-cross-namespace-refs" in why and f"its own namespace ({own})" in why
        if controller_ns:
            assert controller_ns in why
        if "*" in namespaces:
            assert "every namespace" in why


def test_the_delivery_id_is_stable_per_queued_message_and_provider() -> None:
    a = delivery_id("rule-uid", "entry-1", "slack", "2026-01-01T00:00:00+00:00")
    assert a == delivery_id("rule-uid", "entry-1", "slack", "2026-01-01T00:00:00+00:00")  # a retry, a restart
    others = {delivery_id("rule-uid", "entry-1", "teams", "2026-01-01T00:00:00+00:00"),
              delivery_id("rule-uid", "entry-1", "slack", "2026-01-02T00:00:00+00:00"),  # the same fingerprint again
              delivery_id("rule-2", "entry-1", "slack", "2026-01-01T00:00:00+00:00"),
              delivery_id("rule-uid", "entry-2", "slack", "2026-01-01T00:00:00+00:00")}
    assert a not in others and len(others) == 4


@pytest.mark.parametrize(("status", "want"), [
    ({"sensitiveOutputs": ["db_password"]}, ["s3cr3t-pw"]),
    ({"sensitiveOutputs": []}, []),
    ({"sensitiveOutputs": ["db_password", "token"]}, ["s3cr3t-pw", "tok-1"]),
    ({}, ["app", "3", "s3cr3t-pw", "tok-1"]),  # not recorded yet: every value (scrub too much, never leak)
])
def test_only_sensitive_outputs_are_secret(status: dict[str, object], want: list[str]) -> None:
    data = {"name": "app", "replicas": "3", "db_password": "s3cr3t-pw", "token": "tok-1"}
    assert sensitive_output_values({"status": status}, data) == want


def test_a_waiting_provider_requeues_the_rule_at_its_wait_not_at_once() -> None:
    """Entries of a provider that is rate-limited or held are due already: the next look is the end of its
    wait (a 60 s Retry-After must not be a reconcile every 0.2 s); another provider's due time still counts."""
    import datetime as dt
    from typing import Any, cast

    from prometheus_client import CollectorRegistry

    from tfcontroller.controllers.notification.context import MIN_REQUEUE, RuleContext
    from tfcontroller.controllers.notification.metrics import NotificationMetrics
    from tfcontroller.controllers.notification.rule_reconciler import RuleReconciler
    from tfcontroller.notify.observe import Observation
    from tfcontroller.notify.rule_outbox import ObjectKey, RuleOutbox

    now = dt.datetime.now(dt.UTC)
    outbox = RuleOutbox.of({}, now - dt.timedelta(hours=1))
    event = ev.simple_event("Stalled", ev.ObjectRef("Terraform", "team-a", "app", "u1"), "bad")
    outbox.observe(ObjectKey("Terraform", "team-a", "app", "u1"), [Observation("stalled", event)],
                   lambda _t, _s: True, ["slack", "teams"], now)
    reconciler = RuleReconciler(cast(Any, None), [], Deliverer(), NotificationMetrics(CollectorRegistry()),
                                events=cast(Any, object()))
    ctx = RuleContext("team-a", "r", now, outbox=outbox,
                      providers={"slack": cast(Any, object())})
    ctx.waits["slack"] = 60.0
    assert reconciler._next_look(ctx) == pytest.approx(60.0)  # not MIN_REQUEUE: slack's entry waits its hold
    ctx.providers["teams"] = cast(Any, object())  # teams may send and its entry is due now
    assert reconciler._next_look(ctx) == MIN_REQUEUE


def test_renamed_sensitive_outputs_are_found_under_their_keys() -> None:
    """Issue 20: an output written under another key (`output:key`) is still scrubbed as sensitive."""
    obj = {"spec": {"writeOutputsToSecret": {"name": "o", "outputs": ["token:api_token", "name"]}},
           "status": {"sensitiveOutputs": ["token"]}}
    assert sensitive_output_values(obj, {"api_token": "tok-1", "name": "app", "token": "not-written"}) == ["tok-1"]
