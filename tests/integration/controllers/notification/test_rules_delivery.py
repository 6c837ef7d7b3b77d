"""The NotificationRule controller end to end on the dev cluster, with a real manager (`build_manager`: every
controller, the notification ones among them) and real loopback receivers (tests/fixtures/http_receiver.py,
the SMTP sink): what a rule sends, exactly once, and what happens when a receiver fails.

The Terraform and ManifestSet objects here are suspended and their status is written by the test, as their
controllers would write it: the rule controller is level-based and reads status only (the real plan with
its diff is test_rules_terraform.py). One cluster and one manager serve the whole module; each test works
in a namespace of its own (a rule observes its own namespace), so tests cannot see each other's messages.

Covered: a pending plan → one message per rule (two rules, two messages), none on a re-reconcile, the
webhook's HMAC verifies at the receiver and the plan link points at the dashboard; a receiver down for
three attempts then up → delivered once, with one NotificationFailed Event for the streak; a controller
restart between a failure and the success → delivered once; 429 with Retry-After is not retried before
it; 400 → the provider is rejected (status, Ready=False DeliveryRejected naming the status and the body's
first line), nothing is retried, and a changed Secret gets it delivered; DriftDetected → DriftResolved;
ApplyFailed from a history entry; Stalled and PolicyDenied to an error-severity rule only; ManifestSetFailed →
ManifestSetRecovered; an smtp provider through the SMTP sink; a missing provider holds the entries until it
exists; https with the provider's CA bundle; the per-provider rate limit; nothing decided before the caches
are filled; a rule naming another namespace is Stalled AccessDenied; metrics on /metrics.
"""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.fixtures.http_receiver import HTTPReceiver
from tests.fixtures.smtp import SMTPServer, TLSFiles
from tests.support.notifications import (
    DASHBOARD,
    PLAN_ID,
    NotifyEnv,
    attempts,
    hmac_ok,
    pending_plan_status,
    ready_is,
    ready_of,
)
from tests.support.polling import wait_for
from tfcontroller.api.times import format_rfc3339
from tfcontroller.controllers.notification.delivery import Deliverer
from tfcontroller.controllers.notification.metrics import NotificationMetrics
from tfcontroller.controllers.notification.rule_reconciler import RuleReconciler
from tfcontroller.kube.resources import MANIFESTSETS, TERRAFORMS
from tfcontroller.notify.formats.webhook import EVENT_HEADER, SIGNATURE_HEADER
from tfcontroller.runtime.informer import Informer

HOOK_KEY = "hmac-key-for-tests-1"


def _webhook(env: NotifyEnv, ns: str, name: str, receiver: HTTPReceiver, path: str = "/hook") -> None:
    env.secret(ns, f"{name}-secret", {"address": receiver.url + path, "token": HOOK_KEY})
    env.provider(ns, name, "webhook", secretRef={"name": f"{name}-secret"})


def _types(receiver: HTTPReceiver) -> list[str]:
    return [r.header(EVENT_HEADER) or "" for r in receiver.delivered()]


