"""The second review of issue 19, at the level of the rule controller: the dev cluster, a real manager and a
real loopback receiver (tests/fixtures/http_receiver.py); the observed objects are suspended stubs whose
status the test writes (tests/support/notifications.py).

- finding 3: objects created (and applied, or failed) while the rule is suspended keep the rule's creation
  as their history floor: their runs are sent on resume — each run once, a repeated failure reason too;
- finding 10: when an object is deleted, its undelivered state entries (PlanPending, Stalled) are
  withdrawn and never sent, while its history (PlanApplied) is still delivered;
- finding 9: ApplyFailed X, Y, X of one object is three messages;
- finding 1: a rule's status stays small: rows hold no names and no row is repeated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.http_receiver import HTTPReceiver
from tests.support.notifications import PLAN_ID, NotifyEnv, pending_plan_status, ready_is
from tests.support.polling import wait_for
from tfcontroller.api.times import format_rfc3339, parse_rfc3339
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.resources import NOTIFICATIONRULES, TERRAFORMS
from tfcontroller.notify.formats.webhook import EVENT_HEADER

HOOK_KEY = "hmac-key-review2"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotifyEnv]:
    with DevCluster() as cluster:
        environment = NotifyEnv(cluster, tmp_path_factory.mktemp("notify-review2"))
        try:
            yield environment
        finally:
            environment.close()


@contextlib.contextmanager
def _down(receiver: HTTPReceiver) -> Iterator[None]:
    """The receiver down (connections refused, its port kept bound so nothing else takes it), then up."""
    receiver.stop()
    hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hold.bind(("127.0.0.1", receiver.port))
    try:
        yield
    finally:
        hold.close()
        receiver.start()


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

    http_receiver.wait_for(4, timeout=30)
    env.wait_rule(ns, "runs", lambda o: (o.get("status") or {}).get("sent") == 4, "the four deliveries recorded")
    env.reconcile_rule(ns, "runs", "after")
    sent = sorted((r.header(EVENT_HEADER), r.json()["involvedObject"]["name"]) for r in http_receiver.delivered())
    assert sent == [("ApplyFailed", "failing")] * 3 + [("PlanApplied", "applied")], sent
    reasons = sorted(r.json().get("reason") for r in http_receiver.delivered() if r.header(EVENT_HEADER) == "ApplyFailed")
    assert reasons == ["AccessDenied", "QuotaExceeded", "QuotaExceeded"]


def test_a_deleted_objects_pending_plan_and_stall_are_withdrawn_its_apply_still_sent(
        env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("gone")
    _webhook(env, ns, "hook", http_receiver)
    with _down(http_receiver):
        rule = env.rule(ns, "all", ["hook"])
        created = rule["metadata"]["creationTimestamp"]
        planned = env.terraform_stub(ns, "planned", {**pending_plan_status(), "history": [_run("run-p", created)]})
        stalled = {"type": "Stalled", "status": "True", "reason": "SpecInvalid", "message": "spec.path is wrong",
                   "lastTransitionTime": format_rfc3339()}
        env.terraform_stub(ns, "stalled", {"conditions": [stalled]})
        env.terraform_stub(ns, "stays", pending_plan_status("plan-main-0123456789-00000002"))
        for obj in (planned,):
            assert not obj["metadata"].get("finalizers"), "a stub must vanish at once for this test"

        def queued(o: dict[str, Any]) -> bool:
            pending = (o.get("status") or {}).get("pending") or []
            return len(pending) == 4 and all(p["attempts"] >= 1 for e in pending for p in e["providers"])

        env.wait_rule(ns, "all", queued, "four entries queued and tried once (the receiver is down)")
        env.kube.delete(TERRAFORMS, "planned", ns)
        env.kube.delete(TERRAFORMS, "stalled", ns)
        gone = env.wait_rule(ns, "all", lambda o: len((o.get("status") or {}).get("pending") or []) == 2,
                             "the state entries of the deleted objects withdrawn")
        assert gone["status"].get("superseded") == 2
    http_receiver.wait_for(2, timeout=30)
    env.wait_rule(ns, "all", lambda o: (o.get("status") or {}).get("pendingCount") == 0, "nothing left to send")
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
