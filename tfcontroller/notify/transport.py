"""What the reconciler needs from a mail transport; SMTPTransport and SESTransport both fit."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from typing import Protocol


class Transport(Protocol):
    def send(self, msg: EmailMessage, to: Sequence[str]) -> object:
        """Deliver `msg` to the envelope recipients `to`, or raise notify.errors.DeliveryError."""
        ...
