"""Drift e-mail wiring of the Terraform controller (tfcontroller.controllers.terraform.drift.mail and
drift/hooks.py): `tfcontroller run` flags parsed by the real CLI parser into a mailer, flag errors,
DriftNotifier orchestration (report once, resolved once, retries with backoff, a report rebuilt from status
after a restart, no recipients → no mail), the SMTP Secret read at delivery time from the dev cluster with a
real STARTTLS+AUTH server, and the requeue hint for the next check or mail retry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.smtp import SMTPServer
from tests.support.drift import applied_status, make_obj, report, tf_of
from tests.support.sample_plan import SECRETS, drift_plan
from tfcontroller.api.times import format_rfc3339
from tfcontroller.cli.main import build_parser
from tfcontroller.cli.run_cmd import options_from_args
from tfcontroller.controllers.terraform.drift import schedule as td
from tfcontroller.controllers.terraform.drift.hooks import DriftHooks
from tfcontroller.controllers.terraform.drift.mail import (
    DriftNotifier,
    FixedMailer,
    SMTPFlagsMailer,
    SMTPSecretMailer,
    mailer_from_options,
    notifier_from_options,
    split_addresses,
)
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.notify.errors import ConfigError, DeliveryError
from tfcontroller.notify.ses import SESTransport
from tfcontroller.runtime.result import Result
from tfcontroller.terraform.drift import DriftReport, analyze

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def run_extra(*argv: str) -> dict[str, Any]:
    args = build_parser().parse_args(["run", *argv])
    return options_from_args(args).terraform.drift_mail.as_mapping()


class Outbox:
    """A Transport that keeps messages, or fails while `down` (a stand-in server for pure orchestration)."""

    def __init__(self) -> None:
        self.sent: list[tuple[EmailMessage, list[str]]] = []
        self.down = False

    def send(self, msg: EmailMessage, to: Sequence[str]) -> None:
        if self.down:
            raise DeliveryError("ConnectionFailed", "could not talk to relay:25: refused", transient=True)
        self.sent.append((msg, list(to)))


def test_run_flags_configure_smtp_from_flags(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    extra = run_extra("--smtp-host", "mail.example.org", "--smtp-port", "2525", "--smtp-username", "bot",
                      "--smtp-password-file", str(pw), "--smtp-from", "tf@example.org", "--smtp-tls", "tls",
                      "--drift-email-default-to", "a@example.org,b@example.org",
                      "--drift-email-default-to", "c@example.org", "--drift-email-default-to", "a@example.org")
    notifier = notifier_from_options(extra, None)
    assert notifier.default_to == ("a@example.org", "b@example.org", "c@example.org")
    mailer = notifier.mailer
    assert isinstance(mailer, SMTPFlagsMailer)
    cfg = mailer.config()
    assert (cfg.host, cfg.port, cfg.username, cfg.password, cfg.tls, cfg.from_addr) == (
        "mail.example.org", 2525, "bot", "s3cret", "tls", "tf@example.org")
    assert "s3cret" not in repr(cfg) and "s3cret" not in mailer.describe()
    pw.unlink()  # read at delivery: a missing file is a retried delivery failure, not a crash
    with pytest.raises(DeliveryError) as err:
        mailer.resolve()
    assert err.value.reason == "ConfigMissing"


def test_run_flags_configure_secret_and_ses() -> None:
    extra = run_extra("--smtp-secret", "mail/smtp-relay")
    mailer = mailer_from_options(extra, kube=object())  # type: ignore[arg-type]
    assert isinstance(mailer, SMTPSecretMailer) and (mailer.namespace, mailer.name) == ("mail", "smtp-relay")
    extra = run_extra("--email-transport", "ses", "--ses-from", "tf@example.org", "--ses-region", "eu-west-1",
                      "--ses-endpoint-url", "http://127.0.0.1:4566")
    ses = mailer_from_options(extra, None)
    assert isinstance(ses, FixedMailer) and isinstance(ses.transport, SESTransport)
    assert (ses.transport.config.region, ses.transport.config.endpoint_url) == ("eu-west-1", "http://127.0.0.1:4566")
    assert notifier_from_options(run_extra(), None).mailer is None  # nothing configured: no mail


@pytest.mark.parametrize("argv,message", [
    (["--smtp-secret", "only-a-name"], "NAMESPACE/NAME"),
    (["--smtp-secret", "a/b", "--smtp-host", "h"], "not both"),
    (["--smtp-host", "h"], "--smtp-from"),
    (["--smtp-host", "h", "--smtp-from", "nobody"], "not an e-mail address"),
    (["--email-transport", "ses"], "--ses-from"),
    (["--smtp-host", "h", "--smtp-from", "a@b", "--drift-email-default-to", "x"], "not an e-mail address"),
])
def test_bad_flags_are_config_errors(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        notifier_from_options(run_extra(*argv), kube=object())  # type: ignore[arg-type]


def test_split_addresses() -> None:
    assert split_addresses(None) == ()
    assert split_addresses(" a@x , b@y,,a@x") == ("a@x", "b@y")


def checked(obj: dict[str, Any], rep: DriftReport, now: dt.datetime) -> None:
    td.record_check(obj, tf_of(obj), rep, now)


def test_notifier_reports_once_retries_with_backoff_and_resolves_once() -> None:
    box = Outbox()
    notifier = DriftNotifier(FixedMailer(box, "tf@example.org"), ["ops@example.org"])
    obj = make_obj(status=applied_status())
    obj["status"]["plan"] = {"pending": "plan-main-0123456789-abcdef01", "isDrift": True}
    rep = analyze(drift_plan())
    checked(obj, rep, NOW)
    notifier.remember(obj, rep)

    box.down = True
    out = notifier.process(obj, tf_of(obj), None, NOW)
    pending = obj["status"]["drift"]["pendingNotification"]
    assert out.failed and not out.sent and pending["attempts"] == 1
    assert out.retry_at == NOW + dt.timedelta(seconds=30)
    assert [n.reason for n in out.notices] == ["DriftNotificationFailed"]
    assert notifier.process(obj, tf_of(obj), None, NOW + dt.timedelta(seconds=10)).sent == []  # not due yet
    assert box.sent == []

    box.down = False
    out = notifier.process(obj, tf_of(obj), None, NOW + dt.timedelta(seconds=31))
    assert len(out.sent) == 1 and len(box.sent) == 1
    msg, to = box.sent[0]
    assert to == ["ops@example.org"]
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "plan-main-0123456789-abcdef01" in text and 'tags.env: "prod" -> "dev"' in text
    assert all(s not in msg.as_string() for s in SECRETS)
    drift = obj["status"]["drift"]
    assert drift["notifiedFingerprint"] == rep.fingerprint and "pendingNotification" not in drift

    # the same drift again, and a restarted notifier: nothing new
    checked(obj, analyze(drift_plan()), NOW + dt.timedelta(minutes=10))
    assert DriftNotifier(FixedMailer(box, "tf@example.org"), ["ops@example.org"]).process(
        obj, tf_of(obj), None, NOW + dt.timedelta(minutes=10)).sent == []
    # drift gone: one resolved mail listing what was reported
    checked(obj, DriftReport([]), NOW + dt.timedelta(minutes=20))
    notifier.process(obj, tf_of(obj), None, NOW + dt.timedelta(minutes=20))
    notifier.process(obj, tf_of(obj), None, NOW + dt.timedelta(minutes=21))
    assert len(box.sent) == 2
    resolved = box.sent[1][0]
    assert resolved["Subject"].startswith("[drift resolved] ns/demo: 3 resources")
    assert "aws_s3_bucket.demo" in resolved.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_the_mail_carries_the_remediation_plans_policy_check() -> None:
    """Issue 18: the policy results and exceptions of the remediation plan; a plan the policies deny is
    said to be blocked instead of offered for approval."""
    plan_id = "plan-main-0123456789-abcdef01"
    for result, rows, blocked in (
            ("denied", [{"policy": "ns/protect", "result": "denied", "messages": ["aws_s3_bucket.demo replaced"]}],
             True),
            ("warned", [{"policy": "ns/protect", "result": "waived", "messages": ["aws_s3_bucket.demo replaced"],
                         "exception": "ok-once"}], False)):
        box = Outbox()
        notifier = DriftNotifier(FixedMailer(box, "tf@example.org"), ["ops@example.org"])
        obj = make_obj(status=applied_status())
        obj["status"]["plan"] = {"pending": plan_id, "isDrift": True,
                                 "policy": {"result": result, "results": rows}}
        rep = analyze(drift_plan())
        checked(obj, rep, NOW)
        notifier.remember(obj, rep)
        assert len(notifier.process(obj, tf_of(obj), None, NOW).sent) == 1
        text = box.sent[0][0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert f"Policy check: {result}" in text and "    - aws_s3_bucket.demo replaced" in text
        assert ("is denied by policy" in text) is blocked
        assert ("kubectl annotate" in text) is not blocked
        if not blocked:
            assert "waived: ns/protect (PolicyException ok-once)" in text


def test_restart_with_a_pending_report_sends_the_addresses_from_status() -> None:
    box = Outbox()
    obj = make_obj(spec={"driftDetection": {"email": {"to": ["team@example.org"]}}}, status=applied_status())
    checked(obj, report("aws_sqs_queue.q"), NOW)
    box.down = True
    DriftNotifier(FixedMailer(box, "tf@example.org")).process(obj, tf_of(obj), None, NOW)
    box.down = False
    fresh = DriftNotifier(FixedMailer(box, "tf@example.org"), ["default@example.org"])  # knows no report
    fresh.process(obj, tf_of(obj), None, NOW + dt.timedelta(minutes=1))
    [(msg, to)] = box.sent
    assert to == ["team@example.org"]  # the object's own recipients win over the default
    assert "aws_sqs_queue.q: changed outside Terraform" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_no_recipients_or_no_mailer_sends_nothing_and_keeps_nothing_pending() -> None:
    obj = make_obj(status=applied_status())
    checked(obj, report("aws_sqs_queue.q"), NOW)
    obj["status"]["drift"]["pendingNotification"] = {"kind": "drift", "fingerprint": "x", "attempts": 2}
    box = Outbox()
    assert DriftNotifier(FixedMailer(box, "tf@example.org")).process(obj, tf_of(obj), None, NOW).sent == []
    assert "pendingNotification" not in obj["status"]["drift"] and box.sent == []
    assert DriftNotifier(None, ["a@example.org"]).process(obj, tf_of(obj), None, NOW).sent == []


def test_requeue_hint_is_the_next_check_or_the_mail_retry() -> None:
    box = Outbox()
    hooks = DriftHooks(DriftNotifier(FixedMailer(box, "tf@example.org"), ["a@example.org"]), clock=lambda: NOW)
    obj = make_obj(status=applied_status(NOW))  # interval 10m, checked now
    tf = tf_of(obj)
    res = hooks.requeue(Result(requeue_after=3600.0), obj, tf)
    assert res.requeue_after is not None and 540 <= res.requeue_after <= 660
    assert hooks.requeue(Result(requeue_after=60.0), obj, tf).requeue_after == 60.0  # sooner stays
    failed = Result(error=RuntimeError("x"))
    assert hooks.requeue(failed, obj, tf) is failed
    obj["status"]["drift"]["pendingNotification"] = {"kind": "drift", "fingerprint": "f", "attempts": 1,
                                                    "nextAttemptAt": format_rfc3339(NOW + dt.timedelta(seconds=45))}
    assert hooks.requeue(Result(requeue_after=3600.0), obj, tf).requeue_after == 45.0
    # due now but not done (another plan is pending): no hot loop, the caller's interval stands
    late = DriftHooks(DriftNotifier(None), clock=lambda: NOW + dt.timedelta(hours=2))
    assert late.requeue(Result(requeue_after=300.0), obj, tf).requeue_after == 300.0


def test_smtp_secret_is_read_at_delivery(dev_cluster: DevCluster, smtp_tls_server: SMTPServer) -> None:
    server = smtp_tls_server
    kube = KubeClient.load(dev_cluster.kubeconfig)
    try:
        notifier = notifier_from_options(run_extra("--smtp-secret", "default/smtp", "--smtp-ca-file",
                                                   str(server.ca_file), "--drift-email-default-to", "ops@example.org"),
                                         kube)
        obj = make_obj(status=applied_status())
        checked(obj, analyze(drift_plan()), NOW)
        out = notifier.process(obj, tf_of(obj), None, NOW)  # no Secret yet: pending, retried later
        pending = obj["status"]["drift"]["pendingNotification"]
        assert out.failed and "ConfigMissing" in pending["lastError"] and "default/smtp" in pending["lastError"]

        def put_secret(password: str) -> None:
            data = {"host": server.host, "port": str(server.port), "tls": "starttls", "username": server.username,
                    "password": password, "from": "tf@example.org"}
            kube.upsert_secret("default", "smtp", {k: v.encode() for k, v in data.items()})

        put_secret("wrong-Pa55")
        notifier.process(obj, tf_of(obj), None, NOW + dt.timedelta(minutes=1))
        pending = obj["status"]["drift"]["pendingNotification"]
        assert pending["attempts"] == 2 and pending["lastError"].startswith("AuthFailed")
        assert "wrong-Pa55" not in str(obj["status"])

        put_secret(server.password)  # rotated: used at the next attempt, no restart
        out = notifier.process(obj, tf_of(obj), None, NOW + dt.timedelta(minutes=5))
        assert out.sent
        [mail] = server.wait_for(1)
        assert mail.rcpt_tos == ["ops@example.org"]
        assert mail.message["Subject"] == "[drift] ns/demo: 3 resources changed outside Terraform"
        assert all(s.encode() not in mail.raw for s in SECRETS)
    finally:
        kube.close()


@pytest.mark.parametrize(("drift_interval", "want_waits"), [
    ("10s", [10, 10, 10, 10]),
    ("90s", [30, 60, 90, 90]),
    (None, [30, 60, 120, 240]),  # spec.interval 10m is the check interval: below the cap all along
])
def test_a_pending_report_is_retried_within_the_objects_drift_interval(
        drift_interval: str | None, want_waits: list[int]) -> None:
    """Issue 21 (chaos.py smtp-down): the notifier caps the mail retry backoff at the object's drift check
    interval, so a mail server back from an outage gets the report within one interval."""
    box = Outbox()
    box.down = True
    notifier = DriftNotifier(FixedMailer(box, "tf@example.org"), ["ops@example.org"])
    spec = {"driftDetection": {"interval": drift_interval}} if drift_interval else {}
    obj = make_obj(spec=spec, status=applied_status())
    rep = analyze(drift_plan())
    checked(obj, rep, NOW)
    now, waits = NOW, []
    for _ in want_waits:
        out = notifier.process(obj, tf_of(obj), None, now)
        assert out.failed and out.retry_at is not None
        waits.append(int((out.retry_at - now).total_seconds()))
        now = out.retry_at
    assert waits == want_waits
    box.down = False
    assert len(notifier.process(obj, tf_of(obj), None, now).sent) == 1 and len(box.sent) == 1
