"""`reconcile` waits for the controller (simulated by `FakeController`, a thread patching status the way
the real controllers do: test_cli_contract.py runs the same commands against the real reconcilers and pins
that protocol; every status the fake writes satisfies `assert_kstatus`) and exits 0 on Ready, 1 when
not Ready, 4 on timeout, reconciling the source first with --with-source; `outputs` shows plain values, marks
sensitive ones and reveals them only with --show-sensitive; `drift` prints status.drift; `events` lists the object's Events oldest first."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.support.cli import Run, ready, table_rows
from tests.support.kstatus import assert_kstatus
from tfcontroller.cli.waiting import outcome
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import EVENTS, GITREPOSITORIES, SECRETS, TERRAFORMS, Resource

ANN = "tfcontroller.io/requested-at"


class FakeController:
    """Answers requested-at annotations like the controller would: progress, then a final Ready."""

    def __init__(self, kube: KubeClient, resource: Resource, name: str, final: str = "True") -> None:
        self.kube, self.resource, self.name, self.final = kube, resource, name, final
        self.handled: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            obj = self.kube.get(self.resource, self.name, "default")
            value = (obj["metadata"].get("annotations") or {}).get(ANN)
            if not value or value in self.handled:
                continue
            self.kube.patch_status(self.resource, self.name, "default", {"conditions": [
                {"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "Planning",
                 "lastTransitionTime": "2025-01-01T00:00:00Z"},
                ready("Unknown", "Progressing", "Planning")]})
            time.sleep(0.3)
            self.handled.append(value)  # before the patch that lets the CLI return
            self.kube.patch_status(self.resource, self.name, "default", {
                "lastHandledRequestedAt": value,
                "conditions": [ready(self.final, "ApplySucceeded" if self.final == "True" else "PlanFailed",
                                     "applied" if self.final == "True" else "variable x is missing")]})
            assert_kstatus(self.kube.get(self.resource, self.name, "default"))

    def __enter__(self) -> FakeController:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def controller(kube: KubeClient, objects: dict[str, Any]) -> Iterator[FakeController]:
    with FakeController(kube, TERRAFORMS, "queue") as ctl:
        yield ctl


def test_reconcile_waits_and_reports_ready(cli: Run, controller: FakeController) -> None:
    res = cli("reconcile", "queue", "--timeout", "30s")
    assert res.code == 0, res.err
    assert len(controller.handled) == 1
    assert "◎ terraform.tfcontroller.io/queue: Planning" in res.out
    assert res.out.strip().splitlines()[-1].startswith("✔ terraform.tfcontroller.io/queue: Ready")


def test_reconcile_not_ready_exits_1(cli: Run, kube: KubeClient, objects: dict[str, Any]) -> None:
    with FakeController(kube, TERRAFORMS, "queue", final="False"):
        res = cli("reconcile", "tf", "queue", "--timeout", "30s")
    assert res.code == 1
    assert "✗ terraform.tfcontroller.io/queue: not Ready — PlanFailed: variable x is missing" in res.out


def test_reconcile_with_source_goes_through_the_gitrepository(cli: Run, kube: KubeClient,
                                                             controller: FakeController) -> None:
    with FakeController(kube, GITREPOSITORIES, "infra") as source:
        res = cli("reconcile", "queue", "--with-source", "--timeout", "30s")
    assert res.code == 0, res.err
    assert len(source.handled) == 1 and len(controller.handled) == 1
    assert res.out.index("gitrepository.tfcontroller.io/infra: Ready") < res.out.index("terraform.tfcontroller.io/queue: Ready")


def test_reconcile_timeout_and_suspended(cli: Run, kube: KubeClient, objects: dict[str, Any]) -> None:
    res = cli("reconcile", "queue", "--timeout", "1s")  # nobody answers
    assert res.code == 4 and "timed out" in res.err
    kube.patch(TERRAFORMS, "queue", {"spec": {"suspend": True}}, "default")
    res = cli("reconcile", "queue")
    assert res.code == 1 and "suspended" in res.err
    assert cli("reconcile", "queue", "--timeout", "soon").code == 2


def test_outcome_ignores_an_older_request() -> None:
    obj = {"status": {"lastHandledRequestedAt": "old", "conditions": [ready("True", "Ok", "fine")]}}
    assert not outcome(obj, "new").done
    assert outcome(obj, "old").done and outcome(obj, "old").ready


def test_outputs_plain_values_shown_sensitive_ones_only_when_asked(cli: Run, kube: KubeClient,
                                                                   objects: dict[str, Any]) -> None:
    kube.patch_status(TERRAFORMS, "bucket", "default", {
        "availableOutputs": ["bucket_arn", "bucket_name", "db_password"], "sensitiveOutputs": ["db_password"]})
    res = cli("outputs", "bucket")  # no Secret yet: names, which are sensitive, no values
    assert res.code == 0, res.err
    assert {r["NAME"]: (r["SENSITIVE"], r["VALUE"]) for r in table_rows(res.out)} == {
        "bucket_arn": ("false", "<not in Secret>"), "bucket_name": ("false", "<not in Secret>"),
        "db_password": ("true", "<not in Secret>")}
    assert cli("outputs", "bucket", "--show-sensitive").code == 1
    kube.upsert_secret("default", "bucket-outputs", {"bucket_name": b"acme-prod", "bucket_arn": b"arn:aws:s3:::acme-prod",
                                                     "db_password": b"hunter2"})
    res = cli("outputs", "bucket")
    rows = {r["NAME"]: (r["SENSITIVE"], r["VALUE"]) for r in table_rows(res.out)}
    assert rows == {"bucket_arn": ("false", "arn:aws:s3:::acme-prod"), "bucket_name": ("false", "acme-prod"),
                    "db_password": ("true", "<sensitive>")}
    assert "hunter2" not in res.out + res.err and "--show-sensitive" in res.err
    shown = cli("outputs", "bucket", "--show-sensitive")
    assert shown.code == 0 and {r["NAME"]: r["VALUE"] for r in table_rows(shown.out)}["db_password"] == "hunter2"
    doc = json.loads(cli("outputs", "bucket", "-o", "json").out)
    assert doc["db_password"] == {"sensitive": True, "inSecret": True}  # no value key at all
    assert doc["bucket_name"] == {"sensitive": False, "inSecret": True, "value": "acme-prod"}
    assert yaml.safe_load(cli("outputs", "bucket", "-o", "yaml", "--show-sensitive").out)["db_password"]["value"] == "hunter2"
    secret = kube.get(SECRETS, "bucket-outputs", "default")
    assert base64.b64decode(secret["data"]["db_password"]) == b"hunter2"
    res = cli("outputs", "queue", "--show-sensitive")
    assert res.code == 1 and "writeOutputsToSecret" in res.err


def test_outputs_of_a_status_without_sensitive_marks_hide_every_value(cli: Run, kube: KubeClient,
                                                                      objects: dict[str, Any]) -> None:
    """A status written before `sensitiveOutputs` existed: which output is sensitive is unknown, so none
    is shown until the controller records the marks (or --show-sensitive is given)."""
    kube.upsert_secret("default", "bucket-outputs", {"bucket_name": b"acme-prod", "bucket_arn": b"arn"})
    rows = {r["NAME"]: r["VALUE"] for r in table_rows(cli("outputs", "bucket").out)}
    assert rows == {"bucket_arn": "<sensitive>", "bucket_name": "<sensitive>"}
    shown = {r["NAME"]: r["VALUE"] for r in table_rows(cli("outputs", "bucket", "--show-sensitive").out)}
    assert shown == {"bucket_arn": "arn", "bucket_name": "acme-prod"}


def test_drift_report(cli: Run, kube: KubeClient, objects: dict[str, Any]) -> None:
    assert "No drift check has run yet." in cli("drift", "queue").out
    kube.patch_status(TERRAFORMS, "queue", "default", {
        "drift": {"lastCheckedAt": "2025-03-01T10:00:00Z", "lastDetectedAt": "2025-03-01T10:00:00Z",
                  "resources": ["aws_s3_bucket.this"], "nextCheckAt": "2025-03-01T10:30:00Z",
                  "fingerprint": "sha256:abc", "notifiedFingerprint": "",
                  "pendingNotification": {"kind": "drift", "fingerprint": "sha256:abc", "attempts": 2,
                                          "nextAttemptAt": "2025-03-01T10:02:00Z"}},
        "plan": {"pending": "plan-main-0123456789-0badc0de", "isDrift": True}})
    out = cli("drift", "queue").out
    assert "Last detected:  2025-03-01T10:00:00Z" in out
    assert "Resources (1):\n  - aws_s3_bucket.this" in out
    assert "drift report pending (not delivered yet, 2 failed attempts, next attempt 2025-03-01T10:02:00Z)" in out
    assert "Remediation plan plan-main-0123456789-0badc0de waits for approval" in out


def test_events_sorted_and_filtered(cli: Run, kube: KubeClient, objects: dict[str, Any]) -> None:
    uid = objects["queue"]["metadata"]["uid"]

    def event(name: str, when: str, reason: str, kind: str = "Terraform") -> None:
        kube.create(EVENTS, {"apiVersion": "v1", "kind": "Event",
                             "metadata": {"name": name, "namespace": "default"},
                             "involvedObject": {"kind": kind, "name": "queue", "namespace": "default",
                                                "uid": uid if kind == "Terraform" else "other"},
                             "reason": reason, "message": f"{reason} happened", "type": "Normal",
                             "firstTimestamp": when, "lastTimestamp": when, "count": 1})

    event("e2", "2025-03-01T10:05:00Z", "ApplySucceeded")
    event("e1", "2025-03-01T10:00:00Z", "PlanSucceeded")
    event("e3", "2025-03-01T10:01:00Z", "NotMine", kind="ConfigMap")
    res = cli("events", "queue")
    assert res.code == 0, res.err
    lines = res.out.strip().splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "COUNT", "MESSAGE"]
    assert [line.split()[2] for line in lines[1:]] == ["PlanSucceeded", "ApplySucceeded"]
    assert "No events for terraform/bucket." in cli("events", "terraform", "bucket").out
