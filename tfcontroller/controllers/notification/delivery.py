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
  overrides the Secret's `from`); without one, the controller's `--smtp-*` server and its sender — the
  same mailer the drift e-mail uses (controllers/setup.py hands it over), never a second parser of those
  flags; `spec.from` is refused there (api/notification.py): a tenant does not send as anyone it likes
  through the controller's relay.
- ses: the controller's `--ses-region`/`--ses-endpoint-url`, boto3's credential chain and `--ses-from`
  (`spec.from` refused, for the same reason).
A configuration that cannot work (no address, an address that is not an http(s) URL, no SMTP server, no
sender) is a *permanent* result: the provider is reported not Ready naming what to fix, and the entries
wait for that fix instead of being retried in a loop.

Rate limit: one token bucket per provider uid (`spec.rateLimit`, default 20 per minute); a message the
bucket refuses is not attempted and not counted as a failure: the reconcile looks again when a token is
there. A provider that answered a retryable failure (429 with or without `Retry-After`, 5xx, a timeout, a
refused connection) is *held* (`hold`) until its retry time: the bucket gives no token to any rule
before then, so one 429 is not followed by the next nineteen entries at once.

Deadline: each attempt runs in a daemon thread of its own and the caller waits for it at most the
provider's timeout (+ DEADLINE_GRACE): urllib3's and smtplib's timeouts are per socket operation, so a
server that drips a byte at a time would otherwise hold the reconcile for as long as it likes. An attempt
given up is a retryable `Timeout`; its thread finishes (or times out) on its own and its result is
dropped, never recorded: the attempt counted once, as that Timeout. While it still runs, the provider
gets no second attempt (`AttemptRunning`, retryable) — one stuck connection per provider at most.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
import threading
import time
import uuid
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
REASON_TIMEOUT = "Timeout"
REASON_ATTEMPT_RUNNING = "AttemptRunning"
DEADLINE_GRACE = 0.5  # seconds past the provider's timeout before an attempt is given up
_DELIVERY_NS = uuid.UUID("6f1d3c2e-7a4b-4c1e-9b0a-5e2f1d9c8a71")  # uuid5 namespace of delivery ids


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


def delivery_id(rule_uid: str, entry_id: str, provider: str, queued: str) -> str:
    """The `X-Tfcontroller-Delivery` id of one queued message to one provider: the same on every retry of
    it and after a restart (derived, not stored), different for the same fingerprint queued again later
    (`queued`: when the event was queued). Pure."""
    return str(uuid.uuid5(_DELIVERY_NS, "\n".join((rule_uid, entry_id, provider, queued))))


class Deliverer:
    """Sends for every rule of one manager; the buckets are shared, so two rules sending to one provider
    share its limit. Thread-safe (several workers reconcile rules at once)."""

    def __init__(self, mail: MailDefaults | None = None, clock: Callable[[], float] = time.monotonic,
                 grace: float = DEADLINE_GRACE) -> None:
        self.mail = mail or MailDefaults()
        self.clock = clock
        self.grace = grace
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._held: dict[str, float] = {}  # provider uid -> clock() until which it is held
        self._running: dict[str, threading.Event] = {}  # provider uid -> the running attempt's done flag

    def throttle(self, provider: NotificationProvider) -> float:
        """Take a token of `provider`'s bucket: 0.0 to send now, else the seconds until one is there (or
        until the provider's hold ends: no token is taken while it is held)."""
        rate = provider.rate_limit.messages / max(provider.rate_limit.per, 0.001)
        burst = max(1, provider.rate_limit.messages)
        now = self.clock()
        with self._lock:
            held = self._held.get(provider.uid, 0.0) - now
            if held > 0:
                return held
            self._held.pop(provider.uid, None)
            bucket = self._buckets.get(provider.uid)
            if bucket is None or (bucket.rate, bucket.burst) != (rate, burst):
                bucket = TokenBucket.full(now, rate, burst)
            bucket, wait = bucket.take(now)
            self._buckets[provider.uid] = bucket
        return wait

    def hold(self, provider: NotificationProvider, seconds: float) -> None:
        """Give `provider` no token for `seconds` (a Retry-After, a backoff), for every rule. A later hold
        never shortens an earlier one."""
        if seconds <= 0:
            return
        until = self.clock() + seconds
        with self._lock:
            self._held[provider.uid] = max(self._held.get(provider.uid, 0.0), until)

    def attempt_running(self, provider: NotificationProvider) -> bool:
        """An attempt to `provider` has not finished yet (a later `send` answers `AttemptRunning`)."""
        with self._lock:
            running = self._running.get(provider.uid)
            return running is not None and not running.is_set()

    def held_for(self, provider: NotificationProvider) -> float:
        """Seconds until `provider`'s hold ends (0.0: not held)."""
        with self._lock:
            return max(0.0, self._held.get(provider.uid, 0.0) - self.clock())

    def send(self, resolved: ResolvedProvider, event: NotificationEvent, secrets: Sequence[str],
             delivery: str = "") -> DeliveryResult:
        """Deliver `event` once, within the provider's timeout (see "Deadline"); `secrets` are the object's
        secret values (scrubbed from every text, with the provider's own); `delivery` the delivery id.
        Never raises: an unexpected error is a retryable result naming only its type."""
        provider = resolved.provider
        values = [*secrets, *resolved.secret_values]
        box: list[DeliveryResult] = []
        done = threading.Event()
        with self._lock:
            running = self._running.get(provider.uid)
            if running is not None and not running.is_set():
                return DeliveryResult("retryable", REASON_ATTEMPT_RUNNING,
                                      f"an earlier attempt to {provider.name} has not finished yet")
            self._running[provider.uid] = done

        def attempt() -> None:
            try:
                box.append(self._send_now(resolved, event, values, delivery))
            finally:
                done.set()

        threading.Thread(target=attempt, name=f"notify-{provider.name}", daemon=True).start()
        if not done.wait(provider.timeout + self.grace) or not box:
            return DeliveryResult("retryable", REASON_TIMEOUT,
                                  f"{provider.name} did not complete the delivery within {provider.timeout:g}s")
        return box[0]

    def _send_now(self, resolved: ResolvedProvider, event: NotificationEvent, values: list[str],
                  delivery: str) -> DeliveryResult:
        try:
            if resolved.provider.type in HTTP_PROVIDER_TYPES:
                return self._send_http(resolved, event, values, delivery)
            return self._send_mail(resolved, event, values)
        except Exception as exc:  # noqa: BLE001 - a delivery never raises into the reconcile
            text = scrub(f"delivery failed: {type(exc).__name__}: {exc}", values)[:500]
            log.debug("notification delivery raised: %s", text)  # scrubbed: the text may name the URL
            return DeliveryResult("retryable", REASON_DELIVERY_FAILED, text)

    # ---- http ----------------------------------------------------------------------------------
    def _send_http(self, resolved: ResolvedProvider, event: NotificationEvent, values: list[str],
                   delivery: str) -> DeliveryResult:
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
            return dispatch.send(provider.type, event, target, secrets=values, signing_secret=resolved.token or None,
                                 delivery_id=delivery)

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
            sender = self.mail.ses_from or ""  # spec.from is refused for ses (api/notification.py)
            if not sender:
                raise ConfigError("no sender: start the controller with --ses-from")
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
        return transport, sender  # spec.from is refused without a secretRef (api/notification.py)


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
