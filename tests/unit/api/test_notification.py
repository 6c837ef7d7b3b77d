"""tfcontroller.api.notification: NotificationProvider and NotificationRule specs parsed into typed views with
their defaults, and SpecError naming the field and what to fix for every kind of bad input (several inputs
of each kind, beyond the ones the issue lists); the rule's selector and severity filter; the rule that a
recorded rejection holds only while the spec and the referenced Secrets are unchanged."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support.paths import REPO_ROOT
from tfcontroller.api import notification as n
from tfcontroller.api.conditions import SPEC_INVALID
from tfcontroller.api.errors import SpecError, StallingError
from tfcontroller.notify import event as notify_event


def provider(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "NotificationProvider",
            "metadata": {"name": "chat", "namespace": "team-a", "uid": "u1", "generation": 2}, "spec": spec}


def rule(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "NotificationRule",
            "metadata": {"name": "plans", "namespace": "team-a", "uid": "u2", "generation": 1},
            "spec": {"providerRefs": [{"name": "chat"}], **spec}}


def provider_error(**spec: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        n.NotificationProvider.from_dict(provider(**spec))
    assert isinstance(info.value, StallingError)  # bad spec: Stalled, no retry
    return info.value


def rule_error(**spec: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        n.NotificationRule.from_dict(rule(**spec))
    return info.value


# --- NotificationProvider ---------------------------------------------------------------------------

def test_http_provider_defaults() -> None:
    p = n.NotificationProvider.from_dict(provider(type="slack", address="https://hooks.slack.com/services/T/B/X"))
    assert (p.namespace, p.name, p.uid, p.generation, p.type) == ("team-a", "chat", "u1", 2, "slack")
    assert p.timeout == 15.0 and p.rate_limit == n.RateLimit(20, 60.0) and not p.suspend
    assert p.secret_names == () and not p.is_mail
    assert "hooks.slack.com" not in repr(p)  # a chat URL is a token


def test_every_field_read() -> None:
    p = n.NotificationProvider.from_dict(provider(
        type="webhook", secretRef={"name": "hook"}, proxy="http://proxy:3128", certSecretRef={"name": "corp-ca"},
        timeout="30s", rateLimit={"messages": 5, "per": "10m"}, suspend=True))
    assert (p.secret_name, p.cert_secret_name, p.proxy, p.timeout) == ("hook", "corp-ca", "http://proxy:3128", 30.0)
    assert p.rate_limit == n.RateLimit(5, 600.0) and p.suspend and p.secret_names == ("hook", "corp-ca")
    same = n.NotificationProvider.from_dict(provider(type="flux", secretRef={"name": "s"}, certSecretRef={"name": "s"}))
    assert same.secret_names == ("s",)


def test_mail_providers() -> None:
    smtp = n.NotificationProvider.from_dict(provider(type="smtp", secretRef={"name": "smtp"}, to=["ops@example.com"],
                                                     **{"from": "tf@example.com"}))
    assert smtp.is_mail and smtp.to == ("ops@example.com",) and smtp.from_addr == "tf@example.com"
    ses = n.NotificationProvider.from_dict(provider(type="ses", to=["a@x.io", "b@y.io"]))
    assert ses.to == ("a@x.io", "b@y.io") and ses.secret_names == ()
    assert n.NotificationProvider.from_dict(provider(type="smtp", to=["a@x.io"])).secret_name == ""  # --smtp-*


@pytest.mark.parametrize("ptype", [None, "", "Slack", "teams", "email", "pagerduty", 3])
def test_unknown_or_missing_type(ptype: Any) -> None:
    err = provider_error(**({} if ptype is None else {"type": ptype}), address="https://x.io")
    assert err.field == "spec.type" and err.reason == SPEC_INVALID


@pytest.mark.parametrize("ptype", n.HTTP_PROVIDER_TYPES)
def test_http_type_needs_an_address_source(ptype: str) -> None:
    err = provider_error(type=ptype)
    assert err.field == "spec.address" and "secretRef" in err.detail
    assert n.NotificationProvider.from_dict(provider(type=ptype, secretRef={"name": "s"})).address == ""


@pytest.mark.parametrize("ptype", n.HTTP_PROVIDER_TYPES)
@pytest.mark.parametrize(("key", "value"), [("to", ["a@x.io"]), ("from", "a@x.io")])
def test_mail_fields_refused_on_http_types(ptype: str, key: str, value: Any) -> None:
    err = provider_error(type=ptype, address="https://x.io", **{key: value})
    assert err.field == f"spec.{key}" and "remove" in err.detail


@pytest.mark.parametrize("ptype", n.MAIL_PROVIDER_TYPES)
@pytest.mark.parametrize("to", [None, []])
def test_mail_types_need_recipients(ptype: str, to: Any) -> None:
    err = provider_error(type=ptype, **({} if to is None else {"to": to}))
    assert err.field == "spec.to" and "recipient" in err.detail


@pytest.mark.parametrize(("ptype", "key", "value"), [
    ("smtp", "address", "https://x.io"), ("smtp", "proxy", "http://p:1"), ("smtp", "certSecretRef", {"name": "c"}),
    ("ses", "address", "https://x.io"), ("ses", "secretRef", {"name": "s"}), ("ses", "proxy", "http://p:1"),
])
def test_http_fields_refused_on_mail_types(ptype: str, key: str, value: Any) -> None:
    err = provider_error(type=ptype, to=["a@x.io"], **{key: value})
    assert err.field == f"spec.{key}" and f"remove {key}" in err.detail


@pytest.mark.parametrize(("key", "value", "field"), [
    ("to", ["ops"], "spec.to[0]"), ("to", ["a@x.io", "two words@x.io"], "spec.to[1]"),
    ("to", ["a@b@c"], "spec.to[0]"), ("to", [""], "spec.to[0]"), ("to", "a@x.io", "spec.to"),
    ("from", "tf", "spec.from"), ("from", "@x.io", "spec.from"), ("from", "tf@", "spec.from"),
])
def test_bad_email(key: str, value: Any, field: str) -> None:
    spec = {"to": ["ok@x.io"], key: value}
    assert provider_error(type="smtp", **spec).field == field


@pytest.mark.parametrize("key", ["address", "proxy"])
@pytest.mark.parametrize("url", ["ftp://x.io/hook", "hooks.slack.com/services/T/B", "file:///etc/passwd",
                                 "socks5://p:1080", "https://", "http:///path", "", "javascript:alert(1)"])
def test_bad_url(key: str, url: str) -> None:
    spec = {"address": "https://ok.io"} | {key: url}
    err = provider_error(type="webhook", **spec)
    assert err.field == f"spec.{key}"
    if url and len(url) > 10:
        assert url not in err.message  # a URL may hold a token: never echoed


@pytest.mark.parametrize("timeout", ["15", "1d", "-5s", "0s", "abc", "10m"])
def test_bad_timeout(timeout: str) -> None:
    assert provider_error(type="webhook", address="https://x.io", timeout=timeout).field == "spec.timeout"


@pytest.mark.parametrize(("rate", "field"), [
    ({"messages": 0}, "spec.rateLimit.messages"), ({"messages": -3}, "spec.rateLimit.messages"),
    ({"messages": "20"}, "spec.rateLimit.messages"), ({"messages": True}, "spec.rateLimit.messages"),
    ({"messages": 1.5}, "spec.rateLimit.messages"), ({"per": "1 minute"}, "spec.rateLimit.per"),
    ({"per": "0s"}, "spec.rateLimit.per"),
])
def test_bad_rate_limit(rate: dict[str, Any], field: str) -> None:
    assert provider_error(type="webhook", address="https://x.io", rateLimit=rate).field == field


@pytest.mark.parametrize(("key", "ref"), [("secretRef", {}), ("secretRef", {"name": "Bad_Name"}),
                                          ("certSecretRef", {"name": ""}), ("secretRef", "hook")])
def test_bad_secret_refs(key: str, ref: Any) -> None:
    assert provider_error(type="webhook", address="https://x.io", **{key: ref}).field.startswith(f"spec.{key}")


def test_wrong_kind_refused() -> None:
    obj = provider(type="slack", address="https://x.io") | {"kind": "NotificationRule"}
    with pytest.raises(SpecError):
        n.NotificationProvider.from_dict(obj)


# --- NotificationRule -------------------------------------------------------------------------------

def test_rule_defaults() -> None:
    r = n.NotificationRule.from_dict(rule())
    assert r.provider_names == ("chat",) and r.event_types == n.EVENT_TYPES and r.severity == "info"
    assert r.selector == n.Selector(("Terraform", "ManifestSet"), ("*",), {}, ("team-a",)) and not r.suspend


def test_rule_fields() -> None:
    r = n.NotificationRule.from_dict(rule(
        providerRefs=[{"name": "chat"}, {"name": "mail"}], eventTypes=["PlanPending", "DriftDetected"],
        severity="error", selector={"kinds": ["Terraform"], "names": ["app-*", "db"], "matchLabels": {"team": "a"},
                                    "namespaces": ["team-a", "team-b"]}, suspend=True))
    assert r.provider_names == ("chat", "mail") and r.event_types == ("PlanPending", "DriftDetected")
    assert r.selector.kinds == ("Terraform",) and r.selector.namespaces == ("team-a", "team-b") and r.suspend


@pytest.mark.parametrize("refs", [None, [], [{}], [{"name": ""}], [{"name": "Chat"}], "chat",
                                  [{"name": "a"}, {"name": "a"}]])
def test_bad_provider_refs(refs: Any) -> None:
    spec = {} if refs is None else {"providerRefs": refs}
    obj = rule()
    obj["spec"] = spec
    with pytest.raises(SpecError) as info:
        n.NotificationRule.from_dict(obj)
    assert info.value.field.startswith("spec.providerRefs")


@pytest.mark.parametrize(("types", "field"), [
    (["PlanWaiting"], "spec.eventTypes[0]"), (["PlanPending", "planapplied"], "spec.eventTypes[1]"),
    (["Drift"], "spec.eventTypes[0]"), ([""], "spec.eventTypes[0]"), ([], "spec.eventTypes"),
    ("PlanPending", "spec.eventTypes"),
])
def test_unknown_event_type(types: Any, field: str) -> None:
    assert rule_error(eventTypes=types).field == field


@pytest.mark.parametrize("severity", ["warning", "Error", "INFO", "", "critical"])
def test_unknown_severity(severity: str) -> None:
    assert rule_error(severity=severity).field == "spec.severity"


@pytest.mark.parametrize("glob", ["[", "app-[", "]", "app]", "[]", "[!]", "a[b[c]]", "App-*", "app_*", "app/*",
                                  "a!b", "", "*.Prod"])
def test_bad_glob(glob: str) -> None:
    assert rule_error(selector={"names": [glob]}).field == "spec.selector.names[0]"


@pytest.mark.parametrize("glob", ["*", "app-*", "db?", "[abc]-x", "[!a]*", "team.a-*", "[a-c]*"])
def test_good_glob(glob: str) -> None:
    assert n.NotificationRule.from_dict(rule(selector={"names": [glob]})).selector.names == (glob,)


@pytest.mark.parametrize(("kinds", "field"), [
    (["GitRepository"], "spec.selector.kinds[0]"), (["Terraform", "PlanPolicy"], "spec.selector.kinds[1]"),
    (["terraform"], "spec.selector.kinds[0]"), ([], "spec.selector.kinds"),
])
def test_bad_kinds(kinds: list[str], field: str) -> None:
    assert rule_error(selector={"kinds": kinds}).field == field


@pytest.mark.parametrize(("selector", "field"), [
    ({"matchLabels": {"team": 1}}, "spec.selector.matchLabels"), ({"matchLabels": ["team"]}, "spec.selector.matchLabels"),
    ({"namespaces": ["Team-A"]}, "spec.selector.namespaces[0]"), ({"namespaces": [""]}, "spec.selector.namespaces[0]"),
])
def test_bad_selector_fields(selector: dict[str, Any], field: str) -> None:
    assert rule_error(selector=selector).field == field


def obj(kind: str = "Terraform", name: str = "app-1", namespace: str = "team-a", **labels: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace, "labels": labels}}


def test_selector_matches() -> None:
    s = n.NotificationRule.from_dict(rule(selector={"kinds": ["Terraform"], "names": ["app-*", "db"],
                                                    "matchLabels": {"team": "a"}})).selector
    assert s.matches(obj(team="a")) and s.matches(obj(name="db", team="a", extra="x"))
    assert not s.matches(obj(team="b")) and not s.matches(obj())  # labels all must hold
    assert not s.matches(obj(kind="ManifestSet", team="a"))
    assert not s.matches(obj(name="web", team="a")) and not s.matches(obj(name="dbx", team="a"))
    assert not s.matches(obj(namespace="team-b", team="a"))  # default: the rule's own namespace
    every = n.NotificationRule.from_dict(rule()).selector
    assert every.matches(obj(kind="ManifestSet", name="anything")) and not every.matches(obj(kind="GitRepository"))


@pytest.mark.parametrize(("severity", "event_type", "event_severity", "want"), [
    ("info", "PlanPending", "info", True), ("info", "ApplyFailed", "error", True),
    ("error", "PlanPending", "info", False), ("error", "ApplyFailed", "error", True),
])
def test_wants(severity: str, event_type: str, event_severity: str, want: bool) -> None:
    assert n.NotificationRule.from_dict(rule(severity=severity)).wants(event_type, event_severity) is want
    only = n.NotificationRule.from_dict(rule(severity=severity, eventTypes=["DriftDetected"]))
    assert not only.wants(event_type, event_severity)


def test_event_types_and_severities_equal_notify() -> None:
    assert n.EVENT_TYPES == notify_event.EVENT_TYPES and n.SEVERITIES == notify_event.SEVERITIES


# --- status.rejected --------------------------------------------------------------------------------

def test_rejection_round_trip_and_current() -> None:
    status = {"rejected": {"httpStatus": 400, "message": "HTTP 400 from x.io:443: invalid_payload",
                           "at": "2026-11-30T07:00:00Z", "generation": 2, "secretVersions": {"hook": "41"}}}
    rej = n.Rejection.of(status)
    assert rej is not None and rej.to_status() == status["rejected"]
    assert n.rejection_current(rej, 2, {"hook": "41"})
    assert not n.rejection_current(rej, 3, {"hook": "41"})  # spec changed
    assert not n.rejection_current(rej, 2, {"hook": "42"})  # Secret rotated
    assert not n.rejection_current(rej, 2, {"hook": "41", "ca": "7"})  # a Secret added
    assert not n.rejection_current(rej, 2, {})  # a Secret removed from the spec
    assert not n.rejection_current(None, 2, {}) and n.Rejection.of({}) is None and n.Rejection.of(None) is None


# --- the CRDs and the documented examples agree with the typed views -------------------------------

def _crd_spec(kind: str) -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all((REPO_ROOT / "crds" / f"{kind.lower()}s.yaml").read_text()) if d]
    return doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


def test_crd_enums_equal_the_typed_views() -> None:
    assert tuple(_crd_spec("NotificationProvider")["type"]["enum"]) == n.PROVIDER_TYPES
    rule_spec = _crd_spec("NotificationRule")
    assert tuple(rule_spec["eventTypes"]["items"]["enum"]) == n.EVENT_TYPES
    assert tuple(rule_spec["severity"]["enum"]) == n.SEVERITIES
    assert tuple(rule_spec["selector"]["properties"]["kinds"]["items"]["enum"]) == n.SOURCE_KINDS


@pytest.mark.parametrize(("file", "cls"), [("notificationprovider.yaml", n.NotificationProvider),
                                           ("notificationrule.yaml", n.NotificationRule)])
def test_documented_examples_parse(file: str, cls: Any) -> None:
    docs = [d for d in yaml.safe_load_all((REPO_ROOT / "docs" / "api-examples" / file).read_text()) if d]
    assert len(docs) >= 2
    for doc in docs:
        cls.from_dict(doc)
