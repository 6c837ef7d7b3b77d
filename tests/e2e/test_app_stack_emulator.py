"""modules/app-stack reconciled by the real controllers into the AWS emulator, then destroyed on deletion.

The whole chain runs in-process against the dev cluster: a copy of modules/ is pushed to a file:// git
remote; the GitRepository controller publishes it; the Terraform controller (approvePlan auto) applies
`modules/app-stack` with the aws provider reaching the emulator only through `envFrom`/`env` of a Secret
(endpoint, test credentials, region), vars from the spec and the sensitive `connection_secret` from a
Secret (`varsFrom`). Checked:
- Ready with ApplySucceeded; with boto3: the bucket (versioning Enabled, tags), the job queue and its DLQ
  (redrive policy), the DynamoDB table and the IAM role exist;
- the outputs Secret holds every output, equal to what boto3 sees, including the sensitive
  `connection_string`, whose value (and the secret inside it) never appears in the Terraform's status,
  its Events or the controller's logs (captured with caplog at DEBUG);
- deleting the object (destroyResourcesOnDeletion) destroys everything: the object goes away, the
  emulator holds nothing with the stack's prefix, the state Secret is removed and the outputs Secret is
  garbage-collected with its owner.
The test output names the emulator and version that ran (and the aws_emulator fixture's summary line).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from pathlib import Path

import pytest

from tests.fixtures.aws import AwsEmulator, copy_modules
from tests.fixtures.devcluster import install_crds
from tests.support.e2e import (
    NS,
    condition,
    create_secret,
    events_of,
    is_ready,
    running_controllers,
    secret_data,
    tree_files,
    wait_for,
    wait_terraform,
)
from tfcontroller.api import conditions as c
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, SECRETS, TERRAFORMS

# outputs, varsFrom, sealed values and destroy on deletion: in every runner mode
pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(600), pytest.mark.runner_modes]

TF_NAME = "app-stack"
ENVIRONMENT = "staging"
APPLY_TIMEOUT = 300.0
DESTROY_TIMEOUT = 200.0
EXPECTED_OUTPUTS = {"app_config", "bucket_arn", "bucket_name", "connection_string", "dlq_url", "queue_arn",
                    "queue_url", "role_arn", "role_name", "table_arn", "table_name"}


def terraform_object(app: str, emulator_secret: str, vars_secret: str) -> dict:
    return {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
        "metadata": {"name": TF_NAME, "namespace": NS},
        "spec": {
            "sourceRef": {"kind": "GitRepository", "name": "infra"},
            "path": "./modules/app-stack",
            "interval": "10m",
            "retryInterval": "2s",
            "approvePlan": "auto",
            "vars": [{"name": "name", "value": app}, {"name": "environment", "value": ENVIRONMENT},
                     {"name": "tags", "value": {"team": "platform"}}],
            "varsFrom": [{"kind": "Secret", "name": vars_secret}],
            # Endpoint and credentials through envFrom; the region through env valueFrom: both paths must
            # work, or the provider has no region or talks to real AWS (which fails offline).
            "envFrom": [{"kind": "Secret", "name": emulator_secret}],
            "env": [{"name": n, "valueFrom": {"secretKeyRef": {"name": emulator_secret, "key": "region"}}}
                    for n in ("AWS_REGION", "AWS_DEFAULT_REGION")],
            "writeOutputsToSecret": {"name": f"{TF_NAME}-outputs"},
            "destroyResourcesOnDeletion": True,
        },
    }


def assert_resources(aws: AwsEmulator, prefix: str, app: str, outputs: dict[str, str]) -> None:
    s3 = aws.boto3_client("s3")
    bucket = f"{prefix}-artifacts"
    assert outputs["bucket_name"] == bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags == {"app": app, "environment": ENVIRONMENT, "managed-by": "tfcontroller", "team": "platform"}

    sqs = aws.boto3_client("sqs")
    queue_url = sqs.get_queue_url(QueueName=f"{prefix}-jobs")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=f"{prefix}-jobs-dlq")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn and int(redrive["maxReceiveCount"]) == 5
    assert outputs["queue_arn"] == attrs["QueueArn"]
    assert outputs["queue_url"].rstrip("/").endswith(f"/{prefix}-jobs")
    assert outputs["dlq_url"].rstrip("/").endswith(f"/{prefix}-jobs-dlq")

    table = aws.boto3_client("dynamodb").describe_table(TableName=f"{prefix}-state")["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    assert outputs["table_name"] == table["TableName"] and outputs["table_arn"] == table["TableArn"]

    role = aws.boto3_client("iam").get_role(RoleName=f"{prefix}-worker")["Role"]
    assert outputs["role_name"] == role["RoleName"] and outputs["role_arn"] == role["Arn"]

    assert json.loads(outputs["app_config"]) == {"bucket": bucket, "queue": outputs["queue_url"],
                                                 "table": table["TableName"], "role": role["Arn"]}


def assert_not_leaked(where: str, text: str, *secrets: str) -> None:
    for value in secrets:
        assert value not in text, f"a sensitive value reached {where}"


def test_app_stack_reconciled_into_emulator_and_destroyed(
    aws_emulator: AwsEmulator, dev_cluster: DevCluster, git_file_remote, tmp_path: Path,
    caplog: pytest.LogCaptureFixture, runner_mode: str,
) -> None:
    print(f"\naws emulator: {aws_emulator.describe()}")
    # The API server's request log is not the controller's; the last set_level also sets caplog's handler.
    caplog.set_level(logging.WARNING, logger="tfcontroller.dev.cluster")
    caplog.set_level(logging.DEBUG, logger="tfcontroller")
    app = f"e2e{uuid.uuid4().hex[:8]}"
    prefix = f"{app}-{ENVIRONMENT}"
    connection_secret = f"cs-{uuid.uuid4().hex}"

    remote = git_file_remote("infra")
    remote.commit(tree_files(copy_modules(tmp_path / "copy"), "modules"), message="modules")

    kube = KubeClient.load(dev_cluster.kubeconfig)
    try:
        install_crds(kube)
        emulator_env = {k: v for k, v in aws_emulator.env.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
        create_secret(kube, "aws-emulator", {**emulator_env, "region": aws_emulator.region})
        create_secret(kube, "app-stack-vars", {"connection_secret": connection_secret})
        with running_controllers(kube, dev_cluster.kubeconfig, tmp_path, runner_mode):
            kube.create(GITREPOSITORIES, {
                "apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository",
                "metadata": {"name": "infra", "namespace": NS},
                "spec": {"url": remote.url, "interval": "10m", "ref": {"branch": "main"}}})
            kube.create(TERRAFORMS, terraform_object(app, "aws-emulator", "app-stack-vars"))
            try:
                started = time.monotonic()
                obj = wait_terraform(kube, TF_NAME, is_ready, APPLY_TIMEOUT, "Ready after the apply")
                print(f"applied in {time.monotonic() - started:.1f}s")
                _check_applied(kube, aws_emulator, obj, app, prefix, connection_secret, remote.head())

                kube.delete(TERRAFORMS, TF_NAME, NS)
                started = time.monotonic()
                wait_for(lambda: kube.get_or_none(TERRAFORMS, TF_NAME, NS) is None, DESTROY_TIMEOUT,
                         "the Terraform object to be gone after its destroy", interval=0.2)
                print(f"destroyed in {time.monotonic() - started:.1f}s")
            finally:
                _destroy_leftovers(kube)
        assert aws_emulator.resources(prefix) == {"s3": [], "sqs": [], "dynamodb": [], "iam_roles": []}
        assert kube.get_or_none(SECRETS, f"tfstate-default-{TF_NAME}", NS) is None
        assert kube.get_or_none(SECRETS, f"{TF_NAME}-outputs", NS) is None  # owned by the Terraform
        events = events_of(kube, TF_NAME)
        assert "DestroySucceeded" in {e.get("reason") for e in events}
        assert_not_leaked("Events", json.dumps(events), connection_secret)
    finally:
        kube.close()
    logs = caplog.text + "\n".join(repr(vars(r)) for r in caplog.records)  # messages, args, extras, tracebacks
    # the apply as the controller logs it: `runner operation=apply` (a runner's run), `command=apply` (Terraform)
    assert re.search(r"\b(operation|command)=apply\b", logs) and TF_NAME in logs, \
        "the controller's logs were not captured"
    assert_not_leaked("the controller's logs", logs, connection_secret)


def _check_applied(kube: KubeClient, aws: AwsEmulator, obj: dict, app: str, prefix: str,
                   connection_secret: str, commit: str) -> None:
    status = obj["status"]
    ready = condition(obj, c.READY)
    assert ready is not None and ready.reason == "ApplySucceeded", ready
    assert status["lastAppliedRevision"] == f"main@sha1:{commit}"
    assert set(status["availableOutputs"]) == EXPECTED_OUTPUTS
    repo_ready = condition(kube.get(GITREPOSITORIES, "infra", NS), c.READY)
    assert repo_ready is not None and repo_ready.status == c.TRUE

    outputs = secret_data(kube, f"{TF_NAME}-outputs")
    assert outputs is not None and set(outputs) == EXPECTED_OUTPUTS
    connection = outputs["connection_string"]
    assert connection == (f"sqs+{outputs['queue_url']}?table={prefix}-state&bucket={prefix}-artifacts"
                          f"&secret={connection_secret}")
    assert_resources(aws, prefix, app, outputs)

    assert kube.get_or_none(SECRETS, f"tfstate-default-{TF_NAME}", NS) is not None
    assert_not_leaked("the Terraform's status", json.dumps(kube.get(TERRAFORMS, TF_NAME, NS)),
                      connection_secret, connection)
    events = events_of(kube, TF_NAME)
    assert "ApplySucceeded" in {e.get("reason") for e in events}
    assert_not_leaked("Events", json.dumps(events), connection_secret, connection)


def _destroy_leftovers(kube: KubeClient) -> None:
    """After a failure midway, still let the running controller destroy what it created (best effort,
    bounded), so the session's shared emulator is not left holding this test's resources."""
    if kube.get_or_none(TERRAFORMS, TF_NAME, NS) is None:
        return
    kube.delete(TERRAFORMS, TF_NAME, NS)
    deadline = time.monotonic() + DESTROY_TIMEOUT
    while time.monotonic() < deadline and kube.get_or_none(TERRAFORMS, TF_NAME, NS) is not None:
        time.sleep(0.5)
