"""The pure parts of the NotificationRule controller, without a cluster: the index values that map a changed
Terraform/ManifestSet or provider to the rules to reconcile; which Secrets of an object are scrubbed; the
controller's retry base applied to retryable results only (a server's Retry-After always wins); the
per-provider rate limit shared by every rule; the pending gauge as the sum of what each rule last reported;
and a provider configuration that can never work is a *permanent* result naming what to fix (no retry loop),
for each kind of provider, without any network."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tfcontroller.api.notification import NotificationProvider, RateLimit
from tfcontroller.controllers.notification import index_observed_namespaces, index_provider_refs
from tfcontroller.controllers.notification.delivery import Deliverer, MailDefaults
from tfcontroller.controllers.notification.metrics import NotificationMetrics
from tfcontroller.controllers.notification.object_secrets import referenced_secrets
from tfcontroller.controllers.notification.provider_secrets import ResolvedProvider
from tfcontroller.controllers.notification.rule_reconciler import with_backoff
from tfcontroller.notify import event as ev
from tfcontroller.notify.http_delivery import DeliveryResult


def rule(spec: Any, namespace: str = "team-a") -> dict[str, Any]:
    return {"kind": "NotificationRule", "metadata": {"name": "r", "namespace": namespace}, "spec": spec}


@pytest.mark.parametrize(("spec", "want"), [
    ({}, ["team-a"]),
    ({"selector": {}}, ["team-a"]),
    ({"selector": {"namespaces": []}}, ["team-a"]),
    ({"selector": {"namespaces": ["team-b", "team-a"]}}, ["team-b", "team-a"]),
    ({"selector": {"namespaces": "team-b"}}, ["team-a"]),  # malformed: still reconciled (and refused there)
    ({"selector": {"namespaces": [3, ""]}}, ["team-a"]),
    ("not a spec", ["team-a"]),
])
def test_observed_namespaces_index(spec: Any, want: list[str]) -> None:
    assert index_observed_namespaces(rule(spec)) == want


@pytest.mark.parametrize(("spec", "want"), [
    ({"providerRefs": [{"name": "slack"}, {"name": "mail"}]}, ["team-a/slack", "team-a/mail"]),
    ({"providerRefs": [{"name": "slack", "namespace": "other"}]}, ["team-a/slack"]),  # same namespace only
    ({"providerRefs": [{}, "x", {"name": 3}]}, []),
    ({}, []),
    ({"providerRefs": "slack"}, []),
])
def test_provider_refs_index(spec: Any, want: list[str]) -> None:
    assert index_provider_refs(rule(spec)) == want


def test_referenced_secrets_of_a_terraform_and_a_manifestset() -> None:
    terraform = {"spec": {
        "varsFrom": [{"kind": "Secret", "name": "db"}, {"kind": "ConfigMap", "name": "plain"}],
        "envFrom": [{"kind": "Secret", "name": "aws"}, {"kind": "Secret", "name": "db"}],
        "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "token", "key": "t"}}},
                {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}, {"name": "C", "value": "v"}],
        "vars": [{"name": "x", "valueFrom": {"secretKeyRef": {"name": "var-secret", "key": "x"}}}],
        "writeOutputsToSecret": {"name": "outputs"}}}
    assert referenced_secrets(terraform) == ["db", "aws", "token", "var-secret", "outputs"]
    manifestset = {"spec": {"substituteFrom": [{"kind": "Secret", "name": "subst"}, {"kind": "ConfigMap", "name": "c"}]}}
    assert referenced_secrets(manifestset) == ["subst"]
    assert referenced_secrets({}) == [] and referenced_secrets({"spec": "x"}) == []


BASE = dt.timedelta(seconds=2)


@pytest.mark.parametrize(("result", "attempt", "want"), [
    (DeliveryResult("retryable", "ServerError", "503"), 1, dt.timedelta(seconds=2)),
    (DeliveryResult("retryable", "ServerError", "503"), 3, dt.timedelta(seconds=8)),
    (DeliveryResult("retryable", "Timeout", "t"), 40, dt.timedelta(minutes=30)),  # capped
    (DeliveryResult("retryable", "RateLimited", "429", 429, dt.timedelta(seconds=90)), 1, dt.timedelta(seconds=90)),
    (DeliveryResult("permanent", "Rejected", "400", 400), 1, None),
    (DeliveryResult("delivered", "Delivered", "ok", 200), 1, None),
])
def test_backoff_from_the_controllers_base(result: DeliveryResult, attempt: int, want: dt.timedelta | None) -> None:
    assert with_backoff(result, attempt, BASE).retry_after == want


def provider(uid: str = "u1", type_: str = "slack", **kw: Any) -> NotificationProvider:
    return NotificationProvider(namespace="team-a", name=f"p-{uid}", uid=uid, generation=1, type=type_, **kw)


def test_rate_limit_per_provider_shared_by_rules() -> None:
    now = [100.0]
    deliverer = Deliverer(clock=lambda: now[0])
    limited = provider("u1", rate_limit=RateLimit(messages=2, per=10.0))
    assert deliverer.throttle(limited) == 0.0
    assert deliverer.throttle(limited) == 0.0
    wait = deliverer.throttle(limited)
    assert wait == pytest.approx(5.0)  # 2 per 10 s: one token every 5 s
    assert deliverer.throttle(provider("u2")) == 0.0  # another provider has its own bucket
    now[0] += 5.0
    assert deliverer.throttle(limited) == 0.0
    # a changed limit starts a full bucket of the new size
    assert deliverer.throttle(provider("u1", rate_limit=RateLimit(messages=5, per=10.0))) == 0.0


def test_pending_gauge_is_the_sum_of_the_rules() -> None:
    registry = CollectorRegistry()
    metrics = NotificationMetrics(registry)

    def pending(ptype: str) -> float | None:
        return registry.get_sample_value("tfcontroller_notifications_pending", {"provider_type": ptype})

    metrics.set_pending("a/r1", {"slack": 2, "webhook": 1})
    metrics.set_pending("a/r2", {"slack": 3})
    assert (pending("slack"), pending("webhook")) == (5, 1)
    metrics.set_pending("a/r1", {"slack": 1})
    assert (pending("slack"), pending("webhook")) == (4, 0)
    metrics.set_pending("a/r2", {})  # the rule is gone
    assert pending("slack") == 1
    metrics.delivered("slack")
    metrics.failure("smtp", "permanent")
    metrics.failure("smtp", "retryable")
    assert registry.get_sample_value("tfcontroller_notifications_sent_total", {"provider_type": "slack"}) == 1
    assert registry.get_sample_value("tfcontroller_notifications_failed_total",
                                     {"provider_type": "smtp", "outcome": "permanent"}) == 1


EVENT = ev.simple_event("Stalled", ev.ObjectRef("Terraform", "team-a", "orders", "uid-1"), "bad spec")


@pytest.mark.parametrize(("resolved", "mail", "want"), [
    (ResolvedProvider(provider(type_="slack")), MailDefaults(), "has no address"),
    (ResolvedProvider(provider(type_="webhook"), address="ftp://example.com/x"), MailDefaults(), "http(s) URL"),
    (ResolvedProvider(provider(type_="smtp", to=("ops@example.com",))), MailDefaults(), "no SMTP server"),
    (ResolvedProvider(provider(type_="ses", to=("ops@example.com",))), MailDefaults(), "no sender"),
    (ResolvedProvider(provider(type_="smtp", to=("ops@example.com",), secret_name="mail"), smtp={"port": "25"}),
     MailDefaults(), "lacks key"),
])
def test_a_configuration_that_cannot_work_is_permanent(resolved: ResolvedProvider, mail: MailDefaults,
                                                        want: str) -> None:
    result = Deliverer(mail).send(resolved, EVENT, secrets=[])
    assert result.outcome == "permanent" and result.reason == "InvalidConfiguration"
    assert want in result.message
