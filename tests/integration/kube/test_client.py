"""KubeClient against the dev cluster: CRUD on any resource, the four patch types, status patches with
optimistic concurrency, typed errors (NotFound, AlreadyExists, Conflict, Unprocessable with causes),
watches (including 410 Gone), Secret helpers that keep data out of errors, discovery, Events with
aggregated repeats."""

from __future__ import annotations

import base64
import threading

import pytest

from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import AlreadyExists, Conflict, Forbidden, Gone, NotFound, Unprocessable
from tfcontroller.kube.events import EventRecorder
from tfcontroller.kube.resources import CONFIGMAPS, CRDS, EVENTS, SECRETS, Resource

WIDGETS = Resource("example.com/v1", "Widget", "widgets")


def cm(name: str, data: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {}}, "data": data or {}}


def widget_crd() -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                }}},
            }],
        },
    }


def test_crud_and_typed_errors(kube: KubeClient) -> None:
    created = kube.create(CONFIGMAPS, cm("a", {"k": "v"}))
    assert created["metadata"]["uid"]
    with pytest.raises(AlreadyExists):
        kube.create(CONFIGMAPS, cm("a"))
    got = kube.get(CONFIGMAPS, "a", "default")
    assert got["data"] == {"k": "v"}
    got["data"]["k"] = "v2"
    replaced = kube.replace(CONFIGMAPS, got)
    assert replaced["data"]["k"] == "v2"
    with pytest.raises(Conflict):
        kube.replace(CONFIGMAPS, got)  # stale resourceVersion
    kube.delete(CONFIGMAPS, "a", "default")
    with pytest.raises(NotFound):
        kube.get(CONFIGMAPS, "a", "default")
    assert kube.get_or_none(CONFIGMAPS, "a", "default") is None


def test_list_with_selector_and_pages(kube: KubeClient) -> None:
    for i in range(5):
        kube.create(CONFIGMAPS, cm(f"c{i}", labels={"tier": "odd" if i % 2 else "even"}))
    items, rv = kube.list_all(CONFIGMAPS, "default", label_selector="tier=odd", page_size=1)
    assert sorted(i["metadata"]["name"] for i in items) == ["c1", "c3"]
    assert rv
    assert all(i["kind"] == "ConfigMap" for i in items)


def test_patch_types(kube: KubeClient) -> None:
    kube.create(CONFIGMAPS, cm("p", {"a": "1"}))
    out = kube.patch(CONFIGMAPS, "p", {"data": {"b": "2"}}, "default")
    assert out["data"] == {"a": "1", "b": "2"}
    out = kube.patch(CONFIGMAPS, "p", [{"op": "remove", "path": "/data/a"}], "default", patch_type="json")
    assert out["data"] == {"b": "2"}
    out = kube.patch(CONFIGMAPS, "p", {"data": {"c": "3"}}, "default", patch_type="strategic")
    assert out["data"] == {"b": "2", "c": "3"}
    applied = kube.apply(cm("q", {"x": "1"}), field_manager="tfcontroller", force=True)
    assert applied["data"] == {"x": "1"}
    with pytest.raises(ValueError):
        kube.patch(CONFIGMAPS, "p", {}, "default", patch_type="apply")


def test_custom_resource_status_and_discovery(kube: KubeClient) -> None:
    kube.create(CRDS, widget_crd())
    res = kube.resource_for("example.com/v1", "Widget")
    assert res == WIDGETS
    w = kube.create(WIDGETS, {"apiVersion": "example.com/v1", "kind": "Widget",
                              "metadata": {"name": "w", "namespace": "default"}, "spec": {"size": 1}})
    rv = w["metadata"]["resourceVersion"]
    out = kube.patch_status(WIDGETS, "w", "default", {"phase": "Ready"}, resource_version=rv)
    assert out["status"] == {"phase": "Ready"}
    assert out["spec"] == {"size": 1}
    with pytest.raises(Conflict):
        kube.patch_status(WIDGETS, "w", "default", {"phase": "Old"}, resource_version=rv)
    with pytest.raises(Unprocessable) as err:
        kube.patch(WIDGETS, "w", {"spec": {"size": "big"}}, "default")
    assert "spec.size" in str(err.value) or any("size" in c.field for c in err.value.causes)
    with pytest.raises(NotFound):
        kube.resource_for("example.com/v1", "Gadget")


