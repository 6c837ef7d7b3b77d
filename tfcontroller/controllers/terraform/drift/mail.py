"""Drift e-mail for the Terraform controller: `tfcontroller run` flags, the transport they configure, and
the per-reconcile step that sends what notify.outbox decides.

Why here and not in notify: this is the wiring (a Secret read through the kube client, the Terraform
object's status and spec); notify stays a library of pure decisions, message building and transports.

Never blocking reconciling: `DriftNotifier.process` catches every failure (unreachable server, refused
credentials, a missing SMTP Secret) into `status.drift.pendingNotification` with a backoff, and tells
the caller when to look again; the reconcile itself goes on. The SMTP Secret and password file are read
at each delivery, so rotated credentials apply without a restart and a missing Secret is retried.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tfcontroller.api.policy_verdict import policy_of, policy_report_lines, verdict
from tfcontroller.api.terraform import Terraform
from tfcontroller.api.terraform_status import TerraformStatus
from tfcontroller.controllers.terraform.drift.schedule import check_interval
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, NotFound
from tfcontroller.kube.resources import SECRETS
from tfcontroller.notify import outbox
from tfcontroller.notify.config import TLS_MODES, SESConfig, SMTPConfig
from tfcontroller.notify.errors import ConfigError, DeliveryError
from tfcontroller.notify.report import DriftTarget, build_drift_email, build_resolved_email
from tfcontroller.notify.ses import SESTransport
from tfcontroller.notify.smtp import SMTPTransport
from tfcontroller.notify.transport import Transport
from tfcontroller.runtime.reconciler import Notice
from tfcontroller.terraform.drift import DriftedResource, DriftReport

log = logging.getLogger(__name__)

NOTIFICATION_FAILED = "DriftNotificationFailed"
NOTIFICATION_SENT = "DriftNotificationSent"
_REPORT_CACHE = 1024

# The `tfcontroller run` flags this module owns (their parsed values arrive in ControllerOptions.extra).
FLAG_DESTS = (
    "email_transport", "smtp_secret", "smtp_host", "smtp_port", "smtp_username", "smtp_password_file",
    "smtp_from", "smtp_tls", "smtp_ca_file", "drift_email_default_to", "ses_region", "ses_endpoint_url",
    "ses_from",
)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Drift e-mail flags of `tfcontroller run`."""
    g = parser.add_argument_group("drift e-mail")
    g.add_argument("--email-transport", choices=["smtp", "ses"], default="smtp",
                   help="how drift reports are sent (default smtp)")
    g.add_argument("--smtp-secret", metavar="NAMESPACE/NAME",
                   help="Secret with keys host, port, username, password, from, tls (none|starttls|tls)")
    g.add_argument("--smtp-host", help="SMTP server (instead of --smtp-secret)")
    g.add_argument("--smtp-port", type=int, help="SMTP port (default: 25, 587 or 465 by --smtp-tls)")
    g.add_argument("--smtp-username", default="", help="SMTP user name")
    g.add_argument("--smtp-password-file", help="file holding the SMTP password (re-read at each delivery)")
    g.add_argument("--smtp-from", help="sender address")
    g.add_argument("--smtp-tls", choices=list(TLS_MODES), default="starttls", help="default starttls")
    g.add_argument("--smtp-ca-file", help="extra CA bundle to trust for the SMTP server's certificate")
    g.add_argument("--drift-email-default-to", action="append", default=[], metavar="ADDR",
                   help="recipients for objects naming none (repeatable or comma-separated)")
    g.add_argument("--ses-region", help="SES region (default: boto3's)")
    g.add_argument("--ses-endpoint-url", help="SES endpoint (an emulator, e.g. LocalStack)")
    g.add_argument("--ses-from", help="sender address for SES")


