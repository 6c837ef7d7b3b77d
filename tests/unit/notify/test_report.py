"""Unit tests of notify.report: subjects (singular/plural, resolved), multipart structure, headers,
HTML escaping, manual vs auto remediation text, value formatting."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

from tests.support.sample_plan import SECRETS, drift_plan
from tfcontroller.api.commands import approve_command, approve_hint
from tfcontroller.notify.report import (
    DriftTarget,
    build_drift_email,
    build_resolved_email,
    format_value,
)
from tfcontroller.terraform.drift import DriftReport, analyze

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def _one_resource_report() -> DriftReport:
    doc = drift_plan()
    doc["resource_drift"] = doc["resource_drift"][:1]
    return analyze(doc)


def test_subject_singular_and_plural() -> None:
    t = DriftTarget("ns", "obj", plan_id="plan-x")
    one = build_drift_email(_one_resource_report(), t, to=["a@b.c"], from_addr="f@b.c")
    three = build_drift_email(analyze(drift_plan()), t, to=["a@b.c"], from_addr="f@b.c")
    assert one["Subject"] == "[drift] ns/obj: 1 resource changed outside Terraform"
    assert three["Subject"] == "[drift] ns/obj: 3 resources changed outside Terraform"


def test_headers_and_structure() -> None:
    report = analyze(drift_plan())
    msg = build_drift_email(report, DriftTarget("ns", "obj"), to=["a@b.c", "d@e.f"], from_addr="f@b.c", now=NOW)
    assert msg["To"] == "a@b.c, d@e.f" and msg["From"] == "f@b.c"
    assert msg["Date"] == "Tue, 04 Mar 2025 05:06:07 +0000"
    assert msg["List-Id"] == "Drift reports for ns/obj <obj.ns.drift.tfcontroller.io>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Tfcontroller-Drift-Fingerprint"] == report.fingerprint
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@tfcontroller.local>")
    other = build_drift_email(report, DriftTarget("ns", "obj"), to=["a@b.c"], from_addr="f@b.c", now=NOW)
    assert other["Message-ID"] != msg["Message-ID"]
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    raw = msg.as_string()
    for secret in SECRETS:
        assert secret not in raw


def test_message_id_is_never_folded() -> None:
    report = analyze(drift_plan())
    for _ in range(200):
        msg = build_drift_email(report, DriftTarget("a-long-namespace-name", "a-long-object-name"), to=["a@b.c"],
                                from_addr="f@b.c")
        parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
        assert parsed["Message-ID"] == msg["Message-ID"]
        assert f"Message-ID: {msg['Message-ID']}" in msg.as_string()


def test_manual_mode_names_plan_and_command_auto_mode_says_automatic() -> None:
    report = analyze(drift_plan())
    manual = build_drift_email(report, DriftTarget("ns", "obj", "main@sha1:" + "1" * 40, "plan-main-1111111111-22"),
                               to=["a@b.c"], from_addr="f@b.c")
    text = manual.get_body(("plain",)).get_content()
    assert approve_hint("ns", "obj", "plan-main-1111111111-22") in text  # the one hint (api/commands.py)
    assert approve_command("ns", "obj", "plan-main-1111111111-22") in text
    assert approve_command("ns", "obj", "p").startswith(
        "kubectl annotate terraform/obj -n ns tfcontroller.io/approve-plan=p")
    assert "main@sha1:" + "1" * 40 in text
    assert "aws_sqs_queue.jobs: deleted outside Terraform; the remediation plan will create it" in text
    assert "remediated automatically" not in text

    auto = build_drift_email(report, DriftTarget("ns", "obj", plan_id="plan-a", auto_remediate=True),
                             to=["a@b.c"], from_addr="f@b.c")
    auto_text = auto.get_body(("plain",)).get_content()
    assert "remediated automatically" in auto_text and "kubectl annotate" not in auto_text

    pending = build_drift_email(report, DriftTarget("ns", "obj"), to=["a@b.c"], from_addr="f@b.c")
    assert "being prepared" in pending.get_body(("plain",)).get_content()


def test_html_is_escaped() -> None:
    doc = drift_plan()
    doc["resource_drift"][0]["change"]["after"]["tags"]["env"] = "<script>alert(1)</script>"
    html = build_drift_email(analyze(doc), DriftTarget("ns", "obj", plan_id="p"), to=["a@b.c"],
                             from_addr="f@b.c").get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_resolved_message() -> None:
    msg = build_resolved_email("ns", "obj", ["a.b"], to=["a@b.c"], from_addr="f@b.c", fingerprint="sha256:1",
                               revision="main@sha1:" + "2" * 40, now=NOW)
    assert msg["Subject"] == "[drift resolved] ns/obj: 1 resource no longer changed outside Terraform"
    assert msg["X-Tfcontroller-Notification"] == "resolved"
    assert msg["List-Id"].endswith("<obj.ns.drift.tfcontroller.io>")
    assert "a.b" in msg.get_body(("plain",)).get_content()
    assert "<code>a.b</code>" in msg.get_body(("html",)).get_content()


def test_format_value() -> None:
    assert format_value("(sensitive)") == "(sensitive)"
    assert format_value(None) == "(none)"
    assert format_value("x") == '"x"' and format_value({"b": 1, "a": [True]}) == '{"a": [true], "b": 1}'
    long = format_value("x" * 1000)
    assert len(long) == 200 and long.endswith("…")


def test_policy_results_under_the_remediation_plan_and_a_blocked_plan_is_not_offered() -> None:
    """Issue 18: the mail lists each policy's result and exception; a plan the policies block says so
    instead of the approve command (manual) or "remediated automatically" (auto)."""
    report = analyze(drift_plan())
    lines = ("Policy check: denied", "  denied: ns/protect", "    - aws_sqs_queue.jobs <would> be deleted")
    for auto in (False, True):
        msg = build_drift_email(report, DriftTarget("ns", "obj", plan_id="plan-a", auto_remediate=auto,
                                                    policy=lines, policy_block="plan plan-a is denied by policy"),
                                to=["a@b.c"], from_addr="f@b.c")
        text = msg.get_body(("plain",)).get_content()
        assert "plan plan-a is denied by policy" in text and "\n".join(lines) in text
        assert "kubectl annotate" not in text and "remediated automatically" not in text
        html = msg.get_body(("html",)).get_content()
        assert "&lt;would&gt;" in html and "<would>" not in html
    waived = ("Policy check: warned", "  waived: ns/protect (PolicyException e1)", "    - deleted")
    text = build_drift_email(report, DriftTarget("ns", "obj", plan_id="plan-a", policy=waived), to=["a@b.c"],
                             from_addr="f@b.c").get_body(("plain",)).get_content()
    assert approve_hint("ns", "obj", "plan-a") in text and "waived: ns/protect (PolicyException e1)" in text
