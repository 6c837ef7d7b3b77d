"""Informer against the dev cluster: add/update/delete reach handlers and the cache, index lookups
find dependants, a transform (metadata_only) shrinks what is cached from the list and from the watch
alike, 410 Gone makes it relist, and a restarted API server (state file, new token) is
survived: the informer reconnects, relists, and reports the deletion it missed while disconnected."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tests.support.polling import poll
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import CONFIGMAPS, SECRETS
from tfcontroller.runtime.informer import Informer, metadata_only


def cm(name: str, data: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {}}, "data": data or {}}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def attach(self, inf: Informer) -> None:
        inf.add_handler(
            on_add=lambda o: self._rec("add", o),
            on_update=lambda old, new: self._rec("update", new),
            on_delete=lambda o: self._rec("delete", o),
        )

    def _rec(self, kind: str, obj: dict) -> None:
        with self.lock:
            self.events.append((kind, obj["metadata"]["name"]))

    def has(self, kind: str, name: str) -> bool:
        with self.lock:
            return (kind, name) in self.events


def test_add_update_delete_and_index(kube: KubeClient) -> None:
    kube.create(CONFIGMAPS, cm("pre", {"ref": "src-1"}))
    inf = Informer(kube, CONFIGMAPS, namespace="default", watch_timeout=5)
    inf.add_index("ref", lambda o: [o.get("data", {}).get("ref", "")] if o.get("data", {}).get("ref") else [])
    rec = Recorder()
    rec.attach(inf)
    inf.start()
    try:
        assert inf.wait_synced(10)
        assert rec.has("add", "pre")
        kube.create(CONFIGMAPS, cm("dep", {"ref": "src-1"}))
        assert poll(lambda: rec.has("add", "dep"))
        assert [o["metadata"]["name"] for o in inf.by_index("ref", "src-1")] == ["dep", "pre"]
        kube.patch(CONFIGMAPS, "dep", {"data": {"ref": "src-2"}}, "default")
        assert poll(lambda: rec.has("update", "dep"))
        assert inf.keys_by_index("ref", "src-1") == ["default/pre"]
        assert inf.keys_by_index("ref", "src-2") == ["default/dep"]
        assert inf.get("dep", "default")["data"]["ref"] == "src-2"
        kube.delete(CONFIGMAPS, "dep", "default")
        assert poll(lambda: rec.has("delete", "dep"))
        assert inf.get("dep", "default") is None
        assert inf.keys_by_index("ref", "src-2") == []
    finally:
        inf.stop()


def test_metadata_only_transform_caches_no_data(kube: KubeClient) -> None:
    def secret(name: str) -> dict:
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": "default", "labels": {"a": "b"},
                             "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"}},
                "stringData": {"token": "s3cr3t-value"}}

    kube.create(SECRETS, secret("listed"))
    inf = Informer(kube, SECRETS, namespace="default", watch_timeout=5, transform=metadata_only)
    inf.add_index("name", lambda o: [o["metadata"]["name"]])
    rec = Recorder()
    rec.attach(inf)
    inf.start()
    try:
        assert inf.wait_synced(10)
        kube.create(SECRETS, secret("watched"))
        assert poll(lambda: rec.has("add", "watched"))
        kube.patch(SECRETS, "watched", {"stringData": {"token": "rotated"}}, "default")
        assert poll(lambda: rec.has("update", "watched"))
        for name in ("listed", "watched"):
            cached = inf.get(name, "default")
            assert cached is not None and "data" not in cached and "s3cr3t" not in json.dumps(cached)
            assert set(cached["metadata"]) <= {"name", "namespace", "uid", "resourceVersion", "labels",
                                               "creationTimestamp", "generation"}
            assert cached["metadata"]["resourceVersion"] and cached["metadata"]["labels"] == {"a": "b"}
            assert (cached["kind"], cached["type"]) == ("Secret", "Opaque")
        assert inf.keys_by_index("name", "watched") == ["default/watched"]
    finally:
        inf.stop()


def test_relists_after_410_gone() -> None:
    # No bookmarks, and a selector the unrelated writes do not match: the informer's resourceVersion
    # stays behind, so after compaction its next watch (1 s server timeout) is answered 410.
    with DevCluster(bookmark_interval=3600) as cluster:
        kube = KubeClient.load(cluster.kubeconfig)
        kube.create(CONFIGMAPS, cm("mine", labels={"app": "watched"}))
        inf = Informer(kube, CONFIGMAPS, namespace="default", label_selector="app=watched", watch_timeout=1)
        rec = Recorder()
        rec.attach(inf)
        inf.start()
        try:
            assert inf.wait_synced(10)
            assert inf.relists == 1
            for i in range(3):
                kube.create(CONFIGMAPS, cm(f"other{i}"))
            cluster.compact()
            assert poll(lambda: inf.relists >= 2, timeout=15), "informer did not relist after 410"
            kube.patch(CONFIGMAPS, "mine", {"data": {"x": "1"}}, "default")
            assert poll(lambda: rec.has("update", "mine"))
            assert [o["metadata"]["name"] for o in inf.list()] == ["mine"]
        finally:
            inf.stop()
            kube.close()


def test_survives_api_server_restart_and_reports_missed_delete(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    kubeconfig = tmp_path / "kubeconfig"
    first = DevCluster(state_file=state, kubeconfig=kubeconfig).start()
    port = first.port
    kube = KubeClient.load(str(kubeconfig))
    inf = Informer(kube, CONFIGMAPS, namespace="default", watch_timeout=30)
    rec = Recorder()
    rec.attach(inf)
    second: DevCluster | None = None
    try:
        kube.create(CONFIGMAPS, cm("keep"))
        kube.create(CONFIGMAPS, cm("vanish"))
        inf.start()
        assert inf.wait_synced(10)
        first.stop()
        # While the server is down, "vanish" disappears from its persisted state.
        doc = json.loads(state.read_text())
        doc["objects"] = [e for e in doc["objects"] if e["object"]["metadata"]["name"] != "vanish"]
        state.write_text(json.dumps(doc))
        second = DevCluster(port=port, state_file=state, kubeconfig=kubeconfig).start()
        assert poll(lambda: rec.has("delete", "vanish"), timeout=20), rec.events
        assert inf.get("keep", "default") is not None
        kube.create(CONFIGMAPS, cm("fresh"))
        assert poll(lambda: rec.has("add", "fresh"))
    finally:
        inf.stop()
        kube.close()
        first.stop()
        if second is not None:
            second.stop()
