"""Review 2, finding 6: an SMTP refusal of *this message* (too large, its content refused) is message-level,
so one mail the server will never take cannot block the e-mail provider for good; a refusal about the
provider (sender, credentials, an unknown 5xx) stays provider-level, and a 4xx stays retryable. Through
mail_delivery.send and the real SMTPTransport against a real aiosmtpd server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.smtp import SMTPServer
from tests.unit.notify.test_formats import _leaky_event
from tfcontroller.notify.config import SMTPConfig
from tfcontroller.notify.mail_delivery import send
from tfcontroller.notify.smtp import SMTPTransport

TO = ["ops@example.com"]
FROM = "tfcontroller@example.com"


def _plain(server: SMTPServer) -> SMTPTransport:
    return SMTPTransport(SMTPConfig.from_flags(host=server.host, port=server.port, from_addr=FROM, tls="none",
                                               timeout=5))


@pytest.mark.parametrize("reply", [
    "552 5.3.4 Message size exceeds fixed limit",
    "552 Too much mail data",
    "554 5.7.1 Message rejected as spam",
    "554 Transaction failed",
    "550 5.7.1 Content refused by policy",
    "550 5.6.0 Message content rejected",
    "554 5.6.3 Conversion required but not supported",
    "550 5.2.3 Message length exceeds administrative limit",
])
def test_a_refusal_of_the_message_is_message_level(smtp_server: SMTPServer, reply: str) -> None:
    smtp_server.answer_data(reply)
    result = send(_leaky_event("plan"), _plain(smtp_server), to=TO, from_addr=FROM)
    assert (result.outcome, result.reason, result.message_level) == ("permanent", "MessageRefused", True)
    assert reply.split(" ", 1)[0] in result.message
    # the next mail to the same server passes: the provider was not at fault
    assert send(_leaky_event("plan"), _plain(smtp_server), to=TO, from_addr=FROM).delivered


@pytest.mark.parametrize(("reply", "outcome"), [
    ("550 5.7.0 Relaying denied", "permanent"),
    ("553 5.1.8 Sender domain does not exist", "permanent"),
    ("550 Requested action not taken", "permanent"),
    ("451 4.3.0 Temporary failure", "retryable"),
    ("452 4.3.1 Insufficient system storage", "retryable"),
])
def test_a_refusal_about_the_provider_stays_provider_level(smtp_server: SMTPServer, reply: str, outcome: str) -> None:
    smtp_server.answer_data(reply)
    result = send(_leaky_event("plan"), _plain(smtp_server), to=TO, from_addr=FROM)
    assert (result.outcome, result.message_level) == (outcome, False)


@pytest.fixture
def small_smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer(data_size_limit=512)  # announces SIZE 512: smtplib declares the size at MAIL FROM
    server.start()
    yield server
    server.stop()


def test_a_mail_larger_than_the_servers_size_is_message_level_at_mail_from(small_smtp_server: SMTPServer) -> None:
    result = send(_leaky_event("plan"), _plain(small_smtp_server), to=TO, from_addr=FROM)
    assert (result.outcome, result.reason, result.message_level) == ("permanent", "MessageRefused", True)
    assert "552" in result.message