def test_secret_helpers_and_no_data_in_errors(kube: KubeClient) -> None:
    kube.upsert_secret("default", "s", {"password": b"hunter2-secret"}, labels={"a": "1"})
    assert kube.read_secret_data("default", "s") == {"password": b"hunter2-secret"}
    kube.upsert_secret("default", "s", {"password": b"rotated-secret"}, labels={"b": "2"})
    obj = kube.get(SECRETS, "s", "default")
    assert obj["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert base64.b64decode(obj["data"]["password"]) == b"rotated-secret"
    bad = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
           "data": {"password": base64.b64encode(b"leaky-value").decode()}}
    with pytest.raises(AlreadyExists) as err:
        kube.create(SECRETS, bad)
    assert "leaky-value" not in str(err.value)
    assert base64.b64encode(b"leaky-value").decode() not in str(err.value)


def test_watch_yields_events_and_gone(kube: KubeClient, dev_cluster: DevCluster) -> None:
    _, rv = kube.list_all(CONFIGMAPS, "default")
    stream = kube.watch(CONFIGMAPS, "default", resource_version=rv, timeout_seconds=5, allow_bookmarks=False)
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def consume() -> None:
        for etype, obj in stream:
            seen.append((etype, obj["metadata"]["name"]))
            if etype == "DELETED":
                done.set()
                stream.close()

    t = threading.Thread(target=consume)
    t.start()
    kube.create(CONFIGMAPS, cm("w1"))
    kube.patch(CONFIGMAPS, "w1", {"data": {"a": "b"}}, "default")
    kube.delete(CONFIGMAPS, "w1", "default")
    assert done.wait(10)
    t.join(5)
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]

    kube.create(CONFIGMAPS, cm("w2"))
    dev_cluster.compact()
    with pytest.raises(Gone):
        for _ in kube.watch(CONFIGMAPS, "default", resource_version=rv, timeout_seconds=2):
            pass


def test_watch_close_from_another_thread_ends_iteration(kube: KubeClient) -> None:
    stream = kube.watch(CONFIGMAPS, "default", timeout_seconds=60, allow_bookmarks=False)
    finished = threading.Event()

    def consume() -> None:
        for _ in stream:
            pass
        finished.set()

    t = threading.Thread(target=consume)
    t.start()
    stream.close()
    assert finished.wait(10)


def test_events_are_aggregated(kube: KubeClient) -> None:
    obj = kube.create(CONFIGMAPS, cm("subject"))
    obj.setdefault("apiVersion", "v1")
    obj.setdefault("kind", "ConfigMap")
    rec = EventRecorder(kube, component="tfcontroller-test")
    first = rec.warning(obj, "FetchFailed", "could not fetch")
    rec.warning(obj, "FetchFailed", "could not fetch")
    rec.normal(obj, "Recovered", "fetched")
    events, _ = kube.list_all(EVENTS, "default")
    mine = sorted((e["reason"], e["count"], e["type"]) for e in events if e["involvedObject"]["name"] == "subject")
    assert mine == [("FetchFailed", 2, "Warning"), ("Recovered", 1, "Normal")]
    assert first is not None and first["involvedObject"]["uid"] == obj["metadata"]["uid"]


def test_impersonating_client_sends_impersonation_headers(kube: KubeClient) -> None:
    other = kube.impersonating("system:serviceaccount:apps:deployer")
    headers = other._headers(None)
    assert headers["Impersonate-User"] == "system:serviceaccount:apps:deployer"
    assert "Impersonate-User" not in kube._headers(None)
    # The request goes through the shared pool and the server sees the impersonated identity: the dev
    # cluster authorises impersonated service accounts by RBAC, and this one has no binding.
    with pytest.raises(Forbidden) as err:
        other.get(CONFIGMAPS, "missing", "default")
    assert "system:serviceaccount:apps:deployer" in str(err.value)
    with pytest.raises(NotFound):  # the controller's own identity is not restricted
        kube.get(CONFIGMAPS, "missing", "default")
