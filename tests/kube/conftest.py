"""A KubeClient for the per-test dev cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tfcontroller.devcluster import DevCluster
from tfcontroller.kube.client import KubeClient


@pytest.fixture
def kube(dev_cluster: DevCluster) -> Iterator[KubeClient]:
    client = KubeClient.load(dev_cluster.kubeconfig)
    try:
        yield client
    finally:
        client.close()
