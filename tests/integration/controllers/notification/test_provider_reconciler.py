"""The NotificationProvider controller on the dev cluster (issue 19), run by a manager of its own (the rule
controller is not needed to judge a provider): Ready=True ProviderReady naming host:port only; a missing
Secret, or one lacking the key the type needs, is SecretNotFound naming Secret and key, and becomes Ready
when the Secret is created or fixed — through the Secret watch, the backstop being ten minutes away; a
Secret value that can never work (not a URL, not PEM, bad smtp settings, a ServiceAccount token) is Stalled
SecretInvalid; a rejection recorded by the rule controller is DeliveryRejected while it describes the
provider, and a new spec, a rotated Secret or a requested-at annotation clears it (status.rejected removed);
a stale rejection is removed at once; specs the CRD schema admits but the typed view refuses are Stalled
SpecValidationFailed without a retry; a suspended provider is left alone. No Secret value reaches status or
Events, and every status obeys kstatus."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.smtp import make_tls_files
from tests.support.kstatus import assert_kstatus
from tests.support.polling import wait_for
from tfcontroller.api import conditions as c
from tfcontroller.controllers.notification.provider_reconciler import (
    SECRET_RECHECK_SECONDS,
    ProviderReconciler,
    new_provider_controller,
)
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import EVENTS, NOTIFICATIONPROVIDERS, SECRETS
from tfcontroller.operations.events import sort_key
from tfcontroller.runtime.manager import Manager, ManagerOptions

NS = "default"
SLACK_URL = "https://hooks.slack.example.com/services/T000/B000/XXXXtoken1234"
TOKEN = "hmac-signing-key-0123456789"


def provider(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "NotificationProvider",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def secret(name: str, type_: str = "Opaque", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": type_, "metadata": {"name": name, "namespace": NS},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def put_secret(kube: KubeClient, name: str, **data: str) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    kube.patch(SECRETS, name, {"data": encoded}, NS)


def conditions(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    return ((obj or {}).get("status") or {}).get("conditions") or []


def wait_ready(kube: KubeClient, name: str, status: str, reason: str, timeout: float = 30.0) -> dict[str, Any]:
    """The provider once Ready has `status` and `reason` for its current generation (kstatus checked)."""
    def check() -> dict[str, Any] | None:
        obj = kube.get_or_none(NOTIFICATIONPROVIDERS, name, NS)
        cond = c.find(conditions(obj), c.READY)
        if obj is None or cond is None or (cond.status, cond.reason) != (status, reason):
            return None
        if cond.observed_generation != obj["metadata"].get("generation"):
            return None
        return obj

    try:
        obj: dict[str, Any] = wait_for(check, timeout, f"NotificationProvider {name} Ready={status} {reason}")
    except AssertionError:
        now = kube.get_or_none(NOTIFICATIONPROVIDERS, name, NS)
        raise AssertionError(f"{name}: Ready is {c.find(conditions(now), c.READY)}") from None
    assert_kstatus(obj)
    return obj


def ready_message(obj: dict[str, Any]) -> str:
    cond = c.find(conditions(obj), c.READY)
    assert cond is not None
    return cond.message


def events_of(kube: KubeClient, name: str) -> list[tuple[str, str, str]]:
    items, _ = kube.list_all(EVENTS, NS)
    mine = [e for e in items if (e.get("involvedObject") or {}).get("kind") == "NotificationProvider"
            and (e.get("involvedObject") or {}).get("name") == name]
    mine.sort(key=sort_key)  # the product's order: time, then the order they were stored in
    return [(e.get("type", ""), e.get("reason", ""), e.get("message", "")) for e in mine]


def reject(kube: KubeClient, name: str, *, generation: int, versions: dict[str, str], status: int = 400) -> None:
    """What the rule controller writes on a permanent answer."""
    kube.patch_status(NOTIFICATIONPROVIDERS, name, NS, {"rejected": {
        "httpStatus": status, "message": f"HTTP {status} from hooks.slack.example.com:443: invalid_payload",
        "at": "2026-11-30T07:00:00Z", "generation": generation, "secretVersions": versions}})


def rv(kube: KubeClient, name: str) -> str:
    return str(kube.get(SECRETS, name, NS)["metadata"]["resourceVersion"])


@pytest.fixture
def reconciler(crds_installed: KubeClient) -> ProviderReconciler:
    return ProviderReconciler(crds_installed)


@pytest.fixture
def manager(crds_installed: KubeClient, reconciler: ProviderReconciler) -> Iterator[Manager]:
    """The provider controller alone, watching every namespace."""
    mgr = Manager(crds_installed, ManagerOptions(namespace=None, concurrent=2, metrics_addr="127.0.0.1:0",
                                                 health_addr="127.0.0.1:0"))
    mgr.add_controller(new_provider_controller(reconciler))
    mgr.start()
    try:
        assert mgr.wait_synced(30)
        yield mgr
    finally:
        mgr.stop(grace=10)


def test_ready_names_host_and_port_only(crds_installed: KubeClient, manager: Manager) -> None:
    kube = crds_installed
    kube.create(NOTIFICATIONPROVIDERS, provider("hook", type="webhook", address="https://hooks.example.com:8443/in/abc123secretpath",
                                               proxy="http://proxy.example.com:3128"))
    obj = wait_ready(kube, "hook", "True", "ProviderReady")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    message = ready_message(obj)
    assert "hooks.example.com:8443" in message and "proxy.example.com:3128" in message
    assert "abc123secretpath" not in message
    kube.create(NOTIFICATIONPROVIDERS, provider("mail", type="ses", to=["ops@example.com"]))
    assert "1 recipient" in ready_message(wait_ready(kube, "mail", "True", "ProviderReady"))
    kube.create(NOTIFICATIONPROVIDERS, provider("relay", type="smtp", to=["a@example.com", "b@example.com"]))
    assert "--smtp-*" in ready_message(wait_ready(kube, "relay", "True", "ProviderReady"))


def test_missing_secret_or_key_then_created_via_the_watch(crds_installed: KubeClient, manager: Manager,
                                                          tmp_path: Path) -> None:
    """Each case waits on the Secret watch: the backstop requeue is far beyond the test's timeouts."""
    assert SECRET_RECHECK_SECONDS >= 300
    kube = crds_installed
    kube.create(NOTIFICATIONPROVIDERS, provider("slack", type="slack", secretRef={"name": "slack-url"}))
    obj = wait_ready(kube, "slack", "False", "SecretNotFound")
    assert "Secret default/slack-url not found" in ready_message(obj)
    assert c.is_true(conditions(obj), c.RECONCILING) and not c.is_true(conditions(obj), c.STALLED)
    kube.create(SECRETS, secret("slack-url", address=SLACK_URL))
    obj = wait_ready(kube, "slack", "True", "ProviderReady")
    assert ready_message(obj) == "slack: posts to https://hooks.slack.example.com" and "XXXXtoken" not in json.dumps(obj)

    # a Secret without the key this type needs, then the key added
    kube.create(SECRETS, secret("discord-hook", token=TOKEN))
    kube.create(NOTIFICATIONPROVIDERS, provider("discord", type="discord", secretRef={"name": "discord-hook"}))
    assert "Secret default/discord-hook has no key 'address'" in ready_message(
        wait_ready(kube, "discord", "False", "SecretNotFound"))
    put_secret(kube, "discord-hook", address="https://discord.example.com/api/webhooks/1/tok", token=TOKEN)
    wait_ready(kube, "discord", "True", "ProviderReady")

    # certSecretRef without ca.crt, then with a CA bundle
    kube.create(SECRETS, secret("corp-ca", other="x"))
    kube.create(NOTIFICATIONPROVIDERS, provider("flux", type="flux", address="https://flux.example.com/",
                                               certSecretRef={"name": "corp-ca"}))
    assert "Secret default/corp-ca has no key 'ca.crt'" in ready_message(wait_ready(kube, "flux", "False", "SecretNotFound"))
    put_secret(kube, "corp-ca", **{"ca.crt": Path(make_tls_files(tmp_path).ca_file).read_text()})
    wait_ready(kube, "flux", "True", "ProviderReady")

    # smtp: host and from are needed (from may come from the spec)
    kube.create(SECRETS, secret("relay", username="tf", password="mail-password-123"))
    kube.create(NOTIFICATIONPROVIDERS, provider("smtp", type="smtp", secretRef={"name": "relay"},
                                               to=["ops@example.com"], **{"from": "tf@example.com"}))
    assert "has no key 'host'" in ready_message(wait_ready(kube, "smtp", "False", "SecretNotFound"))
    put_secret(kube, "relay", host="smtp.example.com", username="tf", password="mail-password-123")
    obj = wait_ready(kube, "smtp", "True", "ProviderReady")
    assert "smtp.example.com" in ready_message(obj)

    # a Secret deleted later: back to SecretNotFound
    kube.delete(SECRETS, "slack-url", NS)
    wait_ready(kube, "slack", "False", "SecretNotFound")
    for name in ("slack", "discord", "flux", "smtp"):
        text = json.dumps(kube.get(NOTIFICATIONPROVIDERS, name, NS)) + json.dumps(events_of(kube, name))
        for value in (SLACK_URL, TOKEN, "mail-password-123", "/api/webhooks/1/tok"):
            assert value not in text


