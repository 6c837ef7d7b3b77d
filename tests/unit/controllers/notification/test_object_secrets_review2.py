"""Review 2, finding 4: a message is never sent scrubbed of only some of its object's secret values.

A referenced Secret that exists but cannot be read (403, 429, 5xx, the API server unreachable) makes
`ObjectReader.secrets` raise ScrubUnavailableError (the caller does not send); a missing Secret holds no
value and contributes nothing. Entries are scrubbed when queued (RuleOutbox.scrub_records), so an entry
sent after its object is gone carries none of the values its Secrets held then. The rule reconciler
does not attempt what it cannot scrub (retryable ScrubUnavailable), holds no provider for it, and sends an
entry of a gone object only when its record was scrubbed at queue time.

The API answers are produced by a KubeClient whose Secret read raises the errors the real client raises
(kube/errors.py): a dev cluster cannot be made to answer 429/5xx/time out for one Secret on demand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from tfcontroller.api.notification import NotificationProvider, RateLimit
from tfcontroller.controllers.notification.context import RuleContext
from tfcontroller.controllers.notification.delivery import Deliverer
from tfcontroller.controllers.notification.metrics import NotificationMetrics
from tfcontroller.controllers.notification.object_secrets import ObjectReader, ScrubUnavailableError
from tfcontroller.controllers.notification.provider_secrets import ResolvedProvider
from tfcontroller.controllers.notification.rule_reconciler import RuleReconciler
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, Forbidden, NotFound, TooManyRequests
from tfcontroller.notify import event as ev
from tfcontroller.notify.http_delivery import DeliveryResult
from tfcontroller.notify.observe import Observation
from tfcontroller.notify.rule_outbox import Due, ObjectKey, RuleOutbox

SECRET = "hunter2-very-secret"
CREATED = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


class _Kube(KubeClient):
    """Secrets by name: bytes values, or the ApiError the real client raises for that read."""

    def __init__(self, secrets: dict[str, dict[str, bytes] | ApiError]) -> None:
        self._secrets = secrets

    def read_secret_data(self, namespace: str, name: str) -> dict[str, bytes]:
        got = self._secrets.get(name)
        if got is None:
            raise NotFound(404, "NotFound", f"secrets {name!r} not found")
        if isinstance(got, ApiError):
            raise got
        return got


def _terraform(**spec: object) -> dict[str, object]:
    return {"kind": "Terraform", "metadata": {"name": "net", "namespace": "team-a", "uid": "u1"}, "spec": spec}


FAILURES = [
    Forbidden(403, "Forbidden", "secrets is forbidden"),
    TooManyRequests(429, "TooManyRequests", "slow down"),
    ApiError(500, "InternalError", "etcd"),
    ApiError(503, "ServiceUnavailable", "unavailable"),
    ApiError(0, "ConnectionFailed", "cannot reach the API server (timed out)"),
]
SPECS = [
    lambda: _terraform(varsFrom=[{"kind": "Secret", "name": "bad"}]),
    lambda: _terraform(env=[{"name": "X", "valueFrom": {"secretKeyRef": {"name": "bad", "key": "k"}}}]),
    lambda: _terraform(writeOutputsToSecret={"name": "bad"}),
    lambda: {"kind": "ManifestSet", "metadata": {"name": "m", "namespace": "team-a", "uid": "u2"},
             "spec": {"substituteFrom": [{"kind": "Secret", "name": "bad"}]}},
]


@pytest.mark.parametrize("error", FAILURES, ids=lambda e: str(e.status))
@pytest.mark.parametrize("make", SPECS, ids=["varsFrom", "env", "outputs", "substituteFrom"])
def test_an_unreadable_secret_makes_the_scrub_unavailable_not_empty(error: ApiError, make) -> None:
    reader = ObjectReader(_Kube({"good": {"k": SECRET.encode()}, "bad": error}))
    with pytest.raises(ScrubUnavailableError) as err:
        reader.secrets(make())
    assert "bad" in str(err.value) and err.value.reason == "ScrubUnavailable"


def test_a_missing_secret_contributes_nothing_and_the_readable_ones_still_count() -> None:
    reader = ObjectReader(_Kube({"good": {"k": SECRET.encode()}}))
    obj = _terraform(varsFrom=[{"kind": "Secret", "name": "gone"}, {"kind": "Secret", "name": "good"}])
    assert SECRET in reader.secrets(obj)


def _failed(message: str) -> ev.NotificationEvent:
    ref = ev.ObjectRef("Terraform", "team-a", "net", "u1", revision=f"main@{message}")
    return ev.simple_event("ApplyFailed", ref, f"apply failed: {message}", reason="ApplyFailed", now=CREATED)


@pytest.mark.parametrize("leak", [SECRET, "postgres://admin:pw-123456@db:5432/x", "line1\nline2-secret"])
def test_records_are_scrubbed_when_queued_and_marked(leak: str) -> None:
    outbox = RuleOutbox.of(None, CREATED)
    now = CREATED + timedelta(minutes=1)
    outbox.observe(ObjectKey("Terraform", "team-a", "net", "u1"),
                   [Observation("history", _failed(leak), key="run-1", at="2026-05-01T12:00:30Z")],
                   lambda _type, _severity: True, ["hook"], now)
    assert outbox.unscrubbed_uids() == {"u1"}
    [due] = outbox.due(now, {"hook"})
    assert not outbox.is_scrubbed(due.entry_id)
    outbox.scrub_records("u1", [leak])
    assert outbox.unscrubbed_uids() == set() and outbox.is_scrubbed(due.entry_id)
    back = RuleOutbox.of(outbox.to_status(), CREATED)  # through the status, as after a restart
    [again] = back.due(now, {"hook"})
    assert again.entry_id == due.entry_id and again.event.fingerprint == due.event.fingerprint
    assert leak not in str(back.to_status()["pending"]) and back.is_scrubbed(due.entry_id)


class _Recording(Deliverer):
    """The real Deliverer, noting what it was asked to send (so a test can tell "not attempted")."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, list[str]]] = []

    def send(self, resolved, event, secrets, delivery):  # type: ignore[no-untyped-def, override]
        self.sent.append((event.type, list(secrets)))
        return DeliveryResult("delivered", "Delivered", "ok", 200)


