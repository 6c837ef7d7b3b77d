"""List `resourceVersion` / `resourceVersionMatch` / `limit` / `continue` semantics of the development
API server with the official Python client (and kubectl's chunked `get`): "0" and NotOlderThan serve
the current state, Exact (and the legacy limit+resourceVersion form) the state at that version rebuilt
from the event log, 410 Expired once compacted, 504 for a version not reached, ListOptions validation,
continue tokens pinned to the first page's snapshot and their 410 with an inconsistent-continue token."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.devcluster import api_client_for
from tfcontroller.dev.cluster import DevCluster

pytestmark = pytest.mark.timeout(60)
NS = "default"


@pytest.fixture
def v1(dev_api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(dev_api_client)


def make(v1: client.CoreV1Api, name: str, value: str = "v") -> Any:
    return v1.create_namespaced_config_map(NS, {"metadata": {"name": name}, "data": {"k": value}})


def names(listed: Any) -> list[str]:
    return [o.metadata.name for o in listed.items]


def api_error(call: Callable[[], Any]) -> client.ApiException:
    with pytest.raises(client.ApiException) as err:
        call()
    return err.value


def test_zero_and_not_older_than_serve_the_current_state(v1: client.CoreV1Api) -> None:
    first = make(v1, "a")
    make(v1, "b")
    assert names(v1.list_namespaced_config_map(NS, resource_version="0")) == ["a", "b"]
    listed = v1.list_namespaced_config_map(
        NS, resource_version=first.metadata.resource_version, resource_version_match="NotOlderThan")
    assert names(listed) == ["a", "b"]
    assert names(v1.list_namespaced_config_map(NS, resource_version=first.metadata.resource_version)) == ["a", "b"]


def test_exact_serves_the_state_at_that_version(v1: client.CoreV1Api) -> None:
    make(v1, "kept", "old")
    make(v1, "doomed")
    at = v1.list_namespaced_config_map(NS).metadata.resource_version
    v1.patch_namespaced_config_map("kept", NS, {"data": {"k": "new"}})
    v1.delete_namespaced_config_map("doomed", NS)
    make(v1, "later")
    then = v1.list_namespaced_config_map(NS, resource_version=at, resource_version_match="Exact")
    assert then.metadata.resource_version == at
    assert names(then) == ["doomed", "kept"]
    assert then.items[1].data == {"k": "old"}
    now = v1.list_namespaced_config_map(NS)
    assert names(now) == ["kept", "later"] and now.items[0].data == {"k": "new"}
    legacy = v1.list_namespaced_config_map(NS, resource_version=at, limit=10)  # limit + RV: exact too
    assert names(legacy) == ["doomed", "kept"]


def test_exact_older_than_the_log_is_410(dev_cluster: DevCluster, v1: client.CoreV1Api) -> None:
    old = make(v1, "a").metadata.resource_version
    make(v1, "b")
    dev_cluster.compact()
    err = api_error(lambda: v1.list_namespaced_config_map(NS, resource_version=old, resource_version_match="Exact"))
    assert err.status == 410
    body = json.loads(err.body)
    assert body["reason"] == "Expired" and body["message"] == "The resourceVersion for the provided list is too old."
    # The newest version survives a compaction, as in etcd; NotOlderThan never expires.
    current = v1.list_namespaced_config_map(NS).metadata.resource_version
    assert names(v1.list_namespaced_config_map(NS, resource_version=current, resource_version_match="Exact")) == ["a", "b"]
    assert names(v1.list_namespaced_config_map(NS, resource_version=old, resource_version_match="NotOlderThan")) == ["a", "b"]


def test_a_version_not_reached_waits_then_504(dev_cluster: DevCluster, v1: client.CoreV1Api) -> None:
    dev_cluster.api.too_large_wait = 0.2
    current = int(v1.list_namespaced_config_map(NS).metadata.resource_version)
    err = api_error(lambda: v1.list_namespaced_config_map(NS, resource_version=str(current + 50)))
    assert err.status == 504
    body = json.loads(err.body)
    assert body["reason"] == "Timeout"
    assert body["message"] == f"Timeout: Too large resource version: {current + 50}, current: {current}"
    assert body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"


def test_a_version_reached_while_waiting_is_served(dev_cluster: DevCluster, v1: client.CoreV1Api) -> None:
    dev_cluster.api.too_large_wait = 10.0
    current = int(v1.list_namespaced_config_map(NS).metadata.resource_version)
    other = api_client_for(dev_cluster)
    writer = threading.Timer(0.2, lambda: make(client.CoreV1Api(other), "late"))
    writer.start()
    try:
        listed = v1.list_namespaced_config_map(NS, resource_version=str(current + 1))
    finally:
        writer.join()
        other.close()
    assert names(listed) == ["late"]


def test_list_options_validation(v1: client.CoreV1Api) -> None:
    err = api_error(lambda: v1.list_namespaced_config_map(NS, resource_version_match="Exact"))
    assert err.status == 422
    assert json.loads(err.body)["message"] == (
        'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is '
        "forbidden unless resourceVersion is provided")
    err = api_error(lambda: v1.list_namespaced_config_map(NS, resource_version="0", resource_version_match="Exact"))
    assert err.status == 422 and 'forbidden for resourceVersion \\"0\\"' in err.body
    err = api_error(lambda: v1.list_namespaced_config_map(NS, resource_version="1", resource_version_match="Latest"))
    assert err.status == 422 and 'Unsupported value: \\"Latest\\"' in err.body
    make(v1, "a")
    make(v1, "b")
    token = v1.list_namespaced_config_map(NS, limit=1).metadata._continue
    err = api_error(lambda: v1.list_namespaced_config_map(NS, _continue=token, resource_version="5"))
    assert err.status == 400 and "specifying resource version is not allowed when using continue" in err.body
    err = api_error(lambda: v1.list_namespaced_config_map(NS, resource_version="abc"))
    assert err.status == 400


def test_pages_come_from_the_first_pages_snapshot(v1: client.CoreV1Api) -> None:
    for name in ("a", "b", "c", "d"):
        make(v1, name)
    first = v1.list_namespaced_config_map(NS, limit=2)
    assert names(first) == ["a", "b"] and first.metadata.remaining_item_count == 2
    v1.delete_namespaced_config_map("c", NS)
    make(v1, "e")
    second = v1.list_namespaced_config_map(NS, limit=2, _continue=first.metadata._continue)
    assert names(second) == ["c", "d"]  # c is still there and e not yet, as of the first page
    assert second.metadata.resource_version == first.metadata.resource_version
    assert not second.metadata._continue


def test_expired_continue_is_410_with_an_inconsistent_token(dev_cluster: DevCluster, v1: client.CoreV1Api) -> None:
    for name in ("a", "b", "c"):
        make(v1, name)
    first = v1.list_namespaced_config_map(NS, limit=1)
    make(v1, "d")
    dev_cluster.compact()
    err = api_error(lambda: v1.list_namespaced_config_map(NS, limit=1, _continue=first.metadata._continue))
    assert err.status == 410
    status = json.loads(err.body)
    assert status["reason"] == "Expired"
    assert status["message"].startswith("The provided continue parameter is too old to display a consistent list")
    assert "Continuing with the provided token results in an inconsistent list" in status["message"]
    rest = v1.list_namespaced_config_map(NS, _continue=status["metadata"]["continue"])
    assert names(rest) == ["b", "c", "d"]  # from the current state
    last = v1.list_namespaced_config_map(NS, limit=3)
    for name in ("a", "b", "c", "d"):
        v1.delete_namespaced_config_map(name, NS)
    dev_cluster.compact()
    err = api_error(lambda: v1.list_namespaced_config_map(NS, _continue=last.metadata._continue))
    status = json.loads(err.body)
    assert err.status == 410 and "continue" not in status["metadata"]
    assert status["message"].endswith("You can start a new list without the continue parameter.")


def test_kubectl_chunked_get(tmp_path: Path) -> None:
    with DevCluster(tls=True) as cluster:
        api_client = api_client_for(cluster)
        try:
            core = client.CoreV1Api(api_client)
            for i in range(5):
                make(core, f"cm{i}")
        finally:
            api_client.close()
        env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
        env.pop("KUBECONFIG", None)
        proc = subprocess.run(
            ["kubectl", "--kubeconfig", cluster.kubeconfig, "get", "configmaps", "--chunk-size=2", "-o", "name"],
            capture_output=True, text=True, env=env, timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [f"configmap/cm{i}" for i in range(5)]
