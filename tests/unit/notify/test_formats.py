"""Every provider format (notify/formats/) against the payload schema its service documents
(tests/fixtures/notify_schemas/), for every event type and for inputs that push the limits: a plan of
thousands of lines, hundreds of drifted resources, very long names, text that looks like markup or a
mention. Also: the diff is cut with a count of what was left out; Slack escapes its control characters;
Discord pings nobody and keeps an embed within 6000 characters; Teams stays within its 28 KB message;
Flux gets a map of strings; the webhook signature verifies and fails on a changed body; and a sensitive
output value and a secret variable value given to the scrubber appear in no provider's payload, also
on the real path from `show -json` through terraform/plan_view.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tfcontroller.notify import event as ev
from tfcontroller.notify.formats import FORMATTERS, discord, flux, msteams, slack, webhook
from tfcontroller.terraform.plan_view import build_plan_view, diff_lines

SCHEMAS = Path(__file__).parents[2] / "fixtures" / "notify_schemas"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
OBJ = ev.ObjectRef("Terraform", "team-a", "bucket", "7d0cdc51-ddcf", "main@sha1:" + "a" * 40)
PLAN_ID = "plan-main-aaaaaaaaaa-12345678"
POLICY = {"result": "warned", "results": [
    {"policy": "no-public-buckets", "result": "warned", "messages": ["bucket is public <!channel> @everyone"]},
    {"policy": "tags", "result": "waived", "messages": ["missing owner tag"], "exception": "tags-ok"}]}


def _diff(n: int, width: int = 40) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [{"kind": "summary", "text": f"Plan: {n} to add, 0 to change, 0 to destroy."}]
    for i in range(n):
        lines.append({"kind": "create", "text": f"+ aws_s3_bucket.b{i} (create)", "indent": 1})
        lines.append({"kind": "attribute", "text": f"tags.x = \"{'v' * width}\"", "indent": 3})
    return lines


def _pending(n: int = 2, **kw: Any) -> ev.NotificationEvent:
    return ev.plan_pending(OBJ, PLAN_ID, {"add": n}, _diff(n), policy=POLICY,
                           dashboard_url="https://dash.example.com/plans/team-a/bucket", now=T0, **kw)


def _events() -> dict[str, ev.NotificationEvent]:
    """Every event type, and the inputs at the limits."""
    long_obj = ev.ObjectRef("Terraform", "n" * 63, "x" * 253, revision="refs/heads/" + "b" * 200 + "@sha1:" + "c" * 40)
    out = {
        "pending-small": _pending(2),
        "pending-huge": _pending(5000, ),
        "pending-no-policy": ev.plan_pending(OBJ, PLAN_ID, {"destroy": 1}, _diff(1), now=T0),
        "pending-empty-diff": ev.plan_pending(OBJ, PLAN_ID, {}, [], now=T0),
        "pending-long-names": ev.plan_pending(long_obj, "plan-" + "z" * 200, {"add": 1}, _diff(3, width=5000),
                                              policy=POLICY, now=T0),
        "pending-markup": ev.plan_pending(OBJ, PLAN_ID, {"add": 1}, [
            {"kind": "create", "text": "+ a <@&123> & <https://evil|click> *b* _c_ `d` ```", "indent": 1}], now=T0),
        "drift": ev.drift_event(OBJ, [f"aws_s3_bucket.b{i}" for i in range(3)], "fp1", plan_id=PLAN_ID, now=T0),
        "drift-many": ev.drift_event(OBJ, [f"module.m{i}.aws_s3_bucket.bucket_{'q' * 50}" for i in range(400)],
                                     "fp2", now=T0),
        "resolved": ev.drift_event(OBJ, ["aws_s3_bucket.b"], "fp1", resolved=True, now=T0),
    }
    for kind in ("PlanApplied", "ApplyFailed", "PolicyDenied", "Stalled"):
        out[kind] = ev.simple_event(kind, OBJ, f"{kind} happened: " + "m" * 100, plan_id=PLAN_ID, now=T0)  # type: ignore[arg-type]
    ms = ev.ObjectRef("ManifestSet", "team-a", "app")
    out["ManifestSetFailed"] = ev.simple_event("ManifestSetFailed", ms, "e" * 50000, reason="HealthCheckFailed", now=T0)
    out["ManifestSetRecovered"] = ev.simple_event("ManifestSetRecovered", ms, "healthy again", now=T0)
    return out


EVENTS = _events()


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


@pytest.mark.parametrize("provider", sorted(FORMATTERS))
@pytest.mark.parametrize("case", sorted(EVENTS))
def test_every_payload_matches_the_documented_schema(provider: str, case: str) -> None:
    doc = FORMATTERS[provider](EVENTS[case])
    jsonschema.validate(doc, _schema(provider), format_checker=jsonschema.FormatChecker())
    json.dumps(doc)  # JSON-able as it stands


def test_every_event_type_is_covered() -> None:
    assert {e.type for e in EVENTS.values()} == set(ev.EVENT_TYPES)


@pytest.mark.parametrize("case", sorted(EVENTS))
def test_discord_embed_within_total_limit_and_mentions_nobody(case: str) -> None:
    doc = discord.payload(EVENTS[case])
    assert all(discord.embed_size(e) <= discord.EMBED_TOTAL_LIMIT for e in doc["embeds"])
    assert doc["allowed_mentions"] == {"parse": []}


@pytest.mark.parametrize("case", sorted(EVENTS))
def test_teams_message_within_28_kb(case: str) -> None:
    assert len(json.dumps(msteams.payload(EVENTS[case])).encode()) <= 28 * 1024


def _note_count(text: str) -> int | None:
    m = re.search(r"… and (\d+) more lines? left out", text)
    return int(m.group(1)) if m else None


def test_a_long_diff_is_cut_with_the_count_of_left_out_lines_in_every_format() -> None:
    event = EVENTS["pending-huge"]
    total = len(event.plan.diff)  # type: ignore[union-attr]
    texts = {
        "slack": json.dumps(slack.payload(event)["attachments"][0]["blocks"], ensure_ascii=False),
        "msteams": json.dumps(msteams.payload(event), ensure_ascii=False),
        "discord": discord.payload(event)["embeds"][0]["description"],
        "flux": flux.payload(event)["message"],
    }
    for provider, text in texts.items():
        left = _note_count(text)
        assert left is not None, provider
        shown = sum(1 for i in range(5000) if f"aws_s3_bucket.b{i} (create)" in text)
        # the summary, the lines shown (the last resource perhaps without its attribute) and the note's count
        # make up the whole diff
        assert shown > 0 and shown * 2 + 1 + left in (total, total + 1), (provider, shown, left, total)
    doc = webhook.payload(event)
    assert len(doc["plan"]["diff"]) == webhook.MAX_DIFF_LINES
    assert doc["plan"]["diffOmitted"] == total - webhook.MAX_DIFF_LINES


def test_a_short_diff_is_whole_and_has_no_note() -> None:
    event = EVENTS["pending-small"]
    for doc in (slack.payload(event), msteams.payload(event), discord.payload(event), flux.payload(event)):
        text = json.dumps(doc, ensure_ascii=False)
        assert "aws_s3_bucket.b1 (create)" in text and _note_count(text) is None


def test_pending_plan_carries_id_counts_policy_approve_command_and_link_everywhere() -> None:
    event = EVENTS["pending-small"]
    plan = event.plan
    assert plan is not None
    for provider, fmt in FORMATTERS.items():
        text = json.dumps(fmt(event), ensure_ascii=False)
        assert PLAN_ID in text, provider
        assert "no-public-buckets" in text, provider
        # the exact command, as api/commands.py writes it (JSON escapes its quotes)
        assert json.dumps(plan.approve_command)[1:-1] in text, provider
        if provider != "flux":
            assert plan.dashboard_url in text, provider
    assert flux.payload(event)["metadata"]["tfcontroller.io/plan-url"] == plan.dashboard_url


def test_slack_escapes_its_control_characters() -> None:
    text = json.dumps(slack.payload(EVENTS["pending-markup"]))
    assert "<@&123>" not in text and "<https://evil|click>" not in text
    assert "&lt;@&amp;123&gt;" in text
    assert "<!channel>" not in json.dumps(slack.payload(EVENTS["pending-small"]))


def test_slack_colour_and_discord_colour_follow_severity() -> None:
    assert slack.payload(EVENTS["pending-small"])["attachments"][0]["color"] == slack.COLORS["info"]
    assert slack.payload(EVENTS["ApplyFailed"])["attachments"][0]["color"] == slack.COLORS["error"]
    assert discord.payload(EVENTS["drift"])["embeds"][0]["color"] == discord.COLORS["error"]
    assert msteams.card(EVENTS["resolved"])["body"][0]["color"] == "Good"


def test_flux_event_names_the_object_and_metadata_are_strings() -> None:
    doc = flux.payload(EVENTS["drift"], reporting_instance="tfcontroller-abc")
    assert doc["involvedObject"] == {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
                                     "namespace": "team-a", "name": "bucket", "uid": "7d0cdc51-ddcf"}
    assert doc["severity"] == "error" and doc["reason"] == "DriftDetected"
    assert doc["timestamp"] == "2026-01-02T03:04:05Z"
    assert doc["metadata"]["tfcontroller.io/revision"] == OBJ.revision
    assert all(isinstance(v, str) and v for v in doc["metadata"].values())
    assert len(flux.payload(EVENTS["ManifestSetFailed"])["message"]) <= flux.MESSAGE_LIMIT


def test_webhook_signature_verifies_over_the_exact_body_and_fails_on_any_change() -> None:
    event = EVENTS["pending-small"]
    body = webhook.encode(webhook.payload(event))
    hdrs = webhook.headers(event, body, "s3cret-key")
    sig = hdrs[webhook.SIGNATURE_HEADER]
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", sig)
    assert webhook.verify(body, "s3cret-key", sig)
    assert not webhook.verify(body + b" ", "s3cret-key", sig)
    assert not webhook.verify(body, "other-key", sig)
    assert webhook.SIGNATURE_HEADER not in webhook.headers(event, body, None)
    assert hdrs[webhook.EVENT_HEADER] == "PlanPending" and hdrs[webhook.FINGERPRINT_HEADER] == event.fingerprint


SENSITIVE_OUTPUT = "db-password-Zq8!x"  # a sensitive output's value a module leaked into a plain attribute
SECRET_VAR = "AKIAIOSFODNN7SECRET"  # a variable's value read from a Secret


def _leaky_event(kind: str) -> ev.NotificationEvent:
    """An event with both secret values in every text field a formatter reads."""
    leak = f"{SENSITIVE_OUTPUT} {SECRET_VAR}"
    obj = ev.ObjectRef("Terraform", "team-a", "bucket", revision=f"main@sha1:{'a' * 40}",)
    if kind == "plan":
        return ev.plan_pending(obj, PLAN_ID, {"add": 1}, [
            {"kind": "create", "text": f"+ aws_db.x[\"{SECRET_VAR}\"] (create)", "indent": 1},
            {"kind": "attribute", "text": f"password = \"{SENSITIVE_OUTPUT}\"", "indent": 3},
            {"kind": "output", "text": f"+ conn = \"postgres://u:{SENSITIVE_OUTPUT}@db\"", "indent": 1}],
            policy={"result": "denied", "results": [{"policy": "p", "result": "denied", "messages": [leak]}]},
            dashboard_url=f"https://u:{SECRET_VAR}@dash/plans/x", now=T0)
    if kind == "drift":
        return ev.drift_event(obj, [f"aws_db.x[\"{SECRET_VAR}\"]", f"y.{SENSITIVE_OUTPUT}"], "fp", now=T0)
    e = ev.simple_event("ApplyFailed", obj, f"apply failed: {leak}", reason="ApplyFailed", now=T0)
    return ev.NotificationEvent(e.type, e.object, e.message, e.severity, metadata={"note": leak}, timestamp=T0)


@pytest.mark.parametrize("kind", ["plan", "drift", "failure"])
def test_no_secret_reaches_any_payload_once_scrubbed(kind: str) -> None:
    raw = _leaky_event(kind)
    assert any(SECRET_VAR in json.dumps(fmt(raw)) for fmt in FORMATTERS.values())  # the test has teeth
    event = raw.scrubbed([SENSITIVE_OUTPUT, SECRET_VAR])
    for provider, fmt in FORMATTERS.items():
        doc = fmt(event)
        body = json.dumps(doc, ensure_ascii=False)
        for secret in (SENSITIVE_OUTPUT, SECRET_VAR):
            assert secret not in body, (provider, secret)
        assert "***" in body, provider
        wire = webhook.encode(doc) + json.dumps(webhook.headers(event, webhook.encode(doc), "k")).encode()
        assert SECRET_VAR.encode() not in wire and SENSITIVE_OUTPUT.encode() not in wire


def test_a_real_readable_plan_with_a_sensitive_output_and_a_secret_variable_leaks_into_no_payload() -> None:
    """The whole path as the controller will run it: `show -json` → plan_view (masks what Terraform marks
    sensitive, and the Secret texts it is given) → diff_lines → event → scrub → every format. The policy
    message and the failure message echo both values, as a careless Rego rule or provider error might."""
    show = {
        "format_version": "1.2", "terraform_version": "1.11.4",
        "variables": {"api_token": {"value": SECRET_VAR}},
        "resource_changes": [{
            "address": "terraform_data.app", "type": "terraform_data", "name": "app", "mode": "managed",
            "change": {"actions": ["create"], "before": None,
                       "after": {"input": {"token": SECRET_VAR, "password": SENSITIVE_OUTPUT, "name": "app"}},
                       "after_unknown": {"id": True}, "after_sensitive": {"input": {"password": True}}}}],
        "output_changes": {
            "db_password": {"actions": ["create"], "before": None, "after": SENSITIVE_OUTPUT,
                            "after_sensitive": True, "after_unknown": False},
            "conn": {"actions": ["create"], "before": None, "after": f"postgres://app:{SENSITIVE_OUTPUT}@db",
                     "after_sensitive": False, "after_unknown": False}},
    }
    secrets = [SECRET_VAR, SENSITIVE_OUTPUT]
    view = build_plan_view(show, plan_id=PLAN_ID, revision=OBJ.revision, created_at="2026-01-02T03:04:05Z",
                           is_drift=False, is_destroy=False, secrets=[SECRET_VAR])
    lines = diff_lines(view)
    assert any("terraform_data.app" in ln.text for ln in lines)
    echo = f"input.token is {SECRET_VAR}, password {SENSITIVE_OUTPUT}"
    events = [
        ev.plan_pending(OBJ, PLAN_ID, view["counts"], lines, now=T0, policy={
            "result": "denied", "results": [{"policy": "p", "result": "denied", "messages": [echo]}]}),
        ev.simple_event("ApplyFailed", OBJ, f"Error: creating app: {echo}", plan_id=PLAN_ID, now=T0),
    ]
    for event in events:
        clean = event.scrubbed(secrets)
        for provider, fmt in FORMATTERS.items():
            body = webhook.encode(fmt(clean)).decode()
            assert SECRET_VAR not in body and SENSITIVE_OUTPUT not in body, (provider, event.type)
