"""A dev cluster with its node, for the node's tests: back-offs shortened so that restarts and Job
retries take fractions of a second; helpers to create Pods, wait for phases and run kubectl."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from tests.fixtures.devcluster import api_client_for
from tests.support.polling import wait_for
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.node import NodeConfig

FAST = NodeConfig(backoff_base=0.2, backoff_cap=1.0, job_backoff_base=0.1, job_backoff_cap=0.5)
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def node_cluster(tmp_path: Path) -> Iterator[DevCluster]:
    with DevCluster(node=FAST, state_file=tmp_path / "state" / "cluster.json") as cluster:
        yield cluster


@pytest.fixture
def core(node_cluster: DevCluster) -> Iterator[kubernetes.client.CoreV1Api]:
    client = api_client_for(node_cluster)
    try:
        yield kubernetes.client.CoreV1Api(client)
    finally:
        client.close()


@pytest.fixture
def batch(node_cluster: DevCluster) -> Iterator[kubernetes.client.BatchV1Api]:
    client = api_client_for(node_cluster)
    try:
        yield kubernetes.client.BatchV1Api(client)
    finally:
        client.close()


def kubectl_for(cluster: DevCluster) -> Kubectl:
    def run(*args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, *args], input=input,
                              capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture
def kubectl(node_cluster: DevCluster) -> Kubectl:
    return kubectl_for(node_cluster)


def pod(name: str, script: str, restart: str = "Never", **spec: Any) -> dict[str, Any]:
    """A Pod whose one container `c` runs `sh -c script`; extra keys go into the Pod's spec, `container`
    into the container."""
    container = {"name": "c", "image": "busybox", "command": ["sh", "-c", script], **spec.pop("container", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": restart, "containers": [container], **spec}}


def phase_of(core: kubernetes.client.CoreV1Api, name: str, namespace: str = "default") -> str:
    return str(core.read_namespaced_pod(name, namespace).status.phase)


def wait_phase(core: kubernetes.client.CoreV1Api, name: str, phases: tuple[str, ...], timeout: float = 30,
               namespace: str = "default") -> Any:
    def reached() -> Any:
        p = core.read_namespaced_pod(name, namespace)
        return p if p.status and p.status.phase in phases else None

    return wait_for(reached, timeout, f"pod {namespace}/{name} to reach {phases}")


def logs(core: kubernetes.client.CoreV1Api, name: str, namespace: str = "default", **kw: Any) -> str:
    return str(core.read_namespaced_pod_log(name, namespace, **kw))


def logs_so_far(core: kubernetes.client.CoreV1Api, name: str, namespace: str = "default") -> str:
    """The log, or "" while the container has not started (the server answers 400 then)."""
    try:
        return logs(core, name, namespace)
    except kubernetes.client.ApiException:
        return ""
