"""The second review of issue 19, at the level of the rule controller: the dev cluster, a real manager and a
real loopback receiver (tests/fixtures/http_receiver.py); the observed objects are suspended stubs whose
status the test writes (tests/support/notifications.py).

- finding 3: objects created (and applied, or failed) while the rule is suspended keep the rule's creation
  as their history floor: their runs are sent on resume — each run once, a repeated failure reason too;
- finding 10: when an object is deleted, its undelivered state entries (PlanPending, Stalled) are
  withdrawn and never sent, while its history (PlanApplied) is still delivered;
- minor: an attempt refused because the provider's earlier attempt still runs (AttemptRunning) is a
  hold: no failed attempt, no Event, the entry untouched;
- finding 9: ApplyFailed X, Y, X of one object is three messages;
- finding 1: a rule's status stays small: rows hold no names and no row is repeated; a rule whose status
  cannot be written (the controller's ServiceAccount lacks the right, on a TLS dev cluster enforcing
  RBAC) sends nothing, look after look, and each message once when the write is allowed.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.fixtures.devcluster import install_crds
from tests.fixtures.http_receiver import HTTPReceiver
from tests.support.notifications import API, PLAN_ID, NotifyEnv, pending_plan_status, ready_is
from tests.support.polling import wait_for
from tfcontroller.api.notification import NotificationProvider
from tfcontroller.api.times import format_rfc3339, parse_rfc3339
from tfcontroller.controllers.notification.delivery import Deliverer
from tfcontroller.controllers.notification.metrics import NotificationMetrics
from tfcontroller.controllers.notification.provider_secrets import resolve_provider
from tfcontroller.controllers.notification.rule_reconciler import RuleReconciler
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Forbidden
from tfcontroller.kube.resources import (
    EVENTS,
    MANIFESTSETS,
    NOTIFICATIONPROVIDERS,
    NOTIFICATIONRULES,
    SECRETS,
    TERRAFORMS,
)
from tfcontroller.notify import event as ev
from tfcontroller.notify.formats.webhook import EVENT_HEADER
from tfcontroller.runtime.informer import Informer

HOOK_KEY = "hmac-key-review2"


def _webhook(env: NotifyEnv, ns: str, name: str, receiver: HTTPReceiver) -> None:
    env.secret(ns, f"{name}-secret", {"address": receiver.url + "/hook", "token": HOOK_KEY})
    env.provider(ns, name, "webhook", secretRef={"name": f"{name}-secret"})


def _run(run_id: str, finished: str, outcome: str = "Succeeded", reason: str = "") -> dict[str, Any]:
    entry = {"runId": run_id, "kind": "apply", "outcome": outcome, "planId": PLAN_ID, "startedAt": finished,
             "finishedAt": finished}
    if reason:
        entry.update(reason=reason, message=f"Error: {reason}")
    return entry


def _status(env: NotifyEnv, ns: str, name: str) -> dict[str, Any]:
    return dict(env.kube.get(NOTIFICATIONRULES, name, ns).get("status") or {})


def _second_after(stamp: str) -> None:
    """Wait until the wall clock is past `stamp`'s second (timestamps have second precision): what is
    observed from then on is observed strictly later than `stamp`."""
    when = parse_rfc3339(stamp)
    assert when is not None
    wait_for(lambda: dt.datetime.now(dt.UTC) >= when + dt.timedelta(seconds=1), 5, f"the clock past {stamp}")


def _suspend(env: NotifyEnv, ns: str, rule: str, value: bool) -> None:
    env.kube.patch(NOTIFICATIONRULES, rule, {"spec": {"suspend": value}}, ns)


def test_objects_created_and_run_while_the_rule_is_suspended_are_sent_on_resume(
        env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("suspended")
    _webhook(env, ns, "hook", http_receiver)
    env.terraform_stub(ns, "before")  # the rule's first look sees it: observedSince is set then
    env.rule(ns, "runs", ["hook"], eventTypes=["PlanApplied", "ApplyFailed"])
    env.wait_rule(ns, "runs", lambda o: ready_is(o, "True", "RuleReady")
                  and (o.get("status") or {}).get("observedSince"), "the rule's first look")
    _suspend(env, ns, "runs", True)

    applied = env.terraform_stub(ns, "applied")
    finished = applied["metadata"]["creationTimestamp"]
    env.set_status(TERRAFORMS, ns, "applied", {"history": [_run("run-a", finished)]})
    failing = env.terraform_stub(ns, "failing")
    at = failing["metadata"]["creationTimestamp"]
    env.set_status(TERRAFORMS, ns, "failing", {"history": [
        _run("run-1", at, "Failed", "QuotaExceeded"), _run("run-2", at, "Failed", "AccessDenied"),
        _run("run-3", at, "Failed", "QuotaExceeded")]})  # X, Y, X: three runs, three messages (finding 9)
    _second_after(max(finished, at))  # the resume's look is strictly later than every run: only the floor
    _suspend(env, ns, "runs", False)  # can let them through, not the second they share with the look

    http_receiver.wait_for(4, timeout=60)
    env.wait_rule(ns, "runs", lambda o: (o.get("status") or {}).get("sent") == 4, "the four deliveries recorded",
                  timeout=60)
    env.reconcile_rule(ns, "runs", "after")
    sent = sorted((r.header(EVENT_HEADER), r.json()["involvedObject"]["name"]) for r in http_receiver.delivered())
    assert sent == [("ApplyFailed", "failing")] * 3 + [("PlanApplied", "applied")], sent
    reasons = sorted(r.json().get("reason") for r in http_receiver.delivered() if r.header(EVENT_HEADER) == "ApplyFailed")
    assert reasons == ["AccessDenied", "QuotaExceeded", "QuotaExceeded"]


def test_a_deleted_objects_pending_plan_and_stall_are_withdrawn_its_apply_still_sent(
        env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("gone")
    _webhook(env, ns, "hook", http_receiver)
    with http_receiver.down():
        rule = env.rule(ns, "all", ["hook"])
        created = rule["metadata"]["creationTimestamp"]
        planned = env.terraform_stub(ns, "planned", {**pending_plan_status(), "history": [_run("run-p", created)]})
        stalled = {"type": "Stalled", "status": "True", "reason": "SpecInvalid", "message": "spec.path is wrong",
                   "lastTransitionTime": format_rfc3339()}
        env.terraform_stub(ns, "stalled", {"conditions": [stalled]})
        env.terraform_stub(ns, "stays", pending_plan_status("plan-main-0123456789-00000002"))
        assert planned["status"]["history"], "the stub's applied run is what must still be sent"

        def queued(o: dict[str, Any]) -> bool:
            pending = (o.get("status") or {}).get("pending") or []
            return len(pending) == 4 and all(p["attempts"] >= 1 for e in pending for p in e["providers"])

        env.wait_rule(ns, "all", queued, "four entries queued and tried once (the receiver is down)", timeout=90)
        env.kube.delete(TERRAFORMS, "planned", ns)
        env.kube.delete(TERRAFORMS, "stalled", ns)
        # the Terraform controller may have put its finalizer on the stubs: deletion then ends when it lets go
        wait_for(lambda: env.kube.get_or_none(TERRAFORMS, "planned", ns) is None
                 and env.kube.get_or_none(TERRAFORMS, "stalled", ns) is None, 90, "the two stubs deleted")
        gone = env.wait_rule(ns, "all", lambda o: len((o.get("status") or {}).get("pending") or []) == 2,
                             "the state entries of the deleted objects withdrawn", timeout=90)
        assert gone["status"].get("superseded") == 2
    http_receiver.wait_for(2, timeout=90)  # the entries' backoff grew while the receiver was down
    env.wait_rule(ns, "all", lambda o: (o.get("status") or {}).get("pendingCount") == 0, "nothing left to send",
                  timeout=90)
    env.reconcile_rule(ns, "all", "after")
    sent = sorted((r.header(EVENT_HEADER), r.json()["involvedObject"]["name"]) for r in http_receiver.delivered())
    assert sent == [("PlanApplied", "planned"), ("PlanPending", "stays")], sent


def test_the_rules_memory_keeps_no_names_and_one_row_per_object(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("rows")
    _webhook(env, ns, "hook", http_receiver)
    for n in range(5):
        env.terraform_stub(ns, f"tf-{n}", pending_plan_status(f"plan-main-0123456789-0000000{n}") if n % 2 else None)
    env.rule(ns, "rows", ["hook"])
    http_receiver.wait_for(2, timeout=30)
    status = env.wait_rule(ns, "rows", lambda o: (o.get("status") or {}).get("sent") == 2, "two plans sent")["status"]
    rows = status["observed"]
    assert len(rows) == 5 and len({r["uid"] for r in rows}) == 5
    text = json.dumps(rows)
    assert "tf-" not in text and ns not in text and "plan-main" not in text
    assert all(set(r) <= {"uid", "streams", "since"} for r in rows)


# ---- finding 1: nothing is sent that cannot be recorded ------------------------------------------------

_LIMITED_RBAC = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: notifier, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: notifier}
rules:
- apiGroups: ["tfcontroller.io"]
  resources: ["terraforms", "manifestsets", "notificationproviders", "notificationrules"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["tfcontroller.io"]
  resources: ["notificationproviders/status"]
  verbs: ["get", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch", "get", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: notifier}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: notifier}
subjects: [{kind: ServiceAccount, name: notifier, namespace: default}]
"""

