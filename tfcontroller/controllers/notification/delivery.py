"""One notification to one provider: the provider's resolved settings (provider_secrets.resolve_provider)
turned into an HTTP target or a mail transport, the per-provider rate limit, and the send — which never
raises into the reconcile: every failure is a `DeliveryResult` (delivered | retryable | permanent).

Why the controller builds the transport and not notify/: the pieces come from Kubernetes (the provider's
Secrets, the controller's own `--smtp-*`/`--ses-*` flags), while the formats, the scrub, the HTTP
classification (notify.dispatch / notify.http_delivery) and the mail message (notify.mail_delivery) stay
pure library code that knows nothing of Secrets.

- http types (slack, msteams, discord, webhook, flux): `HTTPTarget(address, proxy, CA bundle, timeout)`;
  the provider's `token` signs a webhook (HMAC-SHA256) or is a flux receiver's Bearer token. A CA bundle is
  written to a private temporary file (0600) for the one request and removed after it.
- smtp: with a `secretRef`, the Secret's smtp keys (notify.config.SMTPConfig.from_secret_data; `spec.from`
  overrides the Secret's `from`); without one, the controller's `--smtp-*` server — the same mailer the
  drift e-mail uses (controllers/setup.py hands it over), never a second parser of those flags.
- ses: the controller's `--ses-region`/`--ses-endpoint-url` and boto3's credential chain; the sender is
  `spec.from`, else `--ses-from`.
A configuration that cannot work (no address, an address that is not an http(s) URL, no SMTP server, no
sender) is a *permanent* result: the provider is reported not Ready naming what to fix, and the entries
wait for that fix instead of being retried in a loop.

Rate limit: one token bucket per provider uid (`spec.rateLimit`, default 20 per minute); a message the
bucket refuses is not attempted and not counted as a failure: the reconcile looks again when a token is
there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from tfcontroller.api.notification import HTTP_PROVIDER_TYPES, NotificationProvider
from tfcontroller.api.redact import scrub
from tfcontroller.controllers.notification.provider_secrets import ResolvedProvider
from tfcontroller.notify import dispatch, mail_delivery
from tfcontroller.notify.config import SESConfig, SMTPConfig
from tfcontroller.notify.errors import ConfigError, DeliveryError
from tfcontroller.notify.event import NotificationEvent
from tfcontroller.notify.http_delivery import DeliveryResult, HTTPTarget
from tfcontroller.notify.ratelimit import TokenBucket
from tfcontroller.notify.ses import SESTransport
from tfcontroller.notify.smtp import SMTPTransport
from tfcontroller.notify.transport import Transport

log = logging.getLogger(__name__)

REASON_INVALID_CONFIG = "InvalidConfiguration"
REASON_DELIVERY_FAILED = "DeliveryFailed"


class Mailer(Protocol):
    """The controller's `--smtp-*` server as the drift e-mail resolves it (controllers/terraform/drift/mail.py
    `mailer_from_options`): a transport and its sender, read at each delivery (a rotated password applies)."""

    def resolve(self) -> tuple[Transport, str]: ...


@dataclass(frozen=True)
class MailDefaults:
    """What smtp/ses providers fall back on: the controller's own mail flags."""

    smtp: Mailer | None = None  # --smtp-secret / --smtp-host ...; None: not configured
    ses_region: str | None = None
    ses_endpoint_url: str | None = None
    ses_from: str | None = None


def permanent(reason: str, message: str) -> DeliveryResult:
    return DeliveryResult("permanent", reason, message)


