"""The development API server's garbage collector (gc.py) through the official Python client and
kubectl: references to uids that never existed are collected by the background sweep, references to
gone owners are dropped while another owner lives, foreground deletion (owner marked with the
`foregroundDeletion` finalizer, removed after its blocking dependents, chains, non-blocking dependents
not waited for), orphan deletion, bad policies, the sweep thread stopping with the server, and an idle
server doing no sweep at all (issue 21)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.devcluster import api_client_for
from tests.support.polling import wait_for
from tfcontroller.dev.cluster import DevCluster

pytestmark = pytest.mark.timeout(60)
NS = "default"


def exists(v1: client.CoreV1Api, name: str) -> bool:
    try:
        v1.read_namespaced_config_map(name, NS)
    except client.ApiException as exc:
        assert exc.status == 404
        return False
    return True


def ref(obj: Any, block: bool | None = None) -> dict[str, Any]:
    out = {"apiVersion": "v1", "kind": "ConfigMap", "name": obj.metadata.name, "uid": obj.metadata.uid}
    if block is not None:
        out["blockOwnerDeletion"] = block
    return out


def cm(name: str, owners: list[dict[str, Any]] | None = None, finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owners:
        meta["ownerReferences"] = owners
    if finalizers:
        meta["finalizers"] = finalizers
    return {"metadata": meta, "data": {"k": "v"}}


def drop_finalizers(v1: client.CoreV1Api, name: str) -> None:
    v1.patch_namespaced_config_map(name, NS, {"metadata": {"finalizers": None}})


@pytest.fixture
def v1(dev_api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(dev_api_client)


def foreground(v1: client.CoreV1Api, name: str) -> Any:
    return v1.delete_namespaced_config_map(name, NS, body=client.V1DeleteOptions(propagation_policy="Foreground"))


# ------------------------------------------------------------------------------------ dangling owners


def test_reference_to_a_uid_that_never_existed_is_collected_in_the_background(v1: client.CoreV1Api) -> None:
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": str(uuid.uuid4())}
    v1.create_namespaced_config_map(NS, cm("orphaned", [ghost]))
    v1.create_namespaced_config_map(NS, cm("plain"))
    wait_for(lambda: not exists(v1, "orphaned"))  # nobody deleted anything: the sweep thread did it
    assert exists(v1, "plain")


def test_dangling_reference_is_dropped_while_another_owner_lives(dev_cluster: DevCluster, v1: client.CoreV1Api) -> None:
    owner = v1.create_namespaced_config_map(NS, cm("owner"))
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": str(uuid.uuid4())}
    v1.create_namespaced_config_map(NS, cm("dep", [ghost, ref(owner)]))
    assert dev_cluster.gc.sweep() >= 1
    refs = v1.read_namespaced_config_map("dep", NS).metadata.owner_references
    assert [r.uid for r in refs] == [owner.metadata.uid]
    assert dev_cluster.gc.sweep() == 0  # nothing left to do


def test_dangling_dependent_with_a_finalizer_is_marked_not_removed(dev_cluster: DevCluster, v1: client.CoreV1Api) -> None:
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": str(uuid.uuid4())}
    v1.create_namespaced_config_map(NS, cm("held", [ghost], ["example.com/hold"]))
    dev_cluster.gc.sweep()
    assert v1.read_namespaced_config_map("held", NS).metadata.deletion_timestamp is not None
    drop_finalizers(v1, "held")
    assert not exists(v1, "held")


# ------------------------------------------------------------------------------------------ foreground


def test_foreground_owner_waits_for_blocking_dependents(v1: client.CoreV1Api) -> None:
    owner = v1.create_namespaced_config_map(NS, cm("owner"))
    v1.create_namespaced_config_map(NS, cm("blocker", [ref(owner, True)], ["example.com/hold"]))
    v1.create_namespaced_config_map(NS, cm("loose", [ref(owner, False)], ["example.com/hold"]))
    answer = foreground(v1, "owner")  # the object, marked (the client's V1Status model leaves it a dict)
    assert answer["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in answer["metadata"]["finalizers"]
    wait_for(lambda: v1.read_namespaced_config_map("blocker", NS).metadata.deletion_timestamp)
    wait_for(lambda: v1.read_namespaced_config_map("loose", NS).metadata.deletion_timestamp)
    assert exists(v1, "owner")  # held by the blocking dependent
    drop_finalizers(v1, "blocker")
    wait_for(lambda: not exists(v1, "owner"))  # the non-blocking one is not waited for
    assert exists(v1, "loose")
    drop_finalizers(v1, "loose")
    assert not exists(v1, "loose")


def test_foreground_chain_is_deleted_bottom_up(v1: client.CoreV1Api) -> None:
    top = v1.create_namespaced_config_map(NS, cm("top"))
    middle = v1.create_namespaced_config_map(NS, cm("middle", [ref(top, True)]))
    v1.create_namespaced_config_map(NS, cm("bottom", [ref(middle, True)], ["example.com/hold"]))
    foreground(v1, "top")
    wait_for(lambda: v1.read_namespaced_config_map("bottom", NS).metadata.deletion_timestamp)
    mid = v1.read_namespaced_config_map("middle", NS)  # deleted in the foreground too: it has a dependent
    assert mid.metadata.deletion_timestamp and "foregroundDeletion" in mid.metadata.finalizers
    assert exists(v1, "top")
    drop_finalizers(v1, "bottom")
    wait_for(lambda: not exists(v1, "top"))
    assert not exists(v1, "middle")


def test_foreground_without_dependents_and_other_finalizers(v1: client.CoreV1Api) -> None:
    v1.create_namespaced_config_map(NS, cm("alone"))
    foreground(v1, "alone")
    wait_for(lambda: not exists(v1, "alone"))
    v1.create_namespaced_config_map(NS, cm("kept", finalizers=["example.com/hold"]))
    foreground(v1, "kept")
    wait_for(lambda: v1.read_namespaced_config_map("kept", NS).metadata.finalizers == ["example.com/hold"])
    drop_finalizers(v1, "kept")
    assert not exists(v1, "kept")


# ------------------------------------------------------------------------------------- orphan, errors


def test_orphan_removes_only_the_reference_to_the_deleted_owner(dev_cluster: DevCluster, v1: client.CoreV1Api) -> None:
    owner = v1.create_namespaced_config_map(NS, cm("owner"))
    other = v1.create_namespaced_config_map(NS, cm("other"))
    v1.create_namespaced_config_map(NS, cm("only", [ref(owner)]))
    v1.create_namespaced_config_map(NS, cm("both", [ref(owner), ref(other)]))
    v1.delete_namespaced_config_map("owner", NS, body=client.V1DeleteOptions(propagation_policy="Orphan"))
    dev_cluster.gc.sweep()
    assert not exists(v1, "owner")
    assert v1.read_namespaced_config_map("only", NS).metadata.owner_references is None
    assert [r.uid for r in v1.read_namespaced_config_map("both", NS).metadata.owner_references] == [other.metadata.uid]


def test_unknown_propagation_policy_is_400(v1: client.CoreV1Api) -> None:
    v1.create_namespaced_config_map(NS, cm("x"))
    with pytest.raises(client.ApiException) as err:
        v1.delete_namespaced_config_map("x", NS, body=client.V1DeleteOptions(propagation_policy="Sideways"))
    assert err.value.status == 400 and "Unsupported value" in err.value.body
    assert exists(v1, "x")


def test_sweep_thread_stops_with_the_server() -> None:
    cluster = DevCluster(gc_interval=0.05).start()
    assert cluster.gc.running
    cluster.stop()
    assert not cluster.gc.running


def test_an_idle_server_sweeps_nothing_and_a_write_wakes_the_sweep() -> None:
    """Issue 21: the sweep ran every second over every owner and every object, so an idle dev cluster's CPU
    grew with what it held. The thread now sweeps only when the store was written since its last sweep:
    counted over many wake-ups with owners, dependents and a foreground deletion in progress stored,
    and then one write (a dependent of a uid that never existed) is still collected."""
    with DevCluster(gc_interval=0.01) as cluster:
        v1 = client.CoreV1Api(api_client_for(cluster))
        owners = [v1.create_namespaced_config_map(NS, cm(f"owner-{i}")) for i in range(20)]
        for i, owner in enumerate(owners):
            keep = ["example.com/keep"] if i == 0 else None  # dep-0 keeps owner-0 in foreground deletion
            v1.create_namespaced_config_map(NS, cm(f"dep-{i}", [ref(owner, block=True)], finalizers=keep))
        foreground(v1, "owner-0")
        gc, store = cluster.gc, cluster.store
        last = {"rv": store.rv, "ticks": gc.ticks}

        def quiet() -> bool:  # 30 wake-ups since the store was last written
            if store.rv != last["rv"]:
                last.update(rv=store.rv, ticks=gc.ticks)
                return False
            return gc.ticks >= last["ticks"] + 30

        wait_for(quiet)
        ticks, sweeps, rv = gc.ticks, gc.sweeps, store.rv
        wait_for(lambda: gc.ticks >= ticks + 50)
        assert (gc.sweeps, store.rv) == (sweeps, rv), "the collector swept an unchanged store"
        assert exists(v1, "owner-0") and exists(v1, "dep-0")  # still waiting: nothing was lost by not sweeping
        ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": str(uuid.uuid4())}
        v1.create_namespaced_config_map(NS, cm("orphaned", [ghost]))
        wait_for(lambda: not exists(v1, "orphaned"))  # a write wakes the sweep
        assert gc.sweeps > sweeps
        drop_finalizers(v1, "dep-0")  # and the foreground deletion finishes after its blocking dependent
        wait_for(lambda: not exists(v1, "owner-0"))
        assert exists(v1, "owner-1") and exists(v1, "dep-1")


# ------------------------------------------------------------------------------------------- kubectl


def test_kubectl_delete_cascade_foreground_waits_for_dependents(tmp_path: Path) -> None:
    with DevCluster(tls=True) as cluster:
        api_client = api_client_for(cluster)
        try:
            core = client.CoreV1Api(api_client)
            owner = core.create_namespaced_config_map(NS, cm("owner"))
            core.create_namespaced_config_map(NS, cm("dep", [ref(owner, True)]))
        finally:
            api_client.close()
        env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
        env.pop("KUBECONFIG", None)
        proc = subprocess.run(
            ["kubectl", "--kubeconfig", cluster.kubeconfig, "delete", "configmap", "owner", "--cascade=foreground"],
            capture_output=True, text=True, env=env, timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        assert 'configmap "owner" deleted' in proc.stdout
        got = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "get", "configmaps", "-o", "name"],
                             capture_output=True, text=True, env=env, timeout=30)
        assert "configmap/owner" not in got.stdout and "configmap/dep" not in got.stdout
