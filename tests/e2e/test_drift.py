"""Drift detection and drift e-mail end to end: the Terraform reconciler (in-process, dev cluster) applies a
one-bucket module with real terraform and the aws provider against the AWS emulator; the tests change the
bucket's tags with boto3 and follow what the controller does.

- manual mode, SMTP (STARTTLS + AUTH, configured by `--smtp-secret`) down when drift appears: the check
  records the drift (status, Drifted, DriftDetected Event without values), leaves an approvable plan with
  isDrift, keeps the report pending; SMTP back up → the report arrives exactly once (subject, recipients,
  resources, plan id, no sensitive value), also after a controller restart; approving the plan restores the
  tags and sends one "resolved" mail.
- manual mode, drift reverted by hand: the next check clears the drift, drops the stale remediation plan
  and sends one "resolved" mail.
- auto mode over SES (the emulator's SES): the drift check applies the remediation at once, tags are back,
  a report saying so and a "resolved" mail are sent.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.aws import AwsEmulator
from tests.fixtures.smtp import SMTPServer
from tests.support.terraform_helpers import NS, Harness, condition, wait_for
from tfcontroller.api import conditions as c
from tfcontroller.controllers.terraform import TerraformReconciler
from tfcontroller.controllers.terraform.drift.mail import (
    DriftNotifier,
    add_run_arguments,
    notifier_from_options,
)
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import SECRETS

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.runner_modes]  # drift: in every runner mode

SECRET_TAG = "owner-token-7f3a9c"  # reaches the module through a Secret, marked sensitive
MODULE = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.100" }
  }
}

variable "bucket" {
  type = string
}

variable "owner_token" {
  type      = string
  sensitive = true
}

resource "aws_s3_bucket" "this" {
  bucket        = var.bucket
  force_destroy = true
  tags = {
    env   = "prod"
    team  = "platform"
    owner = var.owner_token
  }
}
"""
WANT_TAGS = {"env": "prod", "team": "platform", "owner": SECRET_TAG}


def b64(values: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}


def run_flags(*argv: str) -> dict[str, Any]:
    """Parse `tfcontroller run` drift e-mail flags the way the CLI does."""
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return vars(parser.parse_args(list(argv)))


class DriftEnv:
    """A harness with one applied bucket, and helpers to drift it and read mail."""

    def __init__(self, harness: Harness, aws: AwsEmulator, remote: Any, name: str) -> None:
        self.h = harness
        self.aws = aws
        self.name = name
        self.bucket = f"drift-{uuid.uuid4().hex[:10]}"
        self.s3 = aws.boto3_client("s3")
        commit = remote.commit({"tf/main.tf": MODULE})
        harness.publish("src", remote.bare, commit)
        harness.kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret",
                                      "metadata": {"name": f"{name}-vars", "namespace": NS},
                                      "data": b64({"owner_token": SECRET_TAG})})

    def create(self, approve: str, email_to: list[str] | None = None) -> dict[str, Any]:
        drift: dict[str, Any] = {"interval": "1s"}
        if email_to:
            drift["email"] = {"to": email_to}
        return self.h.create(
            self.name, path="./tf", approvePlan=approve, driftDetection=drift,
            vars=[{"name": "bucket", "value": self.bucket}],
            varsFrom=[{"kind": "Secret", "name": f"{self.name}-vars"}],
            env=[{"name": k, "value": v} for k, v in sorted(self.aws.env.items())],
        )

    def tags(self) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.s3.get_bucket_tagging(Bucket=self.bucket)["TagSet"]}

    def set_tags(self, tags: dict[str, str]) -> None:
        self.s3.put_bucket_tagging(Bucket=self.bucket,
                                   Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})

    def drift_tags(self) -> None:
        self.set_tags({**WANT_TAGS, "env": "hacked-by-hand"})

    def reconcile_until(self, what: str, predicate: Any, timeout: float = 120.0) -> dict[str, Any]:
        return self.h.reconcile_until(self.name, predicate, timeout=timeout, what=what)

    def approve_pending(self, obj: dict[str, Any]) -> None:
        self.h.annotate(self.name, "tfcontroller.io/approve-plan", obj["status"]["plan"]["pending"])

    def apply_manually(self) -> dict[str, Any]:
        obj = self.reconcile_until("the first plan", lambda o: (o.get("status", {}).get("plan") or {}).get("pending"))
        self.approve_pending(obj)
        obj = self.reconcile_until("the first apply", lambda o: o.get("status", {}).get("lastAppliedPlan"))
        assert self.tags() == WANT_TAGS
        return obj

    def drifted(self, obj: dict[str, Any]) -> bool:
        cond = condition(obj, c.DRIFTED)
        return cond is not None and cond.status == c.TRUE

    def events(self, reason: str) -> list[dict[str, Any]]:
        return [e for e in self.h.events(self.name) if e.get("reason") == reason]


