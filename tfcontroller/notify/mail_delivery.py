"""One event to one mail provider (issue 19's `smtp` and `ses` types): scrub, build, send, classify — in
that order, in one place, as notify/dispatch.py does for the HTTP providers.

Why: "every message is built from already-scrubbed text" must not depend on each caller remembering to
scrub, so `send` scrubs the event before the mail is built. And the outbox keeps the answer as data, the
same `DeliveryResult` the HTTP providers give, so the rule controller treats every provider alike:
- the transport accepted the mail: `delivered`;
- `DeliveryError(transient=True)` (the server is down, timed out, answered 4xx, TLS failed): `retryable`
  with the transport's reason, after the outbox's backoff;
- `DeliveryError(transient=False)` (a refused recipient or sender, credentials refused with a 5xx, SES
  refusing an unverified sender): `permanent` with the transport's reason: the same mail with the same
  configuration cannot succeed, so the provider goes Ready=False until its spec or Secret changes;
  *message-level* when the error says so (SMTP 552 too large, a content refusal: smtp.py), as for an
  HTTP 400/413/422 — another mail may pass, and the outbox parks this one after a second refusal;
- any other exception (a bug, a library surprise): `retryable`, reason `SendFailed`, naming only the
  exception's type: its text might quote what we sent, and unknown failures are treated as transient.
A mail that cannot even be built (an address with a line break) is `permanent` `MessageInvalid`: the
provider's `to`/`from` must be fixed. Every message is scrubbed with the secrets given (the SMTP
password among them), so none reaches status.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from tfcontroller.api.redact import scrub
from tfcontroller.notify.errors import DeliveryError
from tfcontroller.notify.event import NotificationEvent
from tfcontroller.notify.http_delivery import DeliveryResult, Outcome
from tfcontroller.notify.mail_event import build_event_email
from tfcontroller.notify.transport import Transport

log = logging.getLogger(__name__)

SEND_FAILED = "SendFailed"
MESSAGE_INVALID = "MessageInvalid"
DELIVERED = "Delivered"


def classify_error(exc: BaseException, secrets: Iterable[str | None] = ()) -> DeliveryResult:
    """The outcome of a transport failure (see the module docstring). Pure."""
    values = list(secrets)
    if isinstance(exc, DeliveryError):
        outcome: Outcome = "retryable" if exc.transient else "permanent"
        return DeliveryResult(outcome, exc.reason, scrub(exc.message, values),
                              message_level=outcome == "permanent" and exc.message_level)
    return DeliveryResult("retryable", SEND_FAILED, f"{SEND_FAILED}: {type(exc).__name__} while sending the mail")


def send(
    event: NotificationEvent,
    transport: Transport,
    *,
    to: Sequence[str],
    from_addr: str,
    secrets: Iterable[str | None] = (),
) -> DeliveryResult:
    """Deliver `event` once through `transport` to `to`; never raises for a delivery failure."""
    values = list(secrets)
    clean = event.scrubbed(values)
    try:
        msg = build_event_email(clean, to=to, from_addr=from_addr)
    except (ValueError, TypeError) as exc:  # header injection guards, an unusable address
        return DeliveryResult("permanent", MESSAGE_INVALID,
                              scrub(f"the mail could not be built: {exc}", values)[:300])
    try:
        transport.send(msg, list(to))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a result the outbox keeps
        result = classify_error(exc, values)
        log.info("mail notification not sent type=%s object=%s/%s outcome=%s reason=%s", event.type,
                 clean.object.namespace, clean.object.name, result.outcome, result.reason)
        return result
    return DeliveryResult("delivered", DELIVERED, f"mail sent to {len(to)} recipient(s)")
