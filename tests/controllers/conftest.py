"""Fixtures of the controller tests: a Harness (dev cluster + artifact store + Terraform reconciler)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controllers.terraform_helpers import Harness
from tfcontroller.devcluster import DevCluster
from tfcontroller.kube.client import KubeClient


@pytest.fixture
def kube(dev_cluster: DevCluster) -> Iterator[KubeClient]:
    client = KubeClient.load(dev_cluster.kubeconfig)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def harness(kube: KubeClient, dev_cluster: DevCluster, tmp_path: Path) -> Harness:
    return Harness(kube, dev_cluster.kubeconfig, tmp_path)
