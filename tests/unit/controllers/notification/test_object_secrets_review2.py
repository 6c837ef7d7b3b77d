"""Review 2, finding 4: a message is never sent scrubbed of only some of its object's secret values.

A referenced Secret that exists but cannot be read (403, 429, 5xx, the API server unreachable) makes
`ObjectReader.secrets` raise ScrubUnavailableError (the caller does not send); a missing Secret holds no
value and contributes nothing. Entries are scrubbed when queued (RuleOutbox.scrub_records), so an entry
sent after its object is gone carries none of the values its Secrets held then.

The API answers are produced by a KubeClient whose Secret read raises the errors the real client raises
(kube/errors.py): a dev cluster cannot be made to answer 429/5xx/time out for one Secret on demand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tfcontroller.controllers.notification.object_secrets import ObjectReader, ScrubUnavailableError
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, Forbidden, NotFound, TooManyRequests
from tfcontroller.notify import event as ev
from tfcontroller.notify.observe import Observation
from tfcontroller.notify.rule_outbox import ObjectKey, RuleOutbox

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