_STATUS_GRANT = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: notifier-status}
rules:
- apiGroups: ["tfcontroller.io"]
  resources: ["notificationrules/status"]
  verbs: ["get", "patch", "update"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: notifier-status}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: notifier-status}
subjects: [{kind: ServiceAccount, name: notifier, namespace: default}]
"""


def _kubectl(cluster: DevCluster, tmp: Path, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "KUBECACHEDIR": str(tmp / "kube-cache"), "HOME": str(tmp)}
    env.pop("KUBECONFIG", None)
    proc = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, *args], capture_output=True, text=True,
                          env=env, timeout=120, input=stdin)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_a_rule_whose_status_cannot_be_written_sends_nothing_until_it_can(tmp_path: Path,
                                                                           http_receiver: HTTPReceiver) -> None:
    """The rule controller under a ServiceAccount that may read everything but not write the rule's status
    (as an RBAC mistake, an admission webhook or a status too big for etcd would refuse it): no message
    goes out, look after look (before: each look sent every message again); once the write is allowed,
    each message is delivered once."""
    with DevCluster(tls=True) as cluster:
        admin = KubeClient.load(cluster.kubeconfig)
        install_crds(admin)
        _kubectl(cluster, tmp_path, "apply", "-f", "-", stdin=_LIMITED_RBAC)
        token = _kubectl(cluster, tmp_path, "create", "token", "notifier", "-n", "default",
                         "--duration", "3600s").strip()
        path = tmp_path / "notifier.kubeconfig"
        write_kubeconfig(path, cluster.url, token, cluster.ca_pem)
        limited = KubeClient.load(str(path))
        env = _Objects(admin)
        env.webhook("default", "hook", http_receiver)
        for n in range(3):
            env.terraform(f"tf-{n}", pending_plan_status(f"plan-main-0123456789-0000000{n}"))
        env.rule("plans", ["hook"])
        informers = [Informer(limited, TERRAFORMS), Informer(limited, MANIFESTSETS)]
        for informer in informers:
            informer.start()
        try:
            for informer in informers:
                assert informer.wait_synced(30)
            wait_for(lambda: len(informers[0].list()) == 3, 10, "the three Terraforms in the cache")
            reconciler = RuleReconciler(limited, informers, Deliverer(), NotificationMetrics(CollectorRegistry()),
                                        backoff_base=0.4)
            for _ in range(3):
                with pytest.raises(Forbidden):  # the final patch is refused too: the queue's backoff retries
                    reconciler.reconcile("default/plans")
            assert http_receiver.requests == []

            _kubectl(cluster, tmp_path, "apply", "-f", "-", stdin=_STATUS_GRANT)
            wait_for(lambda: reconciler.reconcile("default/plans").error is None
                     and len(http_receiver.delivered()) == 3, 30, "the three plans delivered")
            reconciler.reconcile("default/plans")
            assert len(http_receiver.requests) == 3
            status = admin.get(NOTIFICATIONRULES, "plans", "default")["status"]
            assert status["sent"] == 3 and status["pendingCount"] == 0
        finally:
            for informer in informers:
                informer.stop()
            limited.close()
            admin.close()


class _Objects:
    """The few objects the RBAC test needs, written with the admin client (NotifyEnv needs its manager)."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube

    def webhook(self, ns: str, name: str, receiver: HTTPReceiver, **spec: Any) -> None:
        data = {"address": receiver.url + "/hook", "token": HOOK_KEY}
        self.kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-secret"},
                                   "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}, ns)
        self.kube.create(NOTIFICATIONPROVIDERS, {
            "apiVersion": API, "kind": "NotificationProvider", "metadata": {"name": name},
            "spec": {"type": "webhook", "secretRef": {"name": f"{name}-secret"}, **spec}}, ns)

    def terraform(self, name: str, status: dict[str, Any]) -> None:
        self.kube.create(TERRAFORMS, {
            "apiVersion": API, "kind": "Terraform", "metadata": {"name": name},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "none"}, "path": "./", "interval": "1h",
                     "approvePlan": "", "suspend": True}}, "default")
        self.kube.patch_status(TERRAFORMS, name, "default", status)

    def rule(self, name: str, providers: list[str]) -> None:
        self.kube.create(NOTIFICATIONRULES, {
            "apiVersion": API, "kind": "NotificationRule", "metadata": {"name": name},
            "spec": {"providerRefs": [{"name": p} for p in providers]}}, "default")


