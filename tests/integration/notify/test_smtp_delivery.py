"""Drift mail delivered over SMTP to a real aiosmtpd server on loopback: the received MIME (subject,
recipients, resources, headers, no sensitive value), STARTTLS + AUTH, certificate verification, failure
classification (wrong password, server down, no STARTTLS), and "SMTP down then up" driven through the
outbox so that the report arrives exactly once, followed by one "resolved" mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.smtp import SMTPServer
from tests.support.sample_plan import SECRETS, drift_plan
from tfcontroller.notify import outbox
from tfcontroller.notify.config import SMTPConfig
from tfcontroller.notify.errors import DeliveryError
from tfcontroller.notify.outbox import Notification
from tfcontroller.notify.report import DriftTarget, build_drift_email, build_resolved_email
from tfcontroller.notify.smtp import SMTPTransport
from tfcontroller.terraform.drift import DriftReport, analyze

TO = ["ops@example.com", "oncall@example.com"]
FROM = "tfcontroller@example.com"
TARGET = DriftTarget("infra", "demo-bucket", revision="main@sha1:" + "ab" * 20,
                     plan_id="plan-main-abababab-0123abcd")


def _plain_config(server: SMTPServer, **kw: object) -> SMTPConfig:
    return SMTPConfig.from_flags(host=server.host, port=server.port, from_addr=FROM, tls="none", **kw)  # type: ignore[arg-type]


def _tls_config(server: SMTPServer, password: str | None = None, ca_file: str | None = "default") -> SMTPConfig:
    return SMTPConfig.from_flags(
        host=server.host, port=server.port, from_addr=FROM, tls="starttls", username=server.username,
        password=server.password if password is None else password,
        ca_file=server.ca_file if ca_file == "default" else ca_file, timeout=5,
    )


def _report() -> DriftReport:
    return analyze(drift_plan())


def test_drift_report_arrives_with_subject_recipients_resources_and_no_secret(smtp_server: SMTPServer) -> None:
    msg = build_drift_email(_report(), TARGET, to=TO, from_addr=FROM)
    SMTPTransport(_plain_config(smtp_server)).send(msg, TO)

    (mail,) = smtp_server.wait_for(1)
    assert sorted(mail.rcpt_tos) == sorted(TO)
    assert mail.mail_from == FROM
    m = mail.message
    assert m["Subject"] == "[drift] infra/demo-bucket: 3 resources changed outside Terraform"
    assert [a.addr_spec for a in m["To"].addresses] == TO
    assert m["List-Id"].endswith("<demo-bucket.infra.drift.tfcontroller.io>")
    assert m["Message-ID"].endswith("@tfcontroller.local>") and m["Date"].datetime is not None
    assert m.get_content_type() == "multipart/alternative"
    text = m.get_body(("plain",)).get_content()
    html = m.get_body(("html",)).get_content()
    for part in (text, html):
        for address in ("aws_s3_bucket.demo", "aws_db_instance.main", "aws_sqs_queue.jobs"):
            assert address in part
        assert "(sensitive)" in part and TARGET.plan_id in part and TARGET.revision in part
    assert 'tags.env: "prod" -> "dev"' in text
    assert ("kubectl annotate terraform/demo-bucket -n infra "
            "tfcontroller.io/approve-plan=plan-main-abababab-0123abcd") in text
    assert "&lt;team-a&gt;" in html and "<team-a>" not in html  # escaped in HTML
    for secret in SECRETS:
        assert secret.encode() not in mail.raw
        assert secret not in text and secret not in html


def test_starttls_and_auth_delivery(smtp_tls_server: SMTPServer) -> None:
    msg = build_drift_email(_report(), TARGET, to=TO[:1], from_addr=FROM)
    SMTPTransport(_tls_config(smtp_tls_server)).send(msg, TO[:1])
    (mail,) = smtp_tls_server.wait_for(1)
    assert mail.rcpt_tos == TO[:1]
    assert mail.message["Subject"].startswith("[drift] infra/demo-bucket: 3 resources")


# aiosmtpd cannot see implicit TLS, so the fixture turns off its STARTTLS-only auth_require_tls.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_delivery(smtps_server: SMTPServer) -> None:
    cfg = SMTPConfig.from_flags(host=smtps_server.host, port=smtps_server.port, from_addr=FROM, tls="tls",
                                username=smtps_server.username, password=smtps_server.password,
                                ca_file=smtps_server.ca_file, timeout=5)
    SMTPTransport(cfg).send(build_drift_email(_report(), TARGET, to=TO, from_addr=FROM), TO)
    (mail,) = smtps_server.wait_for(1)
    assert sorted(mail.rcpt_tos) == sorted(TO)


def test_wrong_password_is_auth_failed_without_the_password(smtp_tls_server: SMTPServer) -> None:
    wrong = "Wr0ng-pa55word-xyz"
    cfg = _tls_config(smtp_tls_server, password=wrong)
    with pytest.raises(DeliveryError) as info:
        SMTPTransport(cfg).send(build_drift_email(_report(), TARGET, to=TO, from_addr=FROM), TO)
    err = info.value
    assert err.reason == "AuthFailed" and not err.transient  # 535: the same credentials cannot pass
    for text in (str(err), repr(err), err.message, repr(cfg), str(cfg), repr(SMTPTransport(cfg))):
        assert wrong not in text
        assert smtp_tls_server.password not in text
    assert err.__cause__ is None and err.__suppress_context__
    assert smtp_tls_server.messages == []


def test_untrusted_certificate_is_refused(smtp_tls_server: SMTPServer) -> None:
    with pytest.raises(DeliveryError) as info:
        SMTPTransport(_tls_config(smtp_tls_server, ca_file=None)).send(
            build_drift_email(_report(), TARGET, to=TO, from_addr=FROM), TO)
    assert info.value.reason == "TLSFailed"
    assert smtp_tls_server.messages == []


def test_starttls_required_but_not_offered(smtp_server: SMTPServer) -> None:
    cfg = SMTPConfig.from_flags(host=smtp_server.host, port=smtp_server.port, from_addr=FROM, tls="starttls")
    with pytest.raises(DeliveryError) as info:
        SMTPTransport(cfg).send(build_drift_email(_report(), TARGET, to=TO, from_addr=FROM), TO)
    assert info.value.reason == "TLSUnavailable"
    assert smtp_server.messages == []


def test_server_down_is_transient(smtp_server: SMTPServer) -> None:
    smtp_server.stop()
    with pytest.raises(DeliveryError) as info:
        SMTPTransport(_plain_config(smtp_server, timeout=3)).send(
            build_drift_email(_report(), TARGET, to=TO, from_addr=FROM), TO)
    assert info.value.reason == "ConnectionFailed" and info.value.transient


def test_smtp_down_then_up_delivers_exactly_once_then_resolved_once(smtp_tls_server: SMTPServer) -> None:
    transport = SMTPTransport(_tls_config(smtp_tls_server))
    report = _report()

    def send(n: Notification) -> None:
        if n.kind == "drift":
            assert n.fingerprint == report.fingerprint
            msg = build_drift_email(report, TARGET, to=TO, from_addr=FROM)
        else:
            msg = build_resolved_email(TARGET.namespace, TARGET.name, n.resources, to=TO, from_addr=FROM,
                                       fingerprint=n.fingerprint)
        transport.send(msg, TO)

    t0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    status: dict = {"fingerprint": report.fingerprint, "resources": report.addresses}

    smtp_tls_server.stop()
    d1 = outbox.deliver(status, report, t0, send)
    status = outbox.apply_patch(status, d1.status_patch)
    pending = status["pendingNotification"]
    assert pending["kind"] == "drift" and pending["attempts"] == 1
    assert pending["lastError"].startswith("ConnectionFailed")
    assert d1.retry_at == t0 + timedelta(seconds=30)

    smtp_tls_server.start()
    # Before the backoff has passed nothing is attempted, even though the server is back.
    d2 = outbox.deliver(status, None, t0 + timedelta(seconds=10), send)
    assert d2.notifications == [] and d2.retry_at == d1.retry_at
    d3 = outbox.deliver(status, report, t0 + timedelta(seconds=31), send)
    status = outbox.apply_patch(status, d3.status_patch)
    assert status["notifiedFingerprint"] == report.fingerprint and "pendingNotification" not in status

    # A restarted controller reading the same status, and further checks, send nothing more.
    for minutes in (1, 10, 60):
        d = outbox.deliver(dict(status), report, t0 + timedelta(minutes=minutes), send)
        assert d.notifications == [] and d.status_patch == {}
    (mail,) = smtp_tls_server.wait_for(1)
    assert mail.message["Subject"].startswith("[drift] infra/demo-bucket")

    # Drift cleared: exactly one "resolved" mail naming the resources reported before.
    status.update(fingerprint="", resources=[])
    d4 = outbox.deliver(status, DriftReport([]), t0 + timedelta(hours=2), send)
    status = outbox.apply_patch(status, d4.status_patch)
    assert "notifiedFingerprint" not in status and "pendingNotification" not in status
    d5 = outbox.deliver(status, DriftReport([]), t0 + timedelta(hours=3), send)
    assert d5.notifications == []
    mails = smtp_tls_server.wait_for(2)
    assert len(mails) == 2
    resolved = mails[1].message
    assert resolved["Subject"] == "[drift resolved] infra/demo-bucket: 3 resources no longer changed outside Terraform"
    assert "aws_sqs_queue.jobs" in resolved.get_body(("plain",)).get_content()
