"""A controller killed in the middle of an apply that creates a cloud resource loses nothing (issue 21, the
short version of `benchmarks/chaos.py kills`).

Two objects whose module creates an S3 bucket with a generated name in the AWS emulator and then runs on
(a provisioner that sleeps) are reconciled by a controller subprocess, which is SIGKILLed with its whole
process group a few seconds into one of the applies (as when its pod dies), then restarted. Afterwards
every object is Ready, each has exactly one bucket in its state and one in the emulator (none orphaned:
the interrupted Terraform saved what it had created), and no state lock is held.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.aws import AwsEmulator
from tests.fixtures.git_servers import GitRemote
from tests.support.polling import wait_for
from tests.support.processes import kill_all
from tests.support.terraform_helpers import (
    NS,
    Harness,
    kill_controller,
    processes_under,
    start_controller_process,
)
from tfcontroller.api.constants import tfstate_lease_name
from tfcontroller.api.statenames import default_secret_suffix
from tfcontroller.terraform.state import read_lock

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(600)]

BUCKET_TF = """
variable "prefix" {
  type = string
}

resource "aws_s3_bucket" "this" {
  bucket_prefix = var.prefix
  force_destroy = true
}

resource "terraform_data" "linger" {
  input = aws_s3_bucket.this.id

  provisioner "local-exec" {
    command = "sleep 6"
  }
}
"""
OBJECTS = ["kill-a", "kill-b"]
KILL_AFTER = 3.0  # seconds into the apply: after the bucket exists, before the apply ends


def _applying(work: Path) -> bool:
    """A `terraform apply` among the runs under the controller's work directory."""
    for pid in processes_under(work):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"terraform") and b"apply" in argv[1:3]:
            return True
    return False


def _settled(harness: Harness) -> bool:
    for name in OBJECTS:
        obj = harness.get(name)
        status = obj.get("status") or {}
        ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
        if ready.get("status") != "True" or status.get("observedGeneration") != obj["metadata"]["generation"]:
            return False
    return True


def _state_buckets(state: dict[str, Any] | None) -> list[str]:
    return sorted(str(i["attributes"]["id"]) for r in (state or {}).get("resources") or []
                  if r["type"] == "aws_s3_bucket" for i in r["instances"])


def test_a_controller_killed_mid_apply_leaves_no_orphan_and_no_lock(
        harness: Harness, git_file_remote: Callable[..., GitRemote], aws_emulator: AwsEmulator, tmp_path: Path) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": BUCKET_TF}))
    prefix = f"chaos-{uuid.uuid4().hex[:6]}-"
    env = [{"name": k, "value": v} for k, v in aws_emulator.env.items()]
    for name in OBJECTS:
        harness.create(name, vars=[{"name": "prefix", "value": f"{prefix}{name}-"}], env=env, retryInterval="2s")
    s3 = aws_emulator.boto3_client("s3")
    work = tmp_path / "proc-work"
    try:
        proc = start_controller_process(harness.kubeconfig, work, lock_retry=2.0, retry_cap=3.0)
        try:
            wait_for(lambda: _applying(work) or proc.poll() is not None, 240, "an apply")
            assert proc.poll() is None, "the controller exited by itself"
            time.sleep(KILL_AFTER)  # the kill point itself, not a wait for a condition
        finally:
            kill_controller(proc, [])
        proc = start_controller_process(harness.kubeconfig, work, lock_retry=2.0, retry_cap=3.0)
        try:
            wait_for(lambda: _settled(harness), 300, "every object Ready after the kill")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        for name in OBJECTS:
            in_state = _state_buckets(harness.state(name))
            in_emulator = sorted(b["Name"] for b in s3.list_buckets()["Buckets"]
                                 if b["Name"].startswith(f"{prefix}{name}-"))
            assert len(in_state) == 1, f"{name}: buckets in its state {in_state}"
            assert in_emulator == in_state, f"{name}: in the emulator {in_emulator}, in its state {in_state}"
            assert read_lock(harness.kube, NS, tfstate_lease_name("default", default_secret_suffix(name))) is None, f"{name}: lock held"
    finally:
        kill_all(processes_under(work))
        for bucket in s3.list_buckets()["Buckets"]:
            if bucket["Name"].startswith(prefix):
                s3.delete_bucket(Bucket=bucket["Name"])
