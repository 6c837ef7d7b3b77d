"""The shared finalizer helper against the dev cluster: it adds and releases ours guarded by the
resourceVersion read, survives a concurrent writer (a real 409 Conflict: re-read, decide again, the
other writer's finalizer kept), gives up after its bounded attempts, and treats a gone object as
released."""

from __future__ import annotations

import pytest

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Conflict, NotFound
from tfcontroller.kube.resources import CONFIGMAPS
from tfcontroller.runtime.finalizers import ensure_finalizer, release_finalizer

OURS = "tfcontroller.io/finalizer"
OTHER = "example.com/other"


def configmap(kube: KubeClient, name: str, finalizers: list[str] | None = None) -> dict:
    meta: dict = {"name": name, "namespace": "default"}
    if finalizers:
        meta["finalizers"] = finalizers
    return kube.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}})


def finalizers_of(kube: KubeClient, name: str) -> list[str]:
    return list(kube.get(CONFIGMAPS, name, "default")["metadata"].get("finalizers") or [])


def clear(kube: KubeClient, name: str) -> None:
    kube.patch(CONFIGMAPS, name, {"metadata": {"finalizers": None}}, "default")
    kube.delete(CONFIGMAPS, name, "default")


def test_ensure_adds_once_and_keeps_others(kube: KubeClient) -> None:
    cm = configmap(kube, "fin-add", [OTHER])
    written = ensure_finalizer(kube, CONFIGMAPS, cm, OURS)
    assert written["metadata"]["finalizers"] == [OTHER, OURS]
    again = ensure_finalizer(kube, CONFIGMAPS, written, OURS)  # already there: nothing written
    assert again["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"]
    clear(kube, "fin-add")


def test_ensure_survives_a_concurrent_writer(kube: KubeClient) -> None:
    stale = configmap(kube, "fin-race")
    kube.patch(CONFIGMAPS, "fin-race", {"metadata": {"finalizers": [OTHER]}}, "default")  # our read is now stale
    written = ensure_finalizer(kube, CONFIGMAPS, stale, OURS)
    assert written["metadata"]["finalizers"] == [OTHER, OURS]  # the other writer's finalizer survived
    assert finalizers_of(kube, "fin-race") == [OTHER, OURS]
    clear(kube, "fin-race")


def test_ensure_after_a_concurrent_add_of_ours_writes_nothing(kube: KubeClient) -> None:
    stale = configmap(kube, "fin-twice")
    fresh = kube.patch(CONFIGMAPS, "fin-twice", {"metadata": {"finalizers": [OURS]}}, "default")
    got = ensure_finalizer(kube, CONFIGMAPS, stale, OURS)
    assert got["metadata"]["resourceVersion"] == fresh["metadata"]["resourceVersion"]
    clear(kube, "fin-twice")


def test_ensure_gives_up_after_its_attempts(kube: KubeClient) -> None:
    stale = configmap(kube, "fin-giveup")
    kube.patch(CONFIGMAPS, "fin-giveup", {"data": {"k": "changed"}}, "default")
    with pytest.raises(Conflict):
        ensure_finalizer(kube, CONFIGMAPS, stale, OURS, attempts=1)  # bounded: no retry left
    assert finalizers_of(kube, "fin-giveup") == []
    kube.delete(CONFIGMAPS, "fin-giveup", "default")


def test_ensure_on_a_gone_object_raises_not_found(kube: KubeClient) -> None:
    cm = configmap(kube, "fin-gone")
    kube.delete(CONFIGMAPS, "fin-gone", "default")
    with pytest.raises(NotFound):
        ensure_finalizer(kube, CONFIGMAPS, cm, OURS)


def test_release_lets_the_deletion_finish_and_keeps_others(kube: KubeClient) -> None:
    configmap(kube, "fin-rel", [OURS, OTHER])
    kube.delete(CONFIGMAPS, "fin-rel", "default")  # held by both finalizers
    stale = kube.get(CONFIGMAPS, "fin-rel", "default")
    kube.patch(CONFIGMAPS, "fin-rel", {"metadata": {"labels": {"touched": "yes"}}}, "default")  # a concurrent write
    written = release_finalizer(kube, CONFIGMAPS, stale, OURS)
    assert written is not None and written["metadata"]["finalizers"] == [OTHER]
    assert release_finalizer(kube, CONFIGMAPS, written, OURS) == written  # already gone: nothing written
    released = release_finalizer(kube, CONFIGMAPS, written, OTHER)  # the last one: the object goes
    assert released is None or not released["metadata"].get("finalizers")
    assert kube.get_or_none(CONFIGMAPS, "fin-rel", "default") is None
    assert release_finalizer(kube, CONFIGMAPS, stale, OURS) is None  # gone: nothing to release
