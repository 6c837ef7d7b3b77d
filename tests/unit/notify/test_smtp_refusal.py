"""notify/smtp.message_refused: which permanent SMTP answers refuse the message rather than the provider
(review 2, finding 6). Pure; the end-to-end classification is in tests/integration/notify/test_smtp_message_level.py."""

from __future__ import annotations

import pytest

from tfcontroller.notify.errors import DeliveryError
from tfcontroller.notify.mail_delivery import classify_error
from tfcontroller.notify.smtp import enhanced_status, message_refused


@pytest.mark.parametrize(("code", "reply", "after_data"), [
    (552, "5.3.4 Message size exceeds fixed maximum message size", False),  # SIZE at MAIL FROM
    (552, "Too much mail data", True),
    (550, "5.3.4 too big for system", True),
    (554, "5.2.3 length exceeds administrative limit", False),
    (554, "Transaction failed", True),
    (554, "5.7.1 spam", True),
    (550, "5.7.1 content refused", True),
    (550, "5.6.0 bad content", True),
    (554, "5.6.1 media not supported", True),
])
def test_size_and_content_refusals_are_message_level(code: int, reply: str, after_data: bool) -> None:
    assert message_refused(code, reply, after_data=after_data)


@pytest.mark.parametrize(("code", "reply", "after_data"), [
    (554, "no SMTP service here", False),  # a greeting / connection refusal: the provider
    (554, "5.7.1 relay access denied", False),  # before the content: not about it
    (550, "5.7.0 relaying denied", True),
    (553, "5.1.8 sender domain invalid", True),
    (535, "5.7.8 authentication failed", False),
    (451, "4.3.0 try later", True),  # transient: never message-level
    (452, "4.3.4 too big for now", True),
    (None, "", True),
])
def test_other_answers_are_about_the_provider(code: int | None, reply: str, after_data: bool) -> None:
    assert not message_refused(code, reply, after_data=after_data)


@pytest.mark.parametrize(("reply", "status"), [("5.7.1 no", "5.7.1"), ("  4.3.0 later", "4.3.0"),
                                               ("Transaction failed", ""), ("5.7 half", ""), ("55.1.1 x", "")])
def test_enhanced_status(reply: str, status: str) -> None:
    assert enhanced_status(reply) == status


def test_classify_keeps_message_level_only_for_permanent_errors() -> None:
    permanent = classify_error(DeliveryError("MessageRefused", "too big", transient=False, message_level=True))
    transient = classify_error(DeliveryError("X", "later", transient=True, message_level=True))
    plain = classify_error(DeliveryError("SenderRefused", "no", transient=False))
    assert (permanent.outcome, permanent.message_level) == ("permanent", True)
    assert not transient.message_level and not plain.message_level