@pytest.mark.parametrize(("data", "type_", "spec", "fragment"), [
    ({"address": "ftp://files.example.com/x"}, "Opaque", {"type": "slack"}, "key 'address': must be an http"),
    ({"address": "https://ok.example.com/", "proxy": "socks5://p:1080"}, "Opaque", {"type": "webhook"},
     "key 'proxy': must be an http"),
    ({"token": "eyJhbGciOi-sa-token"}, "kubernetes.io/service-account-token",
     {"type": "flux", "address": "https://flux.example.com/"}, "is a ServiceAccount token"),
    ({"host": "smtp.example.com", "from": "tf@example.com", "port": "not-a-port"}, "Opaque",
     {"type": "smtp", "to": ["ops@example.com"]}, "port"),
    ({"host": "smtp.example.com", "from": "tf@example.com", "tls": "sometimes"}, "Opaque",
     {"type": "smtp", "to": ["ops@example.com"]}, "tls"),
])
def test_secret_values_that_cannot_work_stall(crds_installed: KubeClient, reconciler: ProviderReconciler,
                                              data: dict[str, str], type_: str, spec: dict[str, Any],
                                              fragment: str) -> None:
    kube = crds_installed
    sec = secret("values", type_=type_, **data)
    if type_ == "kubernetes.io/service-account-token":
        sec["metadata"]["annotations"] = {"kubernetes.io/service-account.name": "default"}
    kube.create(SECRETS, sec)
    kube.create(NOTIFICATIONPROVIDERS, provider("p", secretRef={"name": "values"}, **spec))
    result = reconciler.reconcile(f"{NS}/p")
    assert result.requeue_after is None and result.error is None  # Stalled: the Secret watch brings it back
    obj = wait_ready(kube, "p", "False", "SecretInvalid", timeout=5)
    assert c.is_true(conditions(obj), c.STALLED) and fragment in ready_message(obj)
    assert "Secret default/values" in ready_message(obj)
    for value in data.values():
        if len(value) > 8 and value.startswith(("eyJ", "ftp")):
            assert value not in json.dumps(obj)