# ---- minor: AttemptRunning is a hold, not a failure -----------------------------------------------------


def test_an_attempt_still_running_holds_the_provider_and_counts_no_failure(tmp_path: Path,
                                                                           http_receiver: HTTPReceiver) -> None:
    """While an earlier attempt to a provider still runs (a slow receiver: its answer held 4 s), the rule's
    deliveries to it wait: no failed attempt, no NotificationFailed Event, the entry untouched, the rule
    requeued; once that attempt ended, the entry goes out once."""
    with DevCluster() as cluster:
        kube = KubeClient.load(cluster.kubeconfig)
        install_crds(kube)
        objects = _Objects(kube)
        objects.webhook("default", "hook", http_receiver, timeout="30s")
        objects.terraform("orders", pending_plan_status())
        objects.rule("plans", ["hook"])
        informers = [Informer(kube, TERRAFORMS), Informer(kube, MANIFESTSETS)]
        for informer in informers:
            informer.start()
        deliverer = Deliverer()
        provider = NotificationProvider.from_dict(kube.get(NOTIFICATIONPROVIDERS, "hook", "default"))
        earlier = threading.Thread(target=deliverer.send, args=(
            resolve_provider(kube, provider),
            ev.simple_event("Stalled", ev.ObjectRef("Terraform", "default", "other", "uid-other"), "earlier",
                            reason="Earlier"), []), daemon=True)
        try:
            for informer in informers:
                assert informer.wait_synced(30)
            reconciler = RuleReconciler(kube, informers, deliverer, NotificationMetrics(CollectorRegistry()),
                                        backoff_base=0.4)
            http_receiver.delay_next(1, 4.0)
            earlier.start()
            wait_for(lambda: deliverer.attempt_running(provider), 10, "the earlier attempt running")
            for _ in range(2):
                result = reconciler.reconcile("default/plans")
                assert result.error is None and result.requeue_after is not None and result.requeue_after > 1
                if not deliverer.attempt_running(provider):
                    break  # the slow answer came already (a very busy machine): what follows still holds
            status = kube.get(NOTIFICATIONRULES, "plans", "default")["status"]
            if deliverer.attempt_running(provider) or status.get("sent", 0) == 0:
                assert status["failed"] == 0 and status["pendingCount"] == 1
                assert [p["attempts"] for p in status["pending"][0]["providers"]] == [0]
            assert not [e for e in kube.list_all(EVENTS, "default")[0] if e.get("reason") == "NotificationFailed"]
            earlier.join(30)
            wait_for(lambda: reconciler.reconcile("default/plans").error is None
                     and len(http_receiver.delivered()) == 2, 30, "the plan delivered after the earlier attempt")
            assert sorted(r.header(EVENT_HEADER) for r in http_receiver.delivered()) == ["PlanPending", "Stalled"]
            assert kube.get(NOTIFICATIONRULES, "plans", "default")["status"]["failed"] == 0
        finally:
            for informer in informers:
                informer.stop()
            kube.close()
