"""Fixtures for the operator CLI tests: a dev cluster with the project's CRDs, objects in realistic states,
and a helper that runs `tfcontroller ...` in-process and returns exit code, stdout and stderr."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.devcluster import install_crds
from tests.support.cli import PLAN_ID, Result, Run, _stamp, ready, terraform
from tfcontroller.cli.main import main
from tfcontroller.controllers.terraform.context import PLAN_PENDING  # the real reason (test_cli_contract.py)
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, TERRAFORMS


@pytest.fixture
def kube(kube: KubeClient) -> KubeClient:
    """The dev cluster's `kube` client (tests/fixtures/devcluster.py), with the project's CRDs installed."""
    install_crds(kube)
    return kube


@pytest.fixture
def cli(dev_cluster: DevCluster, kube: KubeClient, capsys: pytest.CaptureFixture[str]) -> Run:
    """`cli("get", "tf")` runs the command against the dev cluster (its kubeconfig, namespace default)."""

    def run(*argv: str, kubeconfig: bool = True) -> Result:
        capsys.readouterr()
        args = list(argv) + (["--kubeconfig", str(dev_cluster.kubeconfig)] if kubeconfig else [])
        try:
            code = main(args)
        except SystemExit as exc:  # argparse usage errors exit 2
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def objects(kube: KubeClient) -> dict[str, dict[str, Any]]:
    """A GitRepository with an artifact, a Terraform waiting for approval and an applied one."""
    kube.create(GITREPOSITORIES, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository",
        "metadata": {"name": "infra", "namespace": "default"},
        "spec": {"url": "https://git.example.com/infra.git", "ref": {"branch": "main"}, "interval": "1m"},
    })
    kube.patch_status(GITREPOSITORIES, "infra", "default", {
        "artifact": {"revision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
                     "digest": "sha256:" + "a" * 64, "path": "x", "url": "http://x", "size": 1,
                     "lastUpdateTime": _stamp()},
        "conditions": [ready("True", "Succeeded", "stored artifact for main@sha1:0123456789")],
    })
    kube.create(TERRAFORMS, terraform("bucket", writeOutputsToSecret={"name": "bucket-outputs"}))
    kube.patch_status(TERRAFORMS, "bucket", "default", {
        "lastAttemptedRevision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
        "plan": {"pending": PLAN_ID, "add": 1, "change": 0, "destroy": 0, "createdAt": _stamp()},
        "availableOutputs": ["bucket_arn", "bucket_name"],
        "conditions": [ready("False", PLAN_PENDING, f"plan {PLAN_ID} waits for approval")],
    })
    kube.create(TERRAFORMS, terraform("queue", approve="auto"))
    kube.patch_status(TERRAFORMS, "queue", "default", {
        "lastAppliedRevision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
        "lastAppliedPlan": "plan-main-0123456789-12345678",
        "conditions": [ready("True", "ApplySucceeded", "applied plan-main-0123456789-12345678")],
    })
    return {
        "infra": kube.get(GITREPOSITORIES, "infra", "default"),
        "bucket": kube.get(TERRAFORMS, "bucket", "default"),
        "queue": kube.get(TERRAFORMS, "queue", "default"),
    }
