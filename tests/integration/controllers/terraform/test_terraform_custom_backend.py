"""`spec.backendConfig.customConfiguration` with Terraform's `s3` backend and a DynamoDB lock table on the
AWS emulator (issue 20), real terraform driven by the controller: the stack plans and applies with its
state in the bucket (no state Secret, no Lease: nothing of the kubernetes backend is created), survives a
controller restart (a new reconciler with a fresh work directory plans again from the bucket: no changes),
a lock held by another run in the DynamoDB table is reported as StateLocked with that run's lock id and
holder, and the object applies once the lock is gone. Credentials reach the backend through `env`. A bad
block is Stalled `BackendConfigInvalid` before any run."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid

import pytest

from tests.fixtures.aws import AwsEmulator
from tests.support.polling import wait_for
from tests.support.terraform_helpers import NS, SIMPLE_TF, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_FORCE_UNLOCK, ANNOTATION_REPLAN
from tfcontroller.cli.main import main
from tfcontroller.controllers.terraform import TerraformReconciler
from tfcontroller.kube.resources import LEASES, SECRETS, TERRAFORMS

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(900)]

CHANGED_TF = SIMPLE_TF.replace('default = "hello"', 'default = "changed"')


def _s3_backend(bucket: str, table: str) -> str:
    return (f'backend "s3" {{\n  bucket = "{bucket}"\n  key = "team/app.tfstate"\n  region = "us-east-1"\n'
            f'  dynamodb_table = "{table}"\n  use_path_style = true\n  skip_credentials_validation = true\n'
            f'  skip_requesting_account_id = true\n  skip_metadata_api_check = true\n}}\n')


def _applied(obj: dict) -> bool:
    return ready_reason(obj) in ("True/ApplySucceeded", "True/NoChanges")


def _state_in_bucket(aws: AwsEmulator, bucket: str) -> dict:
    body = aws.boto3_client("s3").get_object(Bucket=bucket, Key="team/app.tfstate")["Body"].read()
    return dict(json.loads(body))


@pytest.mark.runner_modes
def test_s3_backend_applies_survives_a_restart_and_reports_a_held_lock(
        harness: Harness, git_file_remote, aws_emulator: AwsEmulator) -> None:
    bucket, table = f"state-{uuid.uuid4().hex[:10]}", f"locks-{uuid.uuid4().hex[:8]}"
    aws_emulator.boto3_client("s3").create_bucket(Bucket=bucket)
    dynamodb = aws_emulator.boto3_client("dynamodb")
    dynamodb.create_table(TableName=table, AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    env = [{"name": k, "value": v} for k, v in aws_emulator.env.items()]
    harness.create("app", backendConfig={"customConfiguration": _s3_backend(bucket, table)}, env=env)

    obj = harness.reconcile_until("app", _applied, timeout=300, what="applied into the bucket")
    assert ready_reason(obj) == "True/ApplySucceeded"
    state = _state_in_bucket(aws_emulator, bucket)
    assert [r["name"] for r in state["resources"]] == ["this"]
    assert obj["status"]["availableOutputs"] == ["greeting"]
    names = {o["metadata"]["name"] for o in harness.kube.list_all(SECRETS, NS)[0]}
    assert not any(n.startswith("tfstate-") for n in names)
    assert not harness.kube.list_all(LEASES, NS)[0]

    # a controller restart: a new reconciler, another work directory (no init cache): plans from the bucket
    harness.reconciler.cancel_all()
    harness.reconciler = TerraformReconciler(harness.kube, dataclasses.replace(
        harness.options, work_dir=harness.tmp / "work-restarted"))
    harness.annotate("app", ANNOTATION_REPLAN, str(time.time()))
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/NoChanges", timeout=300,
                                  what="no changes after the restart")
    assert obj["status"]["availableOutputs"] == ["greeting"]  # kept: there is no state Secret to read them from

    # a lock held by another run (as Terraform writes it into the lock table) is reported, then released
    lock_id = str(uuid.uuid4())
    info = {"ID": lock_id, "Operation": "OperationTypeApply", "Who": "alice@laptop", "Version": "1.11.4",
            "Created": "2026-01-01T00:00:00Z", "Path": f"{bucket}/team/app.tfstate", "Info": ""}
    dynamodb.put_item(TableName=table, Item={"LockID": {"S": f"{bucket}/team/app.tfstate"},
                                             "Info": {"S": json.dumps(info)}})
    remote_commit = remote.commit({"main.tf": CHANGED_TF})
    harness.publish("src", remote.bare, remote_commit)
    obj = harness.reconcile_until("app", lambda o: condition(o, c.STATE_LOCKED) is not None, timeout=300,
                                  what="StateLocked")
    locked = condition(obj, c.STATE_LOCKED)
    assert locked is not None and lock_id in locked.message and "alice@laptop" in locked.message
    assert obj["status"]["lock"]["id"] == lock_id
    # released as for the kubernetes backend: `tfcontroller force-unlock` (checked against status.lock, there
    # being no Lease) sets the annotation, and a run's terraform force-unlock releases it in the table
    assert main(["force-unlock", "app", "--lock-id", "not-held", "--no-wait",
                 "--kubeconfig", str(harness.kubeconfig)]) == 1
    assert main(["force-unlock", "app", "--lock-id", lock_id, "--no-wait", "--kubeconfig", str(harness.kubeconfig)]) == 0
    assert harness.get("app")["metadata"]["annotations"][ANNOTATION_FORCE_UNLOCK] == lock_id
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded"
                                  and condition(o, c.STATE_LOCKED) is None, timeout=300, what="applied after unlock")
    state = _state_in_bucket(aws_emulator, bucket)
    assert state["resources"][0]["instances"][0]["attributes"]["input"]["value"] == "changed"

    # deleted with destroyResourcesOnDeletion: destroyed (no ownership record to consult), the emptied state
    # stays in the bucket as terraform destroy leaves it
    harness.patch("app", {"spec": {"destroyResourcesOnDeletion": True}})
    harness.reconcile_until("app", _applied, timeout=300, what="reconciled with destroyResourcesOnDeletion")
    harness.kube.delete(TERRAFORMS, "app", NS)
    wait_for(lambda: harness.reconcile("app") == {}, 300, "deleted after the destroy", interval=0.1)
    assert _state_in_bucket(aws_emulator, bucket)["resources"] == []


@pytest.mark.parametrize(("text", "fragment"), [
    ('backend "local" {}', "lost with the run's directory"),
    ('terraform {\n  backend "s3" {}\n}', "without the surrounding terraform"),
    ('backend "s3" {', "is not valid HCL"),
])
def test_a_bad_block_is_stalled_before_any_run(harness: Harness, git_file_remote, text: str, fragment: str) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.create("bad", backendConfig={"customConfiguration": text})
    obj = harness.reconcile("bad")
    stalled = condition(obj, c.STALLED)
    assert stalled is not None and stalled.reason == "BackendConfigInvalid", obj.get("status")
    assert fragment in stalled.message and "spec.backendConfig.customConfiguration" in stalled.message
    assert harness.kube.get_or_none(SECRETS, "tfstate-default-bad", NS) is None