def test_bad_ca_bundle_stalls(crds_installed: KubeClient, reconciler: ProviderReconciler) -> None:
    kube = crds_installed
    kube.create(SECRETS, secret("ca", **{"ca.crt": "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"}))
    kube.create(NOTIFICATIONPROVIDERS, provider("p", type="webhook", address="https://x.example.com/",
                                               certSecretRef={"name": "ca"}))
    assert reconciler.reconcile(f"{NS}/p").requeue_after is None
    assert "is not a PEM CA certificate bundle" in ready_message(wait_ready(kube, "p", "False", "SecretInvalid"))


def test_rejection_holds_until_spec_secret_or_request_changes(crds_installed: KubeClient, manager: Manager) -> None:
    kube = crds_installed
    kube.create(SECRETS, secret("hook", address=SLACK_URL, token=TOKEN))
    kube.create(NOTIFICATIONPROVIDERS, provider("chat", type="slack", secretRef={"name": "hook"}))
    obj = wait_ready(kube, "chat", "True", "ProviderReady")

    # the rule controller records a 400 for this generation and Secret: Ready=False, Stalled
    reject(kube, "chat", generation=obj["metadata"]["generation"], versions={"hook": rv(kube, "hook")})
    obj = wait_ready(kube, "chat", "False", "DeliveryRejected")
    assert c.is_true(conditions(obj), c.STALLED)
    message = ready_message(obj)
    assert "HTTP 400 from hooks.slack.example.com:443: invalid_payload" in message and "Secret (hook)" in message
    # the Event is recorded after the status it reports: wait for it, as a reader of events would
    wait_for(lambda: ("Warning", "DeliveryRejected") in [(t, r) for t, r, _ in events_of(kube, "chat")], 30,
             "the DeliveryRejected Event")

    # the Secret rotated: the rejection no longer describes the provider
    put_secret(kube, "hook", address=SLACK_URL + "-new", token=TOKEN)
    obj = wait_ready(kube, "chat", "True", "ProviderReady")
    assert "rejected" not in obj["status"]
    wait_for(lambda: any(t == "Normal" and "Recovered from DeliveryRejected" in m
                         for t, _, m in events_of(kube, "chat")), 30, "the recovery Event")

    # rejected again, then the spec changes (a new generation)
    reject(kube, "chat", generation=obj["metadata"]["generation"], versions={"hook": rv(kube, "hook")})
    wait_ready(kube, "chat", "False", "DeliveryRejected")
    kube.patch(NOTIFICATIONPROVIDERS, "chat", {"spec": {"timeout": "20s"}}, NS)
    obj = wait_ready(kube, "chat", "True", "ProviderReady")
    assert "rejected" not in obj["status"]

    # rejected again, then the user asks to try again (the receiving end was fixed)
    reject(kube, "chat", generation=obj["metadata"]["generation"], versions={"hook": rv(kube, "hook")})
    wait_ready(kube, "chat", "False", "DeliveryRejected")
    kube.patch(NOTIFICATIONPROVIDERS, "chat", {"metadata": {"annotations": {"tfcontroller.io/requested-at": "1"}}}, NS)
    obj = wait_ready(kube, "chat", "True", "ProviderReady")
    assert "rejected" not in obj["status"] and obj["status"]["lastHandledRequestedAt"] == "1"

    # a rejection that is stale on arrival (an older generation) is removed, Ready stays True
    reject(kube, "chat", generation=obj["metadata"]["generation"] - 1, versions={"hook": rv(kube, "hook")})
    wait_for(lambda: "rejected" not in (kube.get(NOTIFICATIONPROVIDERS, "chat", NS).get("status") or {}), 15,
             "the stale rejection removed")
    wait_ready(kube, "chat", "True", "ProviderReady")


