"""Lists by namespace and label on a store of 1,200 objects, through the real clients: the indexed read
paths (store.py `view_list`, the serialise-once cache) answer what the API defines, at scale.

- a label- and/or namespace-selected list holds exactly the matching objects, in (namespace, name) order,
  each at a resourceVersion no newer than the list's; its JSON is the objects' JSON (after a change too:
  the cache serves the new version);
- paged lists by label across namespaces (`limit`/`continue`) come from one snapshot although objects are
  changed, relabelled out of the selector, deleted and created between the pages;
- `remainingItemCount` is sent without selectors only (the real server's rule), and is then exact;
- kubectl's chunked `get -l` across namespaces lists every match once;
- a watch by label from a list's resourceVersion sees an object relabelled into the selector as ADDED, out
  of it as DELETED, and its bookmarks carry resourceVersions not older than the list's.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from tests.fixtures.devcluster import admin_session, api_client_for
from tfcontroller.dev.cluster import DevCluster

pytestmark = pytest.mark.timeout(120)
SPACES, PER_SPACE = 12, 100  # 1,200 ConfigMaps


def app_of(i: int) -> str:
    return f"a{i % 7}"


@pytest.fixture(scope="module")
def cluster() -> Iterator[DevCluster]:
    with DevCluster(tls=True) as dev:
        info = dev.registry.lookup("", "v1", "configmaps")
        namespaces = dev.registry.lookup("", "v1", "namespaces")
        assert info is not None and namespaces is not None
        for s in range(SPACES):
            dev.api.create(namespaces, None, {"metadata": {"name": f"s{s}"}})
            for i in range(PER_SPACE):  # in-process: the same create path as a request, minus HTTP
                dev.api.create(info, f"s{s}", {"metadata": {"name": f"cm{i:03d}", "labels": {
                    "app": app_of(i), "space": f"s{s}"}}, "data": {"i": str(i)}})
        yield dev


@pytest.fixture
def v1(cluster: DevCluster) -> Iterator[client.CoreV1Api]:
    api_client = api_client_for(cluster)
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


def keys(listed: Any) -> list[tuple[str, str]]:
    return [(o.metadata.namespace, o.metadata.name) for o in listed.items]


Labels = dict[str, str]
CASES: list[tuple[str | None, str | None, Callable[[Labels], bool]]] = [
    (None, "app=a3", lambda lb: lb.get("app") == "a3"),
    ("s4", "app=a3", lambda lb: lb.get("app") == "a3"),
    ("s4", None, lambda lb: True),
    (None, "app in (a1,a2),space=s9", lambda lb: lb.get("app") in ("a1", "a2") and lb.get("space") == "s9"),
    ("s5", "app!=a1", lambda lb: lb.get("app") != "a1"),
    (None, "app=a3,space notin (s0,s1)", lambda lb: lb.get("app") == "a3" and lb.get("space") not in ("s0", "s1")),
    ("s6", "app=none", lambda lb: False),
    ("missing", "app=a1", lambda lb: True),
]


def test_selected_lists_hold_exactly_the_matches_in_order(v1: client.CoreV1Api) -> None:
    everything = v1.list_config_map_for_all_namespaces(label_selector="space")
    assert len(everything.items) == SPACES * PER_SPACE
    by_key = {(o.metadata.namespace, o.metadata.name): o for o in everything.items}
    for namespace, selector, wanted in CASES:
        if namespace is None:
            listed = v1.list_config_map_for_all_namespaces(label_selector=selector)
        else:
            listed = v1.list_namespaced_config_map(namespace, label_selector=selector)
        want = sorted(k for k, o in by_key.items() if (namespace is None or k[0] == namespace)
                      and wanted(o.metadata.labels))
        assert keys(listed) == want, (namespace, selector)
        list_rv = int(listed.metadata.resource_version)
        assert all(int(o.metadata.resource_version) <= list_rv for o in listed.items)


def test_list_json_is_each_objects_json_and_follows_changes(cluster: DevCluster, v1: client.CoreV1Api) -> None:
    session = admin_session(cluster)
    url = f"{cluster.url}/api/v1/namespaces/s3/configmaps?labelSelector=app%3Da2"
    first = session.get(url).json()
    for item in first["items"]:
        got = session.get(f"{cluster.url}/api/v1/namespaces/s3/configmaps/{item['metadata']['name']}").json()
        assert got == item and item["kind"] == "ConfigMap" and item["apiVersion"] == "v1"
    assert first["kind"] == "ConfigMapList" and first["apiVersion"] == "v1"
    name = first["items"][0]["metadata"]["name"]
    v1.patch_namespaced_config_map(name, "s3", {"data": {"i": "changed"}})
    again = {o["metadata"]["name"]: o for o in session.get(url).json()["items"]}
    assert again[name]["data"] == {"i": "changed"}
    assert int(again[name]["metadata"]["resourceVersion"]) > int(first["items"][0]["metadata"]["resourceVersion"])


def test_pages_by_label_across_namespaces_come_from_one_snapshot(v1: client.CoreV1Api) -> None:
    selector = "app=a5"
    whole = v1.list_config_map_for_all_namespaces(label_selector=selector)
    first = v1.list_config_map_for_all_namespaces(label_selector=selector, limit=40)
    assert first.metadata.remaining_item_count is None  # as the real server: unknown with a selector
    page_keys = keys(first)
    later = [k for k in keys(whole) if k not in page_keys]
    changed, relabelled, deleted = later[0], later[1], later[2]
    v1.patch_namespaced_config_map(changed[1], changed[0], {"data": {"i": "after the first page"}})
    v1.patch_namespaced_config_map(relabelled[1], relabelled[0], {"metadata": {"labels": {"app": "moved"}}})
    v1.delete_namespaced_config_map(deleted[1], deleted[0])
    v1.create_namespaced_config_map("s0", {"metadata": {"name": "zz-new", "labels": {"app": "a5"}}})
    token, pages = first.metadata._continue, [first]
    while token:
        page = v1.list_config_map_for_all_namespaces(label_selector=selector, limit=40, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        pages.append(page)
        token = page.metadata._continue
    items = [o for p in pages for o in p.items]
    assert [(o.metadata.namespace, o.metadata.name) for o in items] == keys(whole)
    data = {(o.metadata.namespace, o.metadata.name): o.data for o in items}
    assert data[changed] != {"i": "after the first page"}  # the snapshot's version, not the new one
    now = keys(v1.list_config_map_for_all_namespaces(label_selector=selector))
    assert relabelled not in now and deleted not in now and ("s0", "zz-new") in now


def test_remaining_item_count_without_selectors(v1: client.CoreV1Api) -> None:
    first = v1.list_config_map_for_all_namespaces(limit=250)
    total = len(v1.list_config_map_for_all_namespaces().items)
    assert first.metadata.remaining_item_count == total - 250
    in_space = v1.list_namespaced_config_map("s2", limit=30)
    assert in_space.metadata.remaining_item_count == PER_SPACE - 30


def test_kubectl_chunked_get_by_label_across_namespaces(cluster: DevCluster, tmp_path: Path) -> None:
    env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)
    proc = subprocess.run(
        ["kubectl", "--kubeconfig", cluster.kubeconfig, "get", "configmaps", "-A", "-l", "app=a6,space=s11",
         "--chunk-size=5", "-o", "name"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [f"configmap/cm{i:03d}" for i in range(PER_SPACE) if app_of(i) == "a6"]


def test_watch_by_label_sees_objects_enter_and_leave(cluster: DevCluster, v1: client.CoreV1Api) -> None:
    listed = v1.list_namespaced_config_map("s7", label_selector="app=watched")
    assert listed.items == []
    list_rv = int(listed.metadata.resource_version)
    seen: list[tuple[str, str, int]] = []
    done = threading.Event()

    def consume() -> None:
        w = watch.Watch()
        for event in w.stream(v1.list_namespaced_config_map, "s7", label_selector="app=watched",
                              resource_version=str(list_rv), allow_watch_bookmarks=True, timeout_seconds=30):
            obj = event["raw_object"]
            seen.append((event["type"], obj["metadata"].get("name", ""), int(obj["metadata"]["resourceVersion"])))
            types = {t for t, _, _ in seen}
            if "DELETED" in types and "BOOKMARK" in types:  # bookmarks come every second
                done.set()
                w.stop()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    v1.patch_namespaced_config_map("cm010", "s7", {"metadata": {"labels": {"app": "watched"}}})
    v1.patch_namespaced_config_map("cm011", "s7", {"data": {"i": "not watched"}})
    v1.patch_namespaced_config_map("cm010", "s7", {"metadata": {"labels": {"app": "gone"}}})
    assert done.wait(60), seen
    thread.join(10)
    changes = [(t, n) for t, n, _ in seen if t != "BOOKMARK"]
    assert changes == [("ADDED", "cm010"), ("DELETED", "cm010")]
    assert all(rv >= list_rv for _, _, rv in seen)
    bookmarks = [rv for t, _, rv in seen if t == "BOOKMARK"]
    assert bookmarks == sorted(bookmarks)


def test_raw_list_is_valid_json_with_every_item(cluster: DevCluster) -> None:
    body = admin_session(cluster).get(f"{cluster.url}/api/v1/configmaps?labelSelector=space%3Ds1").content
    doc = json.loads(body)
    assert len(doc["items"]) == PER_SPACE and doc["metadata"]["resourceVersion"]
