"""Notification events (issue 19's smtp and ses provider types) through notify/mail_delivery.send and the
real transports: a pending plan delivered over STARTTLS + AUTH to a real aiosmtpd server on loopback
(subject, recipients, plan details, no secret in the received bytes, the SMTP password scrubbed too), every
event type delivered over plain SMTP; the server down → retryable ConnectionFailed; wrong credentials →
permanent AuthFailed without the password, a temporary (454) auth failure → retryable; a refused
recipient → permanent RecipientsRefused; down then up → delivered, once, with the same Message-ID. SES through the AWS emulator (tests/fixtures/aws.py,
LocalStack, or moto with AWS_EMULATOR=moto): delivered and read back; an unverified sender → permanent."""

from __future__ import annotations

import pytest

from tests.fixtures.aws import AwsEmulator
from tests.fixtures.smtp import SMTPServer
from tests.support.mail import decoded
from tests.unit.notify.test_formats import EVENTS, SECRET_VAR, SENSITIVE_OUTPUT, _leaky_event
from tfcontroller.notify.config import SESConfig, SMTPConfig
from tfcontroller.notify.mail_delivery import send
from tfcontroller.notify.mail_event import event_message_id
from tfcontroller.notify.ses import SESTransport
from tfcontroller.notify.smtp import SMTPTransport

TO = ["ops@example.com", "oncall@example.com"]
FROM = "tfcontroller@example.com"
SECRETS = [SENSITIVE_OUTPUT, SECRET_VAR]


def _plain(server: SMTPServer) -> SMTPTransport:
    return SMTPTransport(SMTPConfig.from_flags(host=server.host, port=server.port, from_addr=FROM, tls="none",
                                               timeout=5))


def _tls(server: SMTPServer, password: str | None = None) -> SMTPTransport:
    return SMTPTransport(SMTPConfig.from_flags(
        host=server.host, port=server.port, from_addr=FROM, tls="starttls", username=server.username,
        password=server.password if password is None else password, ca_file=server.ca_file, timeout=5))


def test_pending_plan_over_starttls_and_auth_arrives_without_a_secret(smtp_tls_server: SMTPServer) -> None:
    event = _leaky_event("plan")
    plan = event.plan
    assert plan is not None
    result = send(event, _tls(smtp_tls_server), to=TO, from_addr=FROM,
                  secrets=[*SECRETS, smtp_tls_server.password])
    assert result.outcome == "delivered" and result.reason == "Delivered"

    (mail,) = smtp_tls_server.wait_for(1)
    assert sorted(mail.rcpt_tos) == sorted(TO) and mail.mail_from == FROM
    msg, text = decoded(mail.raw)
    assert msg["Subject"] == event.title
    assert msg["Message-ID"] == event_message_id(event)
    assert plan.plan_id in text and plan.counts_text in text and plan.approve_command in text
    assert "denied: p" in text  # the policy block
    for secret in (*SECRETS, smtp_tls_server.password):
        assert secret.encode() not in mail.raw and secret not in text


@pytest.mark.parametrize("case", ["pending-huge", "drift-many", "resolved", "PlanApplied", "ApplyFailed",
                                  "PolicyDenied", "Stalled", "ManifestSetFailed", "ManifestSetRecovered"])
def test_every_event_type_is_delivered(smtp_server: SMTPServer, case: str) -> None:
    event = EVENTS[case]
    assert send(event, _plain(smtp_server), to=TO[:1], from_addr=FROM).delivered
    (mail,) = smtp_server.wait_for(1)
    assert mail.message["Subject"] == event.title
    body = mail.message.get_body(("plain",))
    assert body is not None and event.message in body.get_content()


def test_server_down_is_retryable(smtp_server: SMTPServer) -> None:
    smtp_server.stop()
    result = send(EVENTS["drift"], _plain(smtp_server), to=TO, from_addr=FROM)
    assert result.outcome == "retryable" and result.reason == "ConnectionFailed"
    assert f"{smtp_server.host}:{smtp_server.port}" in result.message