def test_a_pending_plan_is_one_message_per_rule_and_none_again(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("pending")
    _webhook(env, ns, "hook", http_receiver)
    env.terraform_stub(ns, "orders", pending_plan_status(add=2))
    env.rule(ns, "plans", ["hook"], eventTypes=["PlanPending"])
    env.rule(ns, "everything", ["hook"])

    http_receiver.wait_for(2, timeout=30)
    for rule in ("plans", "everything"):
        env.wait_rule(ns, rule, lambda o: ready_is(o, "True", "RuleReady") and (o.get("status") or {}).get("sent") == 1,
                      f"rule {rule} to record its delivery")
    for token in ("again-1", "again-2"):
        env.reconcile_rule(ns, "plans", token)
        env.reconcile_rule(ns, "everything", token)
    env.kube.patch(TERRAFORMS, "orders", {"metadata": {"labels": {"touched": "yes"}}}, ns)  # the object changes too
    for rule in ("plans", "everything"):  # both rules have looked at the changed object before we count
        env.reconcile_rule(ns, rule, "again-3")

    requests = http_receiver.requests
    assert len(requests) == 2, [r.json().get("type") for r in requests]
    for req in requests:
        doc = req.json()
        assert req.header(EVENT_HEADER) == "PlanPending"
        assert hmac_ok(req.body, HOOK_KEY, req.header(SIGNATURE_HEADER)), "the HMAC must verify at the receiver"
        assert PLAN_ID in req.body.decode()
        assert f"{DASHBOARD}/terraform/{ns}/orders" in req.body.decode(), doc
        assert HOOK_KEY not in req.body.decode()
    plans = env.rule_obj(ns, "plans")
    assert plans["status"]["pending"] == [] and plans["status"]["sent"] == 1
    metrics = env.metrics()
    assert 'tfcontroller_notifications_sent_total{provider_type="webhook"}' in metrics
    assert "tfcontroller_notifications_pending" in metrics


def test_a_receiver_down_for_three_attempts_then_up_gets_it_once(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("down")
    _webhook(env, ns, "hook", http_receiver)
    with http_receiver.down():
        env.terraform_stub(ns, "orders", pending_plan_status())
        env.rule(ns, "plans", ["hook"])
        env.wait_rule(ns, "plans", lambda o: attempts(o, "hook") >= 3, "three failed attempts", timeout=60)
    env.wait_rule(ns, "plans", lambda o: (o.get("status") or {}).get("sent") == 1 and not (o.get("status") or {}).get("pending"),
                  "the delivery once the receiver is up", timeout=60)
    env.reconcile_rule(ns, "plans", "after")
    assert len(http_receiver.requests) == 1
    assert _types(http_receiver) == ["PlanPending"]
    failed = env.events(ns, "plans", "NotificationFailed")
    assert len(failed) == 1 and int(failed[0].get("count") or 1) == 1, failed  # one Event per failure streak
    assert failed[0]["type"] == "Warning" and "could not connect" in failed[0]["message"]
    assert HOOK_KEY not in failed[0]["message"]
    metrics = env.metrics()
    assert 'tfcontroller_notifications_failed_total{outcome="retryable",provider_type="webhook"}' in metrics


@pytest.mark.slow
def test_a_controller_restart_between_failure_and_success_delivers_once(env: NotifyEnv,
                                                                       http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("restart")
    _webhook(env, ns, "hook", http_receiver)
    http_receiver.fail_next(1, 503)
    env.terraform_stub(ns, "orders", pending_plan_status())
    env.rule(ns, "plans", ["hook"])
    http_receiver.wait_for(1, timeout=30)
    env.wait_rule(ns, "plans", lambda o: attempts(o, "hook") == 1, "the failed attempt recorded")
    env.restart()
    env.wait_rule(ns, "plans", lambda o: (o.get("status") or {}).get("sent") == 1 and not (o.get("status") or {}).get("pending"),
                  "the delivery after the restart", timeout=60)
    env.reconcile_rule(ns, "plans", "after-restart")
    assert [r.status for r in http_receiver.requests] == [503, 200]
    # and a restart after the delivery sends nothing again (what was sent is in the rule's status)
    env.restart()
    env.reconcile_rule(ns, "plans", "after-second-restart")
    env.kube.patch(TERRAFORMS, "orders", {"metadata": {"labels": {"touched": "yes"}}}, ns)
    env.reconcile_rule(ns, "plans", "after-touch")
    assert [r.status for r in http_receiver.requests] == [503, 200]


def test_429_with_retry_after_is_not_retried_before_it(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("ratelimited")
    _webhook(env, ns, "hook", http_receiver)
    http_receiver.fail_next(1, 429, headers={"Retry-After": "3"}, body=b"slow down")
    env.terraform_stub(ns, "orders", pending_plan_status())
    env.rule(ns, "plans", ["hook"])

    http_receiver.wait_for(1, timeout=30)
    rule = env.wait_rule(ns, "plans", lambda o: attempts(o, "hook") == 1, "the 429 recorded")
    assert "429" in rule["status"]["pending"][0]["providers"][0]["lastError"]
    http_receiver.wait_for(2, timeout=30)
    gap = http_receiver.requests[1].at - http_receiver.requests[0].at
    assert gap >= 3.0, f"retried {gap:.1f}s after a 429 asking for 3s"
    assert [r.status for r in http_receiver.requests] == [429, 200]


@pytest.mark.slow
def test_400_rejects_the_provider_until_its_secret_changes(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("rejected")
    _webhook(env, ns, "hook", http_receiver)
    http_receiver.fail_next(1, 400, body=b"invalid_payload\n<html>more</html>")
    env.terraform_stub(ns, "orders", pending_plan_status())
    env.terraform_stub(ns, "queue", pending_plan_status())  # two entries due at once: the second waits too
    env.rule(ns, "plans", ["hook"])

    rule = env.wait_rule(ns, "plans", lambda o: ready_is(o, "False", "ProviderNotReady"), "ProviderNotReady")
    ready = ready_of(rule)
    assert ready is not None and "hook" in ready.message
    provider = env.provider_obj(ns, "hook")
    rejected = provider["status"]["rejected"]
    assert rejected["httpStatus"] == 400 and "400" in rejected["message"] and "invalid_payload" in rejected["message"]
    wait_for(lambda: ready_is(env.provider_obj(ns, "hook"), "False", "DeliveryRejected"), 20,
             "the provider to be DeliveryRejected")
    message = (ready_of(env.provider_obj(ns, "hook")) or ready).message
    assert "400" in message and "invalid_payload" in message
    env.reconcile_rule(ns, "plans", "while-rejected")
    assert len(http_receiver.requests) == 1, "a rejected provider is not retried until it changes"
    pending = env.rule_obj(ns, "plans")["status"]["pending"]
    assert len(pending) == 2, "the entries stay pending, never dropped"
    assert attempts(env.rule_obj(ns, "plans"), "hook") == 1

    env.secret(ns, "hook-secret", {"address": http_receiver.url + "/fixed", "token": HOOK_KEY})
    env.wait_rule(ns, "plans", lambda o: (o.get("status") or {}).get("sent") == 2 and not (o.get("status") or {}).get("pending"),
                  "the deliveries after the Secret changed", timeout=90)
    assert [(r.status, r.path) for r in http_receiver.requests] == [(400, "/hook"), (200, "/fixed"), (200, "/fixed")]
    assert len(env.events(ns, "plans", "ProviderNotReady")) == 1, "one Event for the not-ready spell"
    env.wait_rule(ns, "plans", lambda o: ready_is(o, "True", "RuleReady"), "the rule Ready again", timeout=30)


def test_drift_detected_then_resolved(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("drift")
    _webhook(env, ns, "hook", http_receiver)
    resources = ["aws_s3_bucket.orders", "terraform_data.web"]
    env.terraform_stub(ns, "orders", {"drift": {"fingerprint": "sha256:drift-1", "resources": resources,
                                                "lastDetectedAt": format_rfc3339()}})
    env.rule(ns, "drift", ["hook"], eventTypes=["DriftDetected", "DriftResolved"])
    http_receiver.wait_for(1, timeout=30)
    env.set_status(TERRAFORMS, ns, "orders", {"drift": {"fingerprint": "", "resources": []}})
    http_receiver.wait_for(2, timeout=30)
    env.wait_rule(ns, "drift", lambda o: (o.get("status") or {}).get("sent") == 2, "both recorded")
    env.reconcile_rule(ns, "drift", "after")
    assert _types(http_receiver) == ["DriftDetected", "DriftResolved"]
    for req in http_receiver.requests:
        assert "aws_s3_bucket.orders" in req.body.decode()


def test_apply_failed_from_the_history(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("applyfailed")
    _webhook(env, ns, "hook", http_receiver)
    env.terraform_stub(ns, "orders")
    rule = env.rule(ns, "failures", ["hook"], severity="error")
    env.wait_rule(ns, "failures", lambda o: ready_is(o, "True", "RuleReady"), "the rule ready")
    # a run that finished when the rule was created counts (runs that finished before it are not replayed)
    finished = rule["metadata"]["creationTimestamp"]
    entry = {"runId": "run-1", "kind": "apply", "outcome": "Failed", "reason": "ApplyFailed",
             "message": "Error: creating bucket: AccessDenied", "planId": PLAN_ID, "startedAt": finished,
             "finishedAt": finished}
    env.set_status(TERRAFORMS, ns, "orders", {"history": [entry]})
    http_receiver.wait_for(1, timeout=30)
    env.wait_rule(ns, "failures", lambda o: (o.get("status") or {}).get("sent") == 1, "the delivery recorded")
    env.reconcile_rule(ns, "failures", "after")
    assert _types(http_receiver) == ["ApplyFailed"]
    assert "AccessDenied" in http_receiver.requests[0].body.decode()


def test_manifestset_failed_then_recovered(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("manifests")
    _webhook(env, ns, "hook", http_receiver)
    failed = {"type": "Ready", "status": "False", "reason": "HealthCheckFailed", "lastTransitionTime": format_rfc3339(),
              "message": "Deployment app/web is not ready"}
    env.manifestset_stub(ns, "app", {"conditions": [failed]})
    env.rule(ns, "manifests", ["hook"], selector={"kinds": ["ManifestSet"]})
    http_receiver.wait_for(1, timeout=30)
    recovered = {**failed, "status": "True", "reason": "ReconciliationSucceeded", "message": "Applied 3 objects"}
    env.set_status(MANIFESTSETS, ns, "app", {"conditions": [recovered]})
    http_receiver.wait_for(2, timeout=30)
    env.wait_rule(ns, "manifests", lambda o: (o.get("status") or {}).get("sent") == 2, "both recorded")
    env.reconcile_rule(ns, "manifests", "after")
    assert _types(http_receiver) == ["ManifestSetFailed", "ManifestSetRecovered"]


def test_an_smtp_provider_mails_through_the_sink(env: NotifyEnv, smtp_server: SMTPServer) -> None:
    ns = env.namespace("mail")
    env.secret(ns, "mail", {"host": smtp_server.host, "port": str(smtp_server.port), "from": "tf@example.com",
                            "tls": "none"})
    env.provider(ns, "ops-mail", "smtp", secretRef={"name": "mail"}, to=["ops@example.com"])
    env.terraform_stub(ns, "orders", {"drift": {"fingerprint": "sha256:drift-mail", "resources": ["aws_sqs_queue.q"]}})
    env.rule(ns, "drift-mail", ["ops-mail"], eventTypes=["DriftDetected"])
    mails = smtp_server.wait_for(1, timeout=30)
    env.wait_rule(ns, "drift-mail", lambda o: (o.get("status") or {}).get("sent") == 1, "the mail recorded")
    env.reconcile_rule(ns, "drift-mail", "after")
    assert len(smtp_server.messages) == 1
    assert mails[0].rcpt_tos == ["ops@example.com"]
    assert "aws_sqs_queue.q" in mails[0].raw.decode(errors="replace")
    assert 'tfcontroller_notifications_sent_total{provider_type="smtp"}' in env.metrics()


@pytest.mark.parametrize("selector", [{"namespaces": ["kube-system"]}, {"namespaces": ["__OWN__", "default"]}])
def test_another_namespace_is_refused(env: NotifyEnv, http_receiver: HTTPReceiver, selector: dict[str, Any]) -> None:
    ns = env.namespace("cross")
    _webhook(env, ns, "hook", http_receiver)
    selector = {"namespaces": [n.replace("__OWN__", ns) for n in selector["namespaces"]]}
    env.rule(ns, "elsewhere", ["hook"], selector=selector)
    rule = env.wait_rule(ns, "elsewhere", lambda o: ready_is(o, "False", "AccessDenied"), "AccessDenied")
    conditions = {c["type"]: c for c in rule["status"]["conditions"]}
    assert conditions["Stalled"]["status"] == "True"
    assert "--allow-cross-namespace-refs" in conditions["Ready"]["message"]
    assert http_receiver.requests == []


def test_a_missing_provider_holds_the_entries_until_it_exists(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("missing")
    env.terraform_stub(ns, "orders", pending_plan_status())
    env.rule(ns, "plans", ["hook", "later"])
    rule = env.wait_rule(ns, "plans", lambda o: ready_is(o, "False", "ProviderNotReady"), "ProviderNotReady")
    ready = ready_of(rule)
    assert ready is not None and "hook" in ready.message and "later" in ready.message and "not found" in ready.message
    assert len((rule.get("status") or {}).get("pending") or []) == 1  # queued for both, kept while they are missing
    _webhook(env, ns, "hook", http_receiver, "/hook")
    http_receiver.wait_for(1, timeout=30)
    _webhook(env, ns, "later", http_receiver, "/later")
    env.wait_rule(ns, "plans", lambda o: ready_is(o, "True", "RuleReady") and not (o.get("status") or {}).get("pending"),
                  "both delivered")
    assert sorted(r.path for r in http_receiver.requests) == ["/hook", "/later"]


def test_https_with_the_providers_ca_bundle(env: NotifyEnv, https_receiver: HTTPReceiver,
                                            http_tls_files: TLSFiles) -> None:
    ns = env.namespace("tls")
    with open(http_tls_files.ca_file) as f:
        env.secret(ns, "corp-ca", {"ca.crt": f.read()})
    env.provider(ns, "chat", "slack", address=https_receiver.url + "/services/T0/B0/abcdefgh",
                 certSecretRef={"name": "corp-ca"})
    env.terraform_stub(ns, "orders", pending_plan_status())
    env.rule(ns, "plans", ["chat"])
    https_receiver.wait_for(1, timeout=30)
    env.wait_rule(ns, "plans", lambda o: (o.get("status") or {}).get("sent") == 1, "the delivery over TLS")
    assert https_receiver.requests[0].json()["text"].startswith("Plan waiting for approval")


def test_the_rate_limit_spaces_messages_to_one_provider(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("limited")
    env.secret(ns, "hook-secret", {"address": http_receiver.url + "/hook"})
    env.provider(ns, "hook", "webhook", secretRef={"name": "hook-secret"}, rateLimit={"messages": 1, "per": "6s"})
    for name in ("a", "b"):
        env.terraform_stub(ns, name, pending_plan_status())
    env.rule(ns, "plans", ["hook"])
    http_receiver.wait_for(2, timeout=30)
    gap = http_receiver.requests[1].at - http_receiver.requests[0].at
    # measured where the messages arrive: the first may arrive late on a busy machine (up to ~1.5 s here under
    # load 35), which shortens the gap seen; without the limit both arrive together (gap ~0)
    assert gap >= 4.5, f"the second message came {gap:.1f}s after the first, before its token (1 per 6s)"
    rule = env.wait_rule(ns, "plans", lambda o: (o.get("status") or {}).get("sent") == 2, "both recorded")
    assert rule["status"]["failed"] == 0, "a rate-limited message is not a failed attempt"


def test_nothing_is_decided_before_the_caches_are_filled(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    """A rule reconciled before the Terraform cache filled (a start, a new leader) would read "every object
    is gone", forget what it sent, and send it again once the cache fills: it waits instead."""
    ns = env.namespace("cold")
    _webhook(env, ns, "hook", http_receiver)
    env.terraform_stub(ns, "orders", pending_plan_status())
    env.rule(ns, "plans", ["hook"])
    before = env.wait_rule(ns, "plans", lambda o: (o.get("status") or {}).get("sent") == 1, "the delivery")
    cold = Informer(env.kube, TERRAFORMS)  # never started: not synced
    reconciler = RuleReconciler(env.kube, [cold], Deliverer(), NotificationMetrics(CollectorRegistry()))
    result = reconciler.reconcile(f"{ns}/plans")
    assert result.requeue_after is not None and result.error is None
    after = env.rule_obj(ns, "plans")
    assert after["status"]["observed"] == before["status"]["observed"] and after["status"]["observed"]
    assert len(http_receiver.requests) == 1


def _stalled() -> dict[str, Any]:
    now = format_rfc3339()
    cond = {"status": "True", "reason": "VarsGenerationFailed", "lastTransitionTime": now,
            "message": "spec.varsFrom[0]: Secret db not found"}
    return {"conditions": [{**cond, "type": "Ready", "status": "False"}, {**cond, "type": "Stalled"}]}


def _denied() -> dict[str, Any]:
    status = pending_plan_status()
    status["plan"]["policy"] = {"result": "denied", "results": [
        {"policy": "protect-data", "result": "denied", "messages": ["terraform_data.db would be destroyed"]}]}
    return status


@pytest.mark.parametrize(("status", "want", "text"), [
    (_stalled, "Stalled", "Secret db not found"),
    (_denied, "PolicyDenied", "terraform_data.db would be destroyed"),
])
def test_error_events_reach_an_error_rule_once(env: NotifyEnv, http_receiver: HTTPReceiver, status: Any, want: str,
                                               text: str) -> None:
    ns = env.namespace(want.lower())
    _webhook(env, ns, "hook", http_receiver)
    env.terraform_stub(ns, "orders", status())
    env.rule(ns, "errors", ["hook"], severity="error")
    env.rule(ns, "infos", ["hook"], eventTypes=["PlanPending", "PlanApplied"])  # wants neither
    http_receiver.wait_for(1, timeout=30)
    env.wait_rule(ns, "errors", lambda o: (o.get("status") or {}).get("sent") == 1, "the delivery recorded")
    env.reconcile_rule(ns, "errors", "after")
    env.reconcile_rule(ns, "infos", "after")
    assert _types(http_receiver) == [want]
    assert text in http_receiver.requests[0].body.decode()