class Deliverer:
    """Sends for every rule of one manager; the buckets are shared, so two rules sending to one provider
    share its limit. Thread-safe (several workers reconcile rules at once)."""

    def __init__(self, mail: MailDefaults | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.mail = mail or MailDefaults()
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}

    def throttle(self, provider: NotificationProvider) -> float:
        """Take a token of `provider`'s bucket: 0.0 to send now, else the seconds until one is there."""
        rate = provider.rate_limit.messages / max(provider.rate_limit.per, 0.001)
        burst = max(1, provider.rate_limit.messages)
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(provider.uid)
            if bucket is None or (bucket.rate, bucket.burst) != (rate, burst):
                bucket = TokenBucket.full(now, rate, burst)
            bucket, wait = bucket.take(now)
            self._buckets[provider.uid] = bucket
        return wait

    def send(self, resolved: ResolvedProvider, event: NotificationEvent, secrets: Sequence[str]) -> DeliveryResult:
        """Deliver `event` once; `secrets` are the object's secret values (scrubbed from every text, with the
        provider's own). Never raises: an unexpected error is a retryable result naming only its type."""
        values = [*secrets, *resolved.secret_values]
        try:
            if resolved.provider.type in HTTP_PROVIDER_TYPES:
                return self._send_http(resolved, event, values)
            return self._send_mail(resolved, event, values)
        except Exception as exc:  # noqa: BLE001 - a delivery never raises into the reconcile
            log.debug("notification delivery raised", exc_info=exc)
            return DeliveryResult("retryable", REASON_DELIVERY_FAILED,
                                  scrub(f"delivery failed: {type(exc).__name__}: {exc}", values)[:500])

    # ---- http ----------------------------------------------------------------------------------
    def _send_http(self, resolved: ResolvedProvider, event: NotificationEvent, values: list[str]) -> DeliveryResult:
        provider = resolved.provider
        if not resolved.address:
            return permanent(REASON_INVALID_CONFIG, f"provider {provider.name} has no address: set spec.address "
                                                    f"or the key `address` of its secretRef")
        with _ca_file(resolved.ca_pem) as ca_file:
            try:
                target = HTTPTarget(resolved.address, proxy=resolved.proxy or None, ca_file=ca_file,
                                    timeout=provider.timeout)
            except ValueError as exc:
                return permanent(REASON_INVALID_CONFIG, scrub(f"provider {provider.name}: {exc}", values))
            return dispatch.send(provider.type, event, target, secrets=values, signing_secret=resolved.token or None)

    # ---- mail ----------------------------------------------------------------------------------
    def _send_mail(self, resolved: ResolvedProvider, event: NotificationEvent, values: list[str]) -> DeliveryResult:
        provider = resolved.provider
        try:
            with _ca_file(resolved.ca_pem) as ca_file:
                transport, sender = self._transport(resolved, ca_file)
                return mail_delivery.send(event, transport, to=list(provider.to), from_addr=sender, secrets=values)
        except DeliveryError as exc:  # resolving the controller's mailer (a password file, its Secret)
            if exc.transient:
                return DeliveryResult("retryable", exc.reason, scrub(exc.message, values))
            return permanent(exc.reason, scrub(exc.message, values))
        except ConfigError as exc:  # messages name keys, never values
            return permanent(REASON_INVALID_CONFIG, scrub(f"provider {provider.name}: {exc}", values))

    def _transport(self, resolved: ResolvedProvider, ca_file: str | None) -> tuple[Transport, str]:
        provider = resolved.provider
        if provider.type == "ses":
            sender = provider.from_addr or self.mail.ses_from or ""
            if not sender:
                raise ConfigError("no sender: set spec.from (or start the controller with --ses-from)")
            cfg = SESConfig(from_addr=sender, region=self.mail.ses_region, endpoint_url=self.mail.ses_endpoint_url)
            return SESTransport(cfg), sender
        if provider.secret_name:
            data = dict(resolved.smtp)
            if provider.from_addr:
                data["from"] = provider.from_addr
            smtp = dataclasses.replace(SMTPConfig.from_secret_data(data, ca_file=ca_file), timeout=provider.timeout)
            return SMTPTransport(smtp), smtp.from_addr
        if self.mail.smtp is None:
            raise ConfigError("no SMTP server: give the provider a secretRef with the keys host, port, username, "
                              "password, from (or start the controller with --smtp-secret or --smtp-host)")
        transport, sender = self.mail.smtp.resolve()
        return transport, provider.from_addr or sender


@contextlib.contextmanager
def _ca_file(pem: str | None) -> Iterator[str | None]:
    """The provider's CA bundle as a private file for the duration of one delivery (None: none given)."""
    if not pem:
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="tfcontroller-ca-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(pem)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
