"""notify/mail_delivery.py without a server: what each transport failure becomes (a table: transient
DeliveryError → retryable, permanent DeliveryError → permanent with its reason, any other exception →
retryable SendFailed naming only its type, an unbuildable mail → permanent MessageInvalid without
calling the transport), and that no secret given to `send` reaches the bytes handed to the transport,
wherever in the event it was (message, diff, policy, resources, revision, link, metadata) and however
the part is encoded. The transport here is a recorder with the Transport protocol's one method; the
real SMTP and SES transports behind the same protocol are exercised in
tests/integration/notify/test_mail_delivery.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest

from tests.support.mail import decoded
from tests.unit.notify.test_formats import SECRET_VAR, SENSITIVE_OUTPUT, T0, _leaky_event
from tfcontroller.notify import event as ev
from tfcontroller.notify.errors import DeliveryError
from tfcontroller.notify.http_delivery import DeliveryResult
from tfcontroller.notify.mail_delivery import MESSAGE_INVALID, SEND_FAILED, classify_error, send

TO = ["ops@example.com"]
FROM = "tfcontroller@example.com"
PASSWORD = "smtp-Pa55-w0rd"


@dataclass
class Recorder:
    """A transport that keeps what it was given, or raises `fail`."""

    fail: BaseException | None = None
    sent: list[tuple[bytes, list[str]]] = field(default_factory=list)

    def send(self, msg: EmailMessage, to: Sequence[str]) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append((msg.as_bytes(), list(to)))


EVENT = ev.simple_event("ApplyFailed", ev.ObjectRef("Terraform", "team-a", "bucket"), "apply failed", now=T0)


@pytest.mark.parametrize(("fail", "want"), [
    (None, DeliveryResult("delivered", "Delivered", "mail sent to 1 recipient(s)")),
    (DeliveryError("ConnectionFailed", "could not talk to h:25: refused", transient=True),
     DeliveryResult("retryable", "ConnectionFailed", "could not talk to h:25: refused")),
    (DeliveryError("Rejected", "h:25 rejected the message: 451 try later", transient=True),
     DeliveryResult("retryable", "Rejected", "h:25 rejected the message: 451 try later")),
    (DeliveryError("RecipientsRefused", "h:25 refused recipient(s) ops@example.com", transient=False),
     DeliveryResult("permanent", "RecipientsRefused", "h:25 refused recipient(s) ops@example.com")),
    (DeliveryError("AuthFailed", f"h:25 refused the credentials: 535 {PASSWORD}", transient=False),
     DeliveryResult("permanent", "AuthFailed", "h:25 refused the credentials: 535 ***")),
    (RuntimeError(f"boom {PASSWORD}"),
     DeliveryResult("retryable", SEND_FAILED, f"{SEND_FAILED}: RuntimeError while sending the mail")),
    (KeyError("x"), DeliveryResult("retryable", SEND_FAILED, f"{SEND_FAILED}: KeyError while sending the mail")),
])
def test_each_failure_becomes_a_result(fail: BaseException | None, want: DeliveryResult) -> None:
    transport = Recorder(fail)
    got = send(EVENT, transport, to=TO, from_addr=FROM, secrets=[PASSWORD])
    assert got == want
    assert PASSWORD not in got.message
    assert len(transport.sent) == (1 if fail is None else 0)


def test_classify_error_is_the_same_rule_send_applies() -> None:
    err = DeliveryError("SenderRefused", "refused sender", transient=False)
    assert classify_error(err) == DeliveryResult("permanent", "SenderRefused", "refused sender")
    assert classify_error(TimeoutError()).outcome == "retryable"


@pytest.mark.parametrize(("to", "from_addr"), [
    (["ops@example.com\nBcc: everyone@example.com"], FROM),
    (TO, "tf@example.com\r\nBcc: everyone@example.com"),
])
def test_a_mail_that_cannot_be_built_is_permanent_and_never_sent(to: list[str], from_addr: str) -> None:
    transport = Recorder()
    got = send(EVENT, transport, to=to, from_addr=from_addr)
    assert got.outcome == "permanent" and got.reason == MESSAGE_INVALID
    assert transport.sent == []


@pytest.mark.parametrize("kind", ["plan", "drift", "failure"])
def test_no_secret_reaches_the_bytes_sent(kind: str) -> None:
    raw_event = _leaky_event(kind)
    unscrubbed = Recorder()
    send(raw_event, unscrubbed, to=TO, from_addr=FROM)  # no secrets given: the test has teeth
    assert SECRET_VAR in decoded(unscrubbed.sent[0][0])[1]

    transport = Recorder()
    got = send(raw_event, transport, to=TO, from_addr=FROM, secrets=[SENSITIVE_OUTPUT, SECRET_VAR, PASSWORD])
    assert got.delivered
    ((raw, _),) = transport.sent
    text = decoded(raw)[1]
    for secret in (SENSITIVE_OUTPUT, SECRET_VAR):
        assert secret.encode() not in raw and secret not in text, secret
    assert "***" in text


def test_a_secret_in_every_field_of_a_pending_plan_is_scrubbed() -> None:
    s = "tok-9f8e7d6c5b4a"
    obj = ev.ObjectRef("Terraform", "team-a", "bucket", revision=f"main@sha1:{s}")
    event = ev.plan_pending(obj, f"plan-{s}", {"add": 1}, [{"kind": "create", "text": f"+ a.{s}", "indent": 1}],
                            policy={"result": "waived", "results": [
                                {"policy": f"p-{s}", "result": "waived", "messages": [f"m {s}"],
                                 "exception": f"e-{s}"}]},
                            dashboard_url=f"https://dash/{s}", now=T0)
    event = ev.NotificationEvent(event.type, event.object, f"msg {s}", details=event.details,
                                 metadata={"k": s}, timestamp=T0)
    transport = Recorder()
    assert send(event, transport, to=TO, from_addr=FROM, secrets=[s]).delivered
    ((raw, _),) = transport.sent
    assert s.encode() not in raw and s not in decoded(raw)[1]
