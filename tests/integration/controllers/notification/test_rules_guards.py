"""The rule controller's guards against a slow, blackholed or rate-limiting provider, the cross-namespace
gate and the structure-preserving scrub (issue 19 review, findings 1, 4, 8, 11), on the dev cluster with a
real manager and real loopback receivers (tests/fixtures/http_receiver.py, tests/fixtures/drip_server.py).

- a provider that accepts and then drips one byte at a time does not delay another provider of the same
  rule, nor another rule, beyond its attempt's deadline, and gets one connection at a time (the breaker);
- a 429 with Retry-After holds every entry of that provider, of every rule, until then;
- a rule in the controller's namespace may select another namespace and `*`; elsewhere `*` is refused;
- a non-sensitive output equal to the object's name or a number leaves the title and the approve command
  intact, while the sensitive output's value never appears.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.drip_server import DripServer
from tests.fixtures.http_receiver import HTTPReceiver
from tests.support.notifications import PLAN_ID, NotifyEnv, pending_plan_status, ready_is
from tests.support.polling import wait_for
from tfcontroller.api.commands import approve_command
from tfcontroller.api.times import format_rfc3339
from tfcontroller.kube.resources import NOTIFICATIONRULES, TERRAFORMS
from tfcontroller.notify.formats.webhook import DELIVERY_ID_HEADER, EVENT_HEADER, FLUX_SIGNATURE_HEADER

CONTROLLER_NS = "default"  # NotifyEnv's controller namespace (its TerraformOptions)


def _webhook(env: NotifyEnv, ns: str, name: str, address: str, **spec: Any) -> None:
    env.secret(ns, f"{name}-secret", {"address": address, "token": "hmac-key-guards"})
    env.provider(ns, name, "webhook", secretRef={"name": f"{name}-secret"}, **spec)


def _plans(env: NotifyEnv, ns: str, names: list[str]) -> None:
    for i, name in enumerate(names):
        env.terraform_stub(ns, name, pending_plan_status(plan_id=f"plan-main-{i:010d}-abcdef0{i}"))


@pytest.mark.slow
def test_a_dripping_provider_delays_no_other_provider_or_rule(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    drip = DripServer(for_seconds=120.0)
    try:
        ns = env.namespace("drip")
        _webhook(env, ns, "slow", drip.url, timeout="1s")
        _webhook(env, ns, "fast", http_receiver.url + "/hook")
        _plans(env, ns, ["a", "b", "c"])
        env.rule(ns, "both", ["slow", "fast"], eventTypes=["PlanPending"])
        env.rule(ns, "fast-only", ["fast"], eventTypes=["PlanPending"])
        wait_for(lambda: drip.connections >= 1, 60, "the first attempt to the dripping provider")
        http_receiver.wait_for(6, timeout=110)
        # state, not a stopwatch: every delivery to `fast` arrived while `slow` was still dripping to its
        # attempt (without the deadline that attempt, and the rule behind it, would wait until it ran out)
        assert not drip.ran_out.is_set(), "the fast provider waited for the dripping one to run out"
        assert drip.connections == 1, "one attempt at a time to a provider whose attempt still runs"
        rule = env.wait_rule(ns, "both", lambda o: (o.get("status") or {}).get("sent") == 3, "3 sent to fast")
        slow_errors = [p.get("lastError", "") for e in rule["status"]["pending"] for p in e["providers"]
                       if p["name"] == "slow"]
        assert len(slow_errors) == 3 and any("Timeout" in e for e in slow_errors), slow_errors
        ids = [r.header(DELIVERY_ID_HEADER) for r in http_receiver.delivered()]
        assert len(set(ids)) == 6 and all(ids), ids  # one delivery id per (message, provider, rule)
    finally:
        drip.close()


def test_429_retry_after_holds_every_entry_of_that_provider(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("hold")
    _webhook(env, ns, "hook", http_receiver.url + "/hook")
    http_receiver.fail_next(1, 429, headers={"Retry-After": "4"}, body=b"slow down")
    _plans(env, ns, ["a", "b", "c"])
    env.rule(ns, "plans", ["hook"], eventTypes=["PlanPending"])
    wait_for(lambda: http_receiver.requests, 30, "the first request (answered 429)")
    env.rule(ns, "late", ["hook"], eventTypes=["PlanPending"])  # another rule, same provider: held too
    http_receiver.wait_for(7, timeout=60)  # the 429, then 3 + 3 deliveries
    requests = http_receiver.requests
    assert requests[0].status == 429
    assert len(http_receiver.delivered()) == 6
    gaps = [r.at - requests[0].at for r in requests[1:]]
    assert min(gaps) >= 3.8, f"requests to the provider within its Retry-After: {gaps}"


def test_the_controllers_namespace_may_select_other_namespaces(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    team = env.namespace("team")
    label = {"guards-test": team}
    _webhook(env, CONTROLLER_NS, f"platform-{team}", http_receiver.url + "/hook")
    for rule, namespaces in ((f"every-{team}", ["*"]), (f"named-{team}", [team])):
        env.rule(CONTROLLER_NS, rule, [f"platform-{team}"], eventTypes=["PlanPending"],
                 selector={"namespaces": namespaces, "matchLabels": label})
    try:
        env.terraform_stub(team, "orders")
        env.kube.patch(TERRAFORMS, "orders", {"metadata": {"labels": label}}, team)
        env.set_status(TERRAFORMS, team, "orders", pending_plan_status())
        http_receiver.wait_for(2, timeout=30)
        for r in http_receiver.delivered():
            assert r.header(EVENT_HEADER) == "PlanPending" and f"{team}/orders" in r.body.decode()
            assert r.header(FLUX_SIGNATURE_HEADER) is not None
    finally:
        for rule in (f"every-{team}", f"named-{team}"):
            env.kube.delete(NOTIFICATIONRULES, rule, CONTROLLER_NS)


def test_every_namespace_is_refused_outside_the_controllers_namespace(env: NotifyEnv,
                                                                       http_receiver: HTTPReceiver) -> None:
    ns = env.namespace("star")
    _webhook(env, ns, "hook", http_receiver.url + "/hook")
    env.rule(ns, "everything", ["hook"], selector={"namespaces": ["*"]})
    rule = env.wait_rule(ns, "everything", lambda o: ready_is(o, "False", "AccessDenied"), "AccessDenied")
    message = {c["type"]: c for c in rule["status"]["conditions"]}["Ready"]["message"]
    assert "every namespace" in message and f"controller's namespace ({CONTROLLER_NS})" in message
    assert http_receiver.requests == []


@pytest.mark.parametrize("public", ["__NAME__", "3", "team", "plan"])
def test_public_outputs_mangle_nothing_and_sensitive_ones_never_appear(env: NotifyEnv, http_receiver: HTTPReceiver,
                                                                       public: str) -> None:
    ns = env.namespace("scrub")
    name = f"orders-{ns.rsplit('-', 1)[-1]}"
    value = public.replace("__NAME__", name)
    sensitive = "s3nsitive-Output-Value-9"
    env.secret(ns, "outs", {"public": value, "replicas": "3", "db_password": sensitive})
    _webhook(env, ns, "hook", http_receiver.url + "/hook")
    status = pending_plan_status()
    status["sensitiveOutputs"] = ["db_password"]
    status["availableOutputs"] = ["db_password", "public", "replicas"]
    now = format_rfc3339()
    cond = {"status": "True", "reason": "ApplyFailed", "lastTransitionTime": now,
            "message": f"apply of {name} failed: password {sensitive} rejected by 3 replicas"}
    status["conditions"] = [*status["conditions"], {**cond, "type": "Stalled"}]
    env.terraform_stub(ns, name, status, writeOutputsToSecret={"name": "outs"})
    env.rule(ns, "all", ["hook"], eventTypes=["PlanPending", "Stalled"])
    http_receiver.wait_for(2, timeout=30)
    docs = {r.json()["type"]: r.json() for r in http_receiver.delivered()}
    assert set(docs) == {"PlanPending", "Stalled"}
    for doc in docs.values():
        text = str(doc)
        assert sensitive not in text
        assert doc["title"].endswith(f"{ns}/{name}"), doc["title"]
        assert doc["involvedObject"]["name"] == name and doc["involvedObject"]["namespace"] == ns
    plan = docs["PlanPending"]["plan"]
    assert plan["id"] == PLAN_ID and plan["approveCommand"] == approve_command(ns, name, PLAN_ID)
    assert (plan["counts"]["add"], plan["counts"]["change"]) == (1, 0)
    assert "***" in docs["Stalled"]["message"] and sensitive not in docs["Stalled"]["message"]
    # a public output is no secret: free text keeps it too (only the sensitive outputs' values are scrubbed)
    assert f"apply of {name} failed" in docs["Stalled"]["message"], docs["Stalled"]["message"]


def test_a_message_refused_twice_is_parked_and_the_provider_stays_ready(env: NotifyEnv,
                                                                        http_receiver: HTTPReceiver) -> None:
    """400 is about the message: the first refusal rejects the provider (issue 19: Ready=False naming the
    status), the fix lets the never-refused entry go first, and a second refusal of the same message parks
    it (status.undeliverable, a Warning Event) without rejecting the provider again."""
    ns = env.namespace("parked")
    _webhook(env, ns, "hook", http_receiver.url + "/hook")
    http_receiver.fail_next(1, 400, body=b"invalid_blocks")
    env.terraform_stub(ns, "orders", pending_plan_status())
    env.rule(ns, "plans", ["hook"], eventTypes=["PlanPending"])
    wait_for(lambda: ready_is(env.provider_obj(ns, "hook"), "False", "DeliveryRejected"), 30,
             "the provider rejected after the first 400")
    env.terraform_stub(ns, "queue", pending_plan_status())  # a message that was never refused
    env.reconcile_rule(ns, "plans", "queued")
    http_receiver.fail_next(1, 200)  # the never-refused entry goes first…
    http_receiver.fail_next(1, 400, body=b"invalid_blocks")  # …and the refused one is refused again
    env.secret(ns, "hook-secret", {"address": http_receiver.url + "/fixed", "token": "hmac-key-guards"})
    rule = env.wait_rule(ns, "plans", lambda o: (o.get("status") or {}).get("undeliverable") == 1
                         and (o.get("status") or {}).get("sent") == 1 and not (o.get("status") or {}).get("pending"),
                         "the refused message parked, the other delivered", timeout=60)
    assert [(r.status, r.path) for r in http_receiver.requests] == [(400, "/hook"), (200, "/fixed"), (400, "/fixed")]
    assert "queue" in http_receiver.requests[1].body.decode()
    events = env.events(ns, "plans", "NotificationUndeliverable")
    assert len(events) == 1 and "orders" in events[0]["message"] and events[0]["type"] == "Warning"
    wait_for(lambda: ready_is(env.provider_obj(ns, "hook"), "True", "ProviderReady"), 30,
             "the provider Ready: a parked message does not reject it")
    env.wait_rule(ns, "plans", lambda o: ready_is(o, "True", "RuleReady"), "the rule Ready")
    env.reconcile_rule(ns, "plans", "after-park")
    assert len(http_receiver.requests) == 3, "a parked message is not retried"
    assert rule["status"]["undeliverable"] == 1


def test_each_delivery_is_recorded_before_the_next_is_made(env: NotifyEnv, http_receiver: HTTPReceiver) -> None:
    """The rule's status is patched after each delivery, not once per reconcile: while the second message is
    still in flight, the first is already recorded (a crash then would re-send only the one in flight)."""
    ns = env.namespace("checkpoint")
    _webhook(env, ns, "hook", http_receiver.url + "/hook")
    http_receiver.fail_next(1, 200)
    http_receiver.delay_next(1, 8.0)  # the second answer takes 8 s (recorded by the receiver after that)
    _plans(env, ns, ["a", "b"])
    env.rule(ns, "plans", ["hook"], eventTypes=["PlanPending"])
    rule = env.wait_rule(ns, "plans", lambda o: (o.get("status") or {}).get("sent") == 1,
                         "the first delivery recorded", timeout=30)
    assert len(http_receiver.requests) == 1, "recorded while the second was still in flight"
    assert len(rule["status"]["pending"]) == 1
    env.wait_rule(ns, "plans", lambda o: (o.get("status") or {}).get("sent") == 2, "the second delivery recorded")
    assert len(http_receiver.delivered()) == 2


@pytest.mark.parametrize("ref", ["varsFrom", "env"])
def test_an_entry_of_an_object_deleted_before_delivery_is_sent_scrubbed(env: NotifyEnv, http_receiver: HTTPReceiver,
                                                                        ref: str) -> None:
    """Review 2, finding 4: the stored record is scrubbed when it is queued (the object's Secret values of
    then), so an ApplyFailed still waiting when its Terraform is deleted — its provider did not exist yet —
    goes out without the secret value its message echoed."""
    ns = env.namespace("gone")
    secret = f"pw-{ref}-Qx81Zr"
    env.secret(ns, "vars", {"db_password": secret})
    spec: dict[str, Any] = ({"varsFrom": [{"kind": "Secret", "name": "vars"}]} if ref == "varsFrom" else
                            {"env": [{"name": "TF_VAR_pw", "valueFrom": {"secretKeyRef": {"name": "vars",
                                                                                          "key": "db_password"}}}]})
    env.terraform_stub(ns, "orders", **spec)
    rule = env.rule(ns, "failures", ["hook"], eventTypes=["ApplyFailed"])  # the provider does not exist yet
    finished = rule["metadata"]["creationTimestamp"]
    entry = {"runId": "run-1", "kind": "apply", "outcome": "Failed", "reason": "ApplyFailed",
             "message": f"Error: connecting with password {secret}: refused", "planId": PLAN_ID,
             "startedAt": finished, "finishedAt": finished}
    env.set_status(TERRAFORMS, ns, "orders", {"history": [entry]})
    env.wait_rule(ns, "failures", lambda o: [e for e in (o.get("status") or {}).get("pending") or []
                                             if (e.get("event") or {}).get("scrubbed")],
                  "the queued entry scrubbed in status")
    assert secret not in str(env.rule_obj(ns, "failures")["status"])  # never stored either
    env.kube.delete(TERRAFORMS, "orders", ns)
    wait_for(lambda: env.kube.get_or_none(TERRAFORMS, "orders", ns) is None, 30, "the Terraform gone")
    env.reconcile_rule(ns, "failures", "after-delete")
    _webhook(env, ns, "hook", http_receiver.url + "/hook")
    http_receiver.wait_for(1, timeout=60)
    body = http_receiver.requests[0].body.decode()
    assert "ApplyFailed" in body and "***" in body and secret not in body, body