def test_rejection_of_a_provider_without_secrets_clears_on_a_new_generation(
        crds_installed: KubeClient, manager: Manager) -> None:
    kube = crds_installed
    kube.create(NOTIFICATIONPROVIDERS, provider("plain", type="webhook", address="https://in.example.com/hook"))
    obj = wait_ready(kube, "plain", "True", "ProviderReady")
    reject(kube, "plain", generation=obj["metadata"]["generation"], versions={}, status=404)
    assert "nothing is sent to this provider until its spec changes" in ready_message(
        wait_ready(kube, "plain", "False", "DeliveryRejected"))
    kube.patch(NOTIFICATIONPROVIDERS, "plain", {"spec": {"address": "https://in.example.com/hook2"}}, NS)
    wait_ready(kube, "plain", "True", "ProviderReady")


@pytest.mark.parametrize(("spec", "field"), [
    ({"type": "slack", "address": "https://x.example.com/", "to": ["a@example.com"]}, "spec.to"),
    ({"type": "msteams", "address": "https://x.example.com/", "from": "a@example.com"}, "spec.from"),
    ({"type": "webhook"}, "spec.address"),
    ({"type": "smtp"}, "spec.to"),
    ({"type": "ses", "to": ["a@example.com"], "secretRef": {"name": "s"}}, "spec.secretRef"),
    ({"type": "smtp", "to": ["a@example.com"], "address": "https://x.example.com/"}, "spec.address"),
    ({"type": "webhook", "address": "https://x.example.com/", "timeout": "10m"}, "spec.timeout"),
    ({"type": "webhook", "address": "https://x.example.com/", "timeout": "0s"}, "spec.timeout"),
])
def test_specs_the_schema_admits_but_cannot_work_stall_without_retry(
        crds_installed: KubeClient, reconciler: ProviderReconciler, spec: dict[str, Any], field: str) -> None:
    kube = crds_installed
    kube.create(NOTIFICATIONPROVIDERS, provider("bad", **spec))
    result = reconciler.reconcile(f"{NS}/bad")
    assert result.requeue_after is None and result.error is None  # no retry loop: a spec change is needed
    obj = wait_ready(kube, "bad", "False", c.SPEC_INVALID, timeout=5)
    assert c.is_true(conditions(obj), c.STALLED) and ready_message(obj).startswith(f"{field}: ")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]


def test_suspended_provider_is_left_alone(crds_installed: KubeClient, reconciler: ProviderReconciler) -> None:
    kube = crds_installed
    kube.create(NOTIFICATIONPROVIDERS, provider("quiet", type="slack", secretRef={"name": "absent"}, suspend=True))
    assert reconciler.reconcile(f"{NS}/quiet").requeue_after is None
    # created suspended: only Ready=Unknown/Suspended (issue 21: Ready is always present), nothing judged
    conds = conditions(kube.get(NOTIFICATIONPROVIDERS, "quiet", NS))
    assert [(x["type"], x["status"], x["reason"]) for x in conds] == [("Ready", "Unknown", "Suspended")]
    assert reconciler.reconcile(f"{NS}/gone").requeue_after is None  # deleted: nothing to do