@pytest.fixture
def drift_env(kube: KubeClient, dev_cluster: DevCluster, aws_emulator: AwsEmulator,
              git_file_remote: Any, runner_mode: str) -> Iterator[DriftEnv]:
    # A short work directory: providers listen on a unix socket under the run's TMPDIR, and socket paths
    # are limited to 108 bytes (pytest's tmp_path is too deep for that).
    short = Path(tempfile.mkdtemp(prefix="tfd-", dir="/tmp"))
    harness = Harness(kube, dev_cluster.kubeconfig, short, runner_mode=runner_mode)
    env = DriftEnv(harness, aws_emulator, git_file_remote("infra"), "bucket")
    try:
        yield env
    finally:
        try:
            env.s3.delete_bucket(Bucket=env.bucket)
        except Exception:  # noqa: BLE001 - best effort: the bucket may never have been created
            pass
        shutil.rmtree(short, ignore_errors=True)


def five_minutes_later() -> dt.datetime:
    """The controller's clock moved past the mail retry backoff (30 s after the first failure)."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)


def body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def all_text(msg: EmailMessage) -> str:
    return "\n".join(str(p.get_content()) for p in msg.walk() if p.get_content_maintype() == "text")


def test_manual_drift_mail_waits_for_smtp_survives_restart_and_resolves_on_approval(
    drift_env: DriftEnv, smtp_tls_server: SMTPServer
) -> None:
    env, h = drift_env, drift_env.h
    server = smtp_tls_server
    h.kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "smtp", "namespace": NS},
                            "data": b64({"host": server.host, "port": str(server.port), "tls": "starttls",
                                         "username": server.username, "password": server.password,
                                         "from": "tfcontroller@example.org"})})
    flags = run_flags("--smtp-secret", f"{NS}/smtp", "--smtp-ca-file", str(server.ca_file),
                      "--drift-email-default-to", "ops@example.org,oncall@example.org")
    h.reconciler = TerraformReconciler(h.kube, replace(h.options, drift_notifier=notifier_from_options(flags, h.kube)))

    env.create(approve="")
    env.apply_manually()
    server.stop()
    env.drift_tags()

    obj = env.reconcile_until("drift detected", env.drifted)
    status = obj["status"]
    drift = status["drift"]
    assert drift["resources"] == ["aws_s3_bucket.this"] and drift["fingerprint"].startswith("sha256:")
    assert status["plan"]["isDrift"] is True and status["plan"]["pending"]
    plan_id = status["plan"]["pending"]
    pending = drift["pendingNotification"]
    assert pending["kind"] == "drift" and pending["attempts"] >= 1 and "ConnectionFailed" in pending["lastError"]
    assert "notifiedFingerprint" not in drift
    assert condition(obj, c.DRIFTED).message == "1 resource changed outside Terraform: aws_s3_bucket.this"
    ready = condition(obj, c.READY)
    assert ready is not None and ready.reason == "PlanPending"  # the mail failure did not fail the reconcile
    [event] = env.events("DriftDetected")
    assert event["type"] == "Warning" and "aws_s3_bucket.this (update: " in event["message"]
    assert "tags.env" in event["message"]
    for text in (str(status), event["message"]):
        assert "hacked-by-hand" not in text and SECRET_TAG not in text
    assert env.events("DriftNotificationFailed")
    assert server.messages == []

    # SMTP is back; the retry is due after its backoff (the controller's clock is moved past it).
    server.start()
    h.reconciler.drift.clock = five_minutes_later
    obj = env.reconcile_until("the report delivered",
                              lambda o: o["status"]["drift"].get("notifiedFingerprint") == drift["fingerprint"])
    assert "pendingNotification" not in obj["status"]["drift"]
    [mail] = server.wait_for(1)
    msg = mail.message
    assert msg["Subject"] == f"[drift] {NS}/bucket: 1 resource changed outside Terraform"
    assert sorted(mail.rcpt_tos) == ["oncall@example.org", "ops@example.org"]
    assert msg["List-Id"] and msg["Message-ID"] and msg["Date"]
    text = body(msg)
    assert "aws_s3_bucket.this: update outside Terraform" in text
    assert 'tags.env: "prod" -> "hacked-by-hand"' in text
    assert plan_id in text and f"tfcontroller.io/approve-plan={plan_id}" in text
    assert SECRET_TAG not in all_text(msg) and SECRET_TAG.encode() not in mail.raw
    assert server.password not in mail.raw.decode(errors="replace")

    # A restarted controller (new reconciler and notifier, same cluster) checks again and does not re-send.
    h.reconciler = TerraformReconciler(h.kube, replace(h.options, drift_notifier=notifier_from_options(flags, h.kube)))
    h.reconciler.drift.clock = five_minutes_later  # the same world clock as before the restart
    checked = obj["status"]["drift"]["lastCheckedAt"]
    obj = env.reconcile_until("a drift re-check after the restart",
                              lambda o: o["status"]["drift"]["lastCheckedAt"] != checked and env.drifted(o))
    assert obj["status"]["plan"]["pending"] == plan_id  # the same drift: the same approvable plan
    assert len(server.messages) == 1

    # Approving the remediation plan puts the tags back and sends one "resolved" mail.
    env.approve_pending(obj)
    obj = env.reconcile_until("the remediation applied", lambda o: o["status"].get("lastAppliedPlan") == plan_id)
    assert env.tags() == WANT_TAGS
    drifted = condition(obj, c.DRIFTED)
    assert drifted is not None and (drifted.status, drifted.reason) == ("False", "DriftRemediated")
    assert obj["status"]["drift"]["clearedAt"] and obj["status"]["drift"]["resources"] == []
    mails = server.wait_for(2)
    assert mails[1].message["Subject"] == f"[drift resolved] {NS}/bucket: 1 resource no longer changed outside Terraform"
    assert "aws_s3_bucket.this" in body(mails[1].message)
    h.reconcile(env.name)
    assert len(server.messages) == 2


def test_drift_reverted_by_hand_clears_and_sends_one_resolved_mail(
    drift_env: DriftEnv, smtp_server: SMTPServer
) -> None:
    env, h = drift_env, drift_env.h
    flags = run_flags("--smtp-host", smtp_server.host, "--smtp-port", str(smtp_server.port),
                      "--smtp-tls", "none", "--smtp-from", "drift@example.org")
    h.reconciler = TerraformReconciler(h.kube, replace(h.options, drift_notifier=notifier_from_options(flags, h.kube)))
    env.create(approve="", email_to=["team@example.org"])
    env.apply_manually()
    env.drift_tags()
    obj = env.reconcile_until("drift detected", env.drifted)
    [report] = smtp_server.wait_for(1)
    assert report.rcpt_tos == ["team@example.org"]  # the object's recipients, not a default
    assert obj["status"]["plan"]["isDrift"] is True

    env.set_tags(WANT_TAGS)
    obj = env.reconcile_until("drift cleared", lambda o: condition(o, c.DRIFTED).status == c.FALSE)
    drifted = condition(obj, c.DRIFTED)
    assert drifted is not None and drifted.reason == "DriftResolved"
    assert obj["status"]["plan"]["pending"] == ""  # the remediation plan is gone with the drift
    assert obj["status"]["drift"]["clearedAt"]
    mails = smtp_server.wait_for(2)
    assert mails[1].message["Subject"].startswith(f"[drift resolved] {NS}/bucket")
    assert env.events("DriftResolved")
    assert len(smtp_server.messages) == 2


def test_auto_remediation_over_ses(drift_env: DriftEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    env, h, aws = drift_env, drift_env.h, drift_env.aws
    # SES goes through boto3's usual credential chain, as in the controller: the emulator's test keys.
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "test")
    aws.boto3_client("ses").verify_email_identity(EmailAddress="drift@example.org")
    flags = run_flags("--email-transport", "ses", "--ses-from", "drift@example.org", "--ses-region", aws.region,
                      "--ses-endpoint-url", aws.endpoint_url, "--drift-email-default-to", "sre@example.org")
    before = {m.id for m in aws.sent_emails()}
    notifier: DriftNotifier = notifier_from_options(flags, h.kube)
    h.reconciler = TerraformReconciler(h.kube, replace(h.options, drift_notifier=notifier))
    env.create(approve="auto")
    first = env.reconcile_until("applied", lambda o: o.get("status", {}).get("lastAppliedPlan"))
    env.drift_tags()
    obj = env.reconcile_until("drift remediated",
                              lambda o: o["status"].get("lastAppliedPlan") != first["status"]["lastAppliedPlan"])
    assert env.tags() == WANT_TAGS
    drifted = condition(obj, c.DRIFTED)
    assert drifted is not None and (drifted.status, drifted.reason) == ("False", "DriftRemediated")
    assert obj["status"]["plan"]["pending"] == ""
    def new_mails() -> list[Any]:  # this object's mails: the emulator may be shared with other tests' sends
        return [m for m in aws.sent_emails() if m.id not in before and "sre@example.org" in m.destinations
                and f"{NS}/bucket" in (m.subject or "")]

    wait_for(lambda: len(new_mails()) >= 2, timeout=60, what="two mails sent through SES")
    report, resolved = new_mails()
    assert report.subject == f"[drift] {NS}/bucket: 1 resource changed outside Terraform"
    assert "sre@example.org" in report.destinations
    assert report.body_text and "approvePlan: auto" in report.body_text
    assert obj["status"]["lastAppliedPlan"] in report.body_text
    assert SECRET_TAG not in (report.raw or "")
    assert resolved.subject and resolved.subject.startswith(f"[drift resolved] {NS}/bucket")
    assert [e for e in env.events("DriftDetected") if "tags.env" in e["message"]]
