"""controllers/notification/provider_reconciler.py, its pure parts: which Secrets a provider's index names
(leniently, for specs the typed view refuses too), the update filter that lets the rule controller's
`status.rejected` through but not our own status patches, and the Ready/DeliveryRejected messages, which
name host and port but never a URL's path (a chat webhook's token) or a Secret value."""

from __future__ import annotations

from typing import Any

from tfcontroller.api.notification import NotificationProvider, Rejection
from tfcontroller.controllers.notification.provider_reconciler import (
    index_secret_refs,
    provider_update_predicate,
    ready_message,
    rejection_message,
)
from tfcontroller.controllers.notification.provider_secrets import ResolvedProvider


def obj(spec: Any = None, status: Any = None, generation: int = 1, **meta: Any) -> dict[str, Any]:
    return {"kind": "NotificationProvider",
            "metadata": {"name": "p", "namespace": "team-a", "generation": generation, "resourceVersion": "1", **meta},
            "spec": spec if spec is not None else {"type": "slack"}, "status": status or {}}


def test_index_names_every_referenced_secret() -> None:
    assert index_secret_refs(obj({"secretRef": {"name": "s"}, "certSecretRef": {"name": "ca"}})) == \
        ["team-a/ca", "team-a/s"]
    assert index_secret_refs(obj({"secretRef": {"name": "s"}, "certSecretRef": {"name": "s"}})) == ["team-a/s"]
    assert index_secret_refs(obj({"type": "slack", "address": "https://x.io"})) == []
    for bad in ({"secretRef": "s"}, {"secretRef": {"name": 3}}, {"secretRef": {}}, "not a map", None):
        assert index_secret_refs(obj(bad)) == []
    assert index_secret_refs(obj({"type": "nonsense", "secretRef": {"name": "s"}})) == ["team-a/s"]


def test_update_filter() -> None:
    base = obj(status={"conditions": []})
    assert not provider_update_predicate(base, obj(status={"conditions": [{"type": "Ready"}]}))  # our own patch
    assert provider_update_predicate(base, obj(status={"rejected": {"httpStatus": 400}}))  # the rule controller's
    assert provider_update_predicate(obj(status={"rejected": {"httpStatus": 400}}), base)  # removed
    assert provider_update_predicate(base, obj(generation=2))  # spec
    assert provider_update_predicate(base, obj(status={"conditions": []},
                                               annotations={"tfcontroller.io/requested-at": "1"}))


def provider(**spec: Any) -> NotificationProvider:
    return NotificationProvider.from_dict({"kind": "NotificationProvider",
                                           "metadata": {"name": "p", "namespace": "team-a", "generation": 3},
                                           "spec": spec})


def test_ready_messages_hide_url_paths_and_secrets() -> None:
    p = provider(type="slack", secretRef={"name": "s"})
    msg = ready_message(ResolvedProvider(p, address="https://hooks.slack.com/services/T/B/SECRET",
                                         proxy="http://user:pw@proxy:3128", token="tok"))
    assert msg == "slack: posts to https://hooks.slack.com via proxy http://proxy:3128"
    assert "SECRET" not in msg and "pw" not in msg
    smtp = provider(type="smtp", secretRef={"name": "relay"}, to=["a@x.io", "b@x.io"])
    assert ready_message(ResolvedProvider(smtp, smtp={"host": "mail.x.io", "password": "pw"})) == \
        "smtp: sends to 2 recipients through mail.x.io (Secret relay)"
    assert "--ses-*" in ready_message(ResolvedProvider(provider(type="ses", to=["a@x.io"])))
    assert "ResolvedProvider(provider=" in repr(ResolvedProvider(p, address="https://h/SECRET", token="tok"))
    assert "SECRET" not in repr(ResolvedProvider(p, address="https://h/SECRET", token="tok"))


def test_rejection_message_says_how_to_retry() -> None:
    rej = Rejection(400, "HTTP 400 from h:443: invalid_payload", "2026-11-30T07:00:00Z", 3, {"s": "9"})
    two = provider(type="webhook", secretRef={"name": "s"}, certSecretRef={"name": "ca"})
    assert rejection_message(two, rej).startswith("HTTP 400 from h:443: invalid_payload (at 2026-11-30T07:00:00Z); ")
    assert "its spec or its Secrets (s, ca) changes" in rejection_message(two, rej)
    assert "until its spec changes" in rejection_message(provider(type="webhook", address="https://h/"), rej)
    assert "tfcontroller.io/requested-at" in rejection_message(two, rej)