def split_addresses(values: Sequence[str] | str | None) -> tuple[str, ...]:
    """'a@x,b@y' and repeated flags into one ordered, de-duplicated tuple."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        out += [a.strip() for a in str(value).split(",") if a.strip()]
    for addr in out:
        if "@" not in addr:
            raise ConfigError(f"--drift-email-default-to: {addr!r} is not an e-mail address")
    return tuple(dict.fromkeys(out))


class Mailer(Protocol):
    """Resolves the transport and sender for one delivery (configuration may be read at send time)."""

    def resolve(self) -> tuple[Transport, str]: ...

    def describe(self) -> str: ...


@dataclass
class FixedMailer:
    """A transport configured once (flags with an inline password, SES, or tests)."""

    transport: Transport
    from_addr: str

    def resolve(self) -> tuple[Transport, str]:
        return self.transport, self.from_addr

    def describe(self) -> str:
        return repr(self.transport)


@dataclass
class SMTPFlagsMailer:
    """SMTP from flags; the password file is read at each delivery."""

    host: str
    from_addr: str
    port: int | None = None
    username: str = ""
    password_file: str | None = None
    tls: str = "starttls"
    ca_file: str | None = None

    def config(self) -> SMTPConfig:
        password = ""
        if self.password_file:
            try:
                password = Path(self.password_file).read_text().strip()
            except OSError as exc:
                raise DeliveryError("ConfigMissing", f"cannot read the SMTP password file {self.password_file}: "
                                    f"{exc.strerror or type(exc).__name__}", transient=True) from None
        try:
            return SMTPConfig.from_flags(host=self.host, port=self.port, username=self.username, password=password,
                                         from_addr=self.from_addr, tls=self.tls, ca_file=self.ca_file)
        except ConfigError as exc:
            raise DeliveryError("ConfigInvalid", str(exc), transient=True) from None

    def resolve(self) -> tuple[Transport, str]:
        cfg = self.config()
        return SMTPTransport(cfg), cfg.from_addr

    def describe(self) -> str:
        return f"smtp://{self.host}:{self.port or ''} (tls={self.tls})"


@dataclass
class SMTPSecretMailer:
    """SMTP from a Secret, read at each delivery (rotation applies at once; a missing Secret is retried)."""

    kube: KubeClient
    namespace: str
    name: str
    ca_file: str | None = None

    def config(self) -> SMTPConfig:
        where = f"Secret {self.namespace}/{self.name}"
        try:
            secret = self.kube.get(SECRETS, self.name, self.namespace)
        except NotFound:
            raise DeliveryError("ConfigMissing", f"SMTP {where} not found", transient=True) from None
        except ApiError as exc:
            raise DeliveryError("ConfigMissing", f"cannot read SMTP {where}: {exc.reason}", transient=True) from None
        try:
            return SMTPConfig.from_secret_data(secret.get("data") or {}, encoded=True, ca_file=self.ca_file)
        except ConfigError as exc:  # messages name keys, never values
            raise DeliveryError("ConfigInvalid", f"SMTP {where}: {exc}", transient=True) from None

    def resolve(self) -> tuple[Transport, str]:
        cfg = self.config()
        return SMTPTransport(cfg), cfg.from_addr

    def describe(self) -> str:
        return f"smtp from Secret {self.namespace}/{self.name}"


def mailer_from_options(extra: Mapping[str, Any], kube: KubeClient | None) -> Mailer | None:
    """The configured mailer, or None when no e-mail is configured. Raises ConfigError on bad flags."""
    transport = extra.get("email_transport") or "smtp"
    if transport == "ses":
        sender = extra.get("ses_from") or extra.get("smtp_from")
        if not sender:
            raise ConfigError("--email-transport ses needs --ses-from")
        cfg = SESConfig(from_addr=sender, region=extra.get("ses_region") or None,
                        endpoint_url=extra.get("ses_endpoint_url") or None)
        return FixedMailer(SESTransport(cfg), cfg.from_addr)
    if transport != "smtp":
        raise ConfigError(f"--email-transport must be smtp or ses, not {transport!r}")
    secret = extra.get("smtp_secret")
    host = extra.get("smtp_host")
    if secret and host:
        raise ConfigError("give either --smtp-secret or --smtp-host, not both")
    if secret:
        namespace, sep, name = str(secret).partition("/")
        if not sep or not namespace or not name or "/" in name:
            raise ConfigError(f"--smtp-secret must be NAMESPACE/NAME, not {secret!r}")
        if kube is None:
            raise ConfigError("--smtp-secret needs a Kubernetes client")
        return SMTPSecretMailer(kube, namespace, name, ca_file=extra.get("smtp_ca_file") or None)
    if host:
        if not extra.get("smtp_from"):
            raise ConfigError("--smtp-host needs --smtp-from")
        mailer = SMTPFlagsMailer(
            host=str(host), from_addr=str(extra["smtp_from"]), port=extra.get("smtp_port") or None,
            username=extra.get("smtp_username") or "", password_file=extra.get("smtp_password_file") or None,
            tls=extra.get("smtp_tls") or "starttls", ca_file=extra.get("smtp_ca_file") or None,
        )
        SMTPConfig.from_flags(host=mailer.host, port=mailer.port, username=mailer.username,
                              password="x" if mailer.password_file else "", from_addr=mailer.from_addr,
                              tls=mailer.tls)  # validate the flags now; the password is read per delivery
        return mailer
    return None


@dataclass(frozen=True)
class _StoredReport(DriftReport):
    """A report rebuilt from status (addresses only), for a retry after a restart lost the full one. It
    keeps the fingerprint status recorded: the attribute paths it was computed over are not in status."""

    stored_fingerprint: str = ""

    @property
    def fingerprint(self) -> str:
        return self.stored_fingerprint


@dataclass
class NotifyOutcome:
    """What `process` did: mails attempted, Events worth recording, and when to look again."""

    sent: list[outbox.Notification] = field(default_factory=list)
    failed: list[outbox.Notification] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    retry_at: dt.datetime | None = None

    def requeue_after(self, now: dt.datetime) -> float | None:
        return None if self.retry_at is None else max(1.0, (self.retry_at - now).total_seconds())


class DriftNotifier:
    """Sends drift reports and "resolved" mails for Terraform objects, deduplicated through status."""

    def __init__(self, mailer: Mailer | None, default_to: Sequence[str] = (),
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.mailer = mailer
        self.default_to = tuple(default_to)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._reports: OrderedDict[str, DriftReport] = OrderedDict()
        self._lock = threading.Lock()

    def recipients(self, tf: Terraform) -> tuple[str, ...]:
        dd = tf.spec.drift_detection
        return (dd.email_to if dd is not None and dd.email_to else ()) or self.default_to

    def process(self, obj: dict[str, Any], tf: Terraform, report: DriftReport | None,
                now: dt.datetime | None = None) -> NotifyOutcome:
        """Send what is due for `obj` and record it in `obj['status']['drift']` (in place).

        Call with the `report` of a drift check that just ran (after `record_check`), or None on any
        other reconcile (retries of a pending mail, the "resolved" mail after a remediating apply).
        """
        now = now or self.clock()
        status = obj.setdefault("status", {})
        drift = dict(status.get("drift") or {})
        to = self.recipients(tf)
        if self.mailer is None or not to:
            if drift.get("pendingNotification"):
                drift.pop("pendingNotification")
                status["drift"] = drift
            return NotifyOutcome()
        if report is not None and report.drifted:
            self.remember(obj, report)
        outcome = NotifyOutcome()

        def send(n: outbox.Notification) -> None:
            transport, from_addr = self.mailer.resolve()  # type: ignore[union-attr]
            msg = self._build(obj, tf, n, to, from_addr, now)
            transport.send(msg, to)

        decision = outbox.deliver(drift, report, now, send, outbox.retry_cap(check_interval(tf)))
        failed = bool((decision.status_patch.get("pendingNotification") or {}).get("lastError"))
        for n in decision.notifications:  # outbox decides at most one per call
            (outcome.failed if failed else outcome.sent).append(n)
        new_drift = outbox.apply_patch(drift, decision.status_patch)
        if new_drift != drift:
            status["drift"] = new_drift
        outcome.retry_at = decision.retry_at
        ref = f"{obj['metadata'].get('namespace')}/{obj['metadata'].get('name')}"
        for n in outcome.sent:
            log.info("drift notification sent kind=%s recipients=%d attempt=%d", n.kind, len(to), n.attempt,
                     extra={"obj": ref})
            outcome.notices.append(Notice("Normal", NOTIFICATION_SENT,
                                          f"{n.kind} report sent to {', '.join(to)}"))
        for n in outcome.failed:
            pending = new_drift.get("pendingNotification") or {}
            log.warning("drift notification failed kind=%s attempt=%d next=%s error=%s", n.kind, n.attempt,
                        pending.get("nextAttemptAt"), pending.get("lastError"), extra={"obj": ref})
            if n.attempt == 1:  # one Event per notification; later attempts only update status
                outcome.notices.append(Notice("Warning", NOTIFICATION_FAILED,
                                              f"{n.kind} report not sent, will retry: {pending.get('lastError')}"))
        return outcome

    def _build(self, obj: dict[str, Any], tf: Terraform, n: outbox.Notification, to: Sequence[str],
               from_addr: str, now: dt.datetime) -> Any:
        meta = obj["metadata"]
        last = TerraformStatus.of(obj.get("status"))
        revision = last.last_applied_revision
        if n.kind == "resolved":
            return build_resolved_email(meta["namespace"], meta["name"], n.resources, to=to, from_addr=from_addr,
                                        fingerprint=n.fingerprint, revision=revision, now=now)
        plan_id = last.pending.id if last.pending.is_drift else ""
        if not plan_id and tf.spec.auto_approve:  # remediated in this reconcile: name the plan applied
            plan_id = last.last_applied_plan
        recorded = policy_of(obj.get("status")) if plan_id == last.pending.id else None
        blocked = verdict(recorded, plan_id) if recorded is not None else None
        target = DriftTarget(meta["namespace"], meta["name"], revision=revision, plan_id=plan_id or None,
                             auto_remediate=tf.spec.auto_approve, policy=tuple(policy_report_lines(recorded)),
                             policy_block=blocked.message if blocked is not None and blocked.blocked else "")
        return build_drift_email(self._report_for(_key(obj), n), target, to=to, from_addr=from_addr, now=now)

    def _report_for(self, key: str, n: outbox.Notification) -> DriftReport:
        with self._lock:
            report = self._reports.get(key)
        if report is not None and report.fingerprint == n.fingerprint:
            return report
        return _StoredReport([DriftedResource(a, "changed") for a in n.resources], n.fingerprint)

    def remember(self, obj: Mapping[str, Any], report: DriftReport) -> None:
        """Keep the full report of a check for the mail about it (status holds only addresses)."""
        key = _key(obj)
        with self._lock:
            self._reports[key] = report
            self._reports.move_to_end(key)
            while len(self._reports) > _REPORT_CACHE:
                self._reports.popitem(last=False)


def notifier_from_options(extra: Mapping[str, Any], kube: KubeClient | None) -> DriftNotifier:
    """A DriftNotifier from `tfcontroller run` flags (mail disabled when none are given)."""
    mailer = mailer_from_options(extra, kube)
    default_to = split_addresses(extra.get("drift_email_default_to"))
    if mailer is None:
        log.info("drift e-mail disabled (no --smtp-secret, --smtp-host or --email-transport ses)")
    else:
        log.info("drift e-mail via %s, default recipients: %d", mailer.describe(), len(default_to))
    return DriftNotifier(mailer, default_to)


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")
