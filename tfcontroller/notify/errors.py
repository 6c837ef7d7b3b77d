"""Delivery failures as one typed error, so callers decide retry and reporting without parsing text."""

from __future__ import annotations


class ConfigError(ValueError):
    """The e-mail configuration is unusable (missing or invalid keys). Never carries the password."""


class DeliveryError(Exception):
    """A message could not be handed to the mail service.

    `reason` is CamelCase (`ConnectionFailed`, `AuthFailed`, `TLSFailed`, `RecipientsRefused`, ...) and is
    safe to put in status and Events; `transient` says whether retrying the same message unchanged can
    succeed (a server that is down) or not (a refused recipient, credentials refused). The drift e-mail's
    outbox retries both kinds with backoff because configuration can be fixed while the notification
    waits; the notification rules' mail providers (notify/mail_delivery.py) report a non-transient one
    as permanent: the provider goes not Ready until its spec or Secret changes, and the message waits
    for that. `message_level`: the refusal is about this message (too large, its content refused), not
    the provider: other messages may pass, so it must not block the provider for good (the rules' outbox
    parks the message after a second refusal). The text never contains the password.
    """

    def __init__(self, reason: str, message: str, *, transient: bool, message_level: bool = False) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.transient = transient
        self.message_level = message_level