def test_down_then_up_delivers_once_with_the_same_message_id(smtp_server: SMTPServer) -> None:
    event = EVENTS["pending-small"]
    transport = _plain(smtp_server)
    smtp_server.stop()
    assert [send(event, transport, to=TO, from_addr=FROM).outcome for _ in range(3)] == ["retryable"] * 3
    smtp_server.start()
    assert send(event, transport, to=TO, from_addr=FROM).delivered
    (mail,) = smtp_server.wait_for(1)
    assert mail.message["Message-ID"] == event_message_id(event)


def test_wrong_credentials_are_permanent_and_never_name_the_password(smtp_tls_server: SMTPServer) -> None:
    wrong = "Wr0ng-pa55word-xyz"
    result = send(EVENTS["drift"], _tls(smtp_tls_server, password=wrong), to=TO, from_addr=FROM,
                  secrets=[wrong])
    assert result.outcome == "permanent" and result.reason == "AuthFailed"
    assert "535" in result.message
    assert wrong not in result.message and smtp_tls_server.password not in result.message
    assert smtp_tls_server.messages == []


def test_a_temporary_auth_failure_is_retryable(smtp_tls_server: SMTPServer) -> None:
    smtp_tls_server.auth_failure_reply = "454 4.7.0 Temporary authentication failure"
    result = send(EVENTS["drift"], _tls(smtp_tls_server, password="not-the-password"), to=TO, from_addr=FROM)
    assert result.outcome == "retryable" and result.reason == "AuthFailed" and "454" in result.message


def test_a_refused_recipient_is_permanent(smtp_server: SMTPServer) -> None:
    smtp_server.refuse_recipients(*TO)
    result = send(EVENTS["Stalled"], _plain(smtp_server), to=TO, from_addr=FROM)
    assert result.outcome == "permanent" and result.reason == "RecipientsRefused"
    assert TO[0] in result.message
    assert smtp_server.messages == []


def test_one_refused_recipient_of_two_still_delivers_to_the_other(smtp_server: SMTPServer) -> None:
    smtp_server.refuse_recipients(TO[1])  # a retry would duplicate the mail for the one that accepted
    assert send(EVENTS["Stalled"], _plain(smtp_server), to=TO, from_addr=FROM).delivered
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == TO[:1]


@pytest.mark.slow
def test_ses_delivers_the_event_mail(aws_emulator: AwsEmulator) -> None:
    ses = aws_emulator.boto3_client("ses")
    ses.verify_email_identity(EmailAddress=FROM)
    transport = SESTransport(SESConfig(from_addr=FROM, region=aws_emulator.region,
                                       endpoint_url=aws_emulator.endpoint_url),
                             client=ses)
    event = _leaky_event("plan")
    before = {m.id for m in aws_emulator.sent_emails()}
    assert send(event, transport, to=TO[:1], from_addr=FROM, secrets=SECRETS).delivered

    (sent,) = [m for m in aws_emulator.sent_emails() if m.id not in before]
    assert sent.source == FROM and TO[0] in sent.destinations
    parsed = sent.message()
    assert parsed is not None and parsed["Subject"] == event.title
    assert parsed["Message-ID"] == event_message_id(event)
    assert sent.raw is not None
    for secret in SECRETS:
        assert secret not in sent.raw and secret not in (sent.body_text or "")


@pytest.mark.slow
def test_ses_unverified_sender_is_permanent(aws_emulator: AwsEmulator) -> None:
    sender = "nobody-verified@example.org"
    transport = SESTransport(SESConfig(from_addr=sender, region=aws_emulator.region,
                                       endpoint_url=aws_emulator.endpoint_url),
                             client=aws_emulator.boto3_client("ses"))
    result = send(EVENTS["drift"], transport, to=TO[:1], from_addr=sender)
    assert result.outcome == "permanent" and result.reason == "Rejected"
    assert "MessageRejected" in result.message