def _reconciler(kube: KubeClient) -> tuple[RuleReconciler, _Recording]:
    deliverer = _Recording()
    reconciler = RuleReconciler(cast(Any, kube), [], deliverer, NotificationMetrics(CollectorRegistry()),
                                events=cast(Any, object()))
    return reconciler, deliverer


def _queued(target_spec: dict[str, object], leak: str) -> tuple[RuleContext, Due]:
    now = CREATED + timedelta(minutes=1)
    outbox = RuleOutbox.of(None, CREATED)
    outbox.observe(ObjectKey("Terraform", "team-a", "net", "u1"),
                   [Observation("history", _failed(leak), key="run-1", at="2026-05-01T12:00:30Z")],
                   lambda _type, _severity: True, ["hook"], now)
    ctx = RuleContext("team-a", "r", now, outbox=outbox, objects={"u1": _terraform(**target_spec)})
    [due] = outbox.due(now, {"hook"})
    return ctx, due


@pytest.mark.parametrize("error", FAILURES, ids=lambda e: str(e.status))
def test_the_reconciler_does_not_send_what_it_cannot_scrub_and_holds_no_provider(error: ApiError) -> None:
    reconciler, deliverer = _reconciler(_Kube({"bad": error}))
    ctx, due = _queued({"varsFrom": [{"kind": "Secret", "name": "bad"}]}, SECRET)
    resolved = ResolvedProvider(provider=_provider(), address="http://127.0.0.1:9/x")
    result = reconciler._send(ctx, due, resolved, "id-1")
    assert (result.outcome, result.reason) == ("retryable", "ScrubUnavailable") and deliverer.sent == []
    reconciler._count(ctx, due, resolved, result)
    assert deliverer.held_for(resolved.provider) == 0.0  # the provider is not at fault


def test_an_entry_of_a_gone_object_is_sent_only_when_scrubbed_at_queue_time() -> None:
    reconciler, deliverer = _reconciler(_Kube({"vars": {"k": SECRET.encode()}}))
    ctx, due = _queued({"varsFrom": [{"kind": "Secret", "name": "vars"}]}, SECRET)
    assert ctx.outbox is not None
    target = ctx.objects.pop("u1")  # gone before the queue-time scrub: nothing left to scrub it with
    resolved = ResolvedProvider(provider=_provider(), address="http://127.0.0.1:9/x")
    assert reconciler._send(ctx, due, resolved, "id-1").reason == "ScrubUnavailable" and deliverer.sent == []
    ctx.objects["u1"] = target
    reconciler._scrub_queued(ctx)  # the look after it was queued, while the object existed
    del ctx.objects["u1"]
    [due] = ctx.outbox.due(ctx.now, {"hook"})
    assert reconciler._send(ctx, due, resolved, "id-1").delivered
    assert SECRET not in due.event.message and "***" in due.event.message


def _provider() -> NotificationProvider:
    return NotificationProvider(namespace="team-a", name="hook", uid="p1", generation=1, type="webhook",
                                address="http://127.0.0.1:9/x", timeout=5.0, rate_limit=RateLimit(20, 60.0))
