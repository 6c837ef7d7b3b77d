"""E-mail delivery through Amazon SES (`send_raw_email`), for clusters without an SMTP relay.

The same MIME message as over SMTP is sent raw, so both transports deliver identical mail. Credentials
come from boto3's usual chain (environment, IRSA web identity, instance profile); `endpoint_url` points
at an emulator (LocalStack, moto) in tests and the demo.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from tfcontroller.notify.config import SESConfig
from tfcontroller.notify.errors import DeliveryError

log = logging.getLogger(__name__)

# Codes SES returns for conditions that pass by themselves; anything else needs a human.
_TRANSIENT_CODES = {
    "Throttling", "ThrottlingException", "ServiceUnavailable", "InternalFailure", "RequestTimeout",
    "TooManyRequestsException",
}


class SESTransport:
    def __init__(self, config: SESConfig, client: Any | None = None) -> None:
        self.config = config
        self._client = client

    def __repr__(self) -> str:
        return f"SESTransport(region={self.config.region!r}, endpoint={self.config.endpoint_url!r})"

    @property
    def client(self) -> Any:
        """Created lazily so that configuring the controller never needs AWS credentials up front."""
        if self._client is None:
            self._client = boto3.client(
                "ses",
                region_name=self.config.region,
                endpoint_url=self.config.endpoint_url,
                config=botocore.config.Config(
                    connect_timeout=5, read_timeout=15, retries={"max_attempts": 2, "mode": "standard"}
                ),
            )
        return self._client

    def send(self, msg: EmailMessage, to: Sequence[str]) -> str:
        """Deliver `msg` to `to`; returns the SES message id or raises DeliveryError."""
        if not to:
            raise DeliveryError("NoRecipients", "no recipients given", transient=False)
        kwargs: dict[str, Any] = {
            "Source": self.config.from_addr,
            "Destinations": list(to),
            "RawMessage": {"Data": msg.as_bytes()},
        }
        if self.config.configuration_set:
            kwargs["ConfigurationSetName"] = self.config.configuration_set
        try:
            response = self.client.send_raw_email(**kwargs)
        except botocore.exceptions.ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code", "Unknown"))
            text = str(err.get("Message", "")).replace("\n", " ")[:300]
            raise DeliveryError(
                "AuthFailed" if code in {"InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied",
                                         "AccessDeniedException"} else "Rejected",
                f"SES refused the message ({code}): {text}",
                transient=code in _TRANSIENT_CODES,
            ) from None
        except botocore.exceptions.NoCredentialsError:
            raise DeliveryError("AuthFailed", "no AWS credentials found for SES", transient=True) from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise DeliveryError(
                "ConnectionFailed", f"could not reach SES: {type(exc).__name__}: {exc}"[:300], transient=True
            ) from None
        message_id = str(response.get("MessageId", ""))
        log.info("mail sent via SES id=%s recipients=%d subject=%r", message_id, len(to), msg.get("Subject", ""))
        return message_id
