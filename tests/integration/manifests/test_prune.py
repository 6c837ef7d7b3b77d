"""`manifests.prune.prune` on the dev cluster with a claimant: an object another
ManifestSet declares is kept and retained in the inventory; the claimant is asked only about objects
still ours (not about opted-out or foreign ones); an object whose new owner applies it between the
decision and the delete survives (the delete is conditional on the resourceVersion decided on)."""

from __future__ import annotations

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import CONFIGMAPS
from tfcontroller.manifests.inventory import InventoryEntry, entry_for
from tfcontroller.manifests.normalize import owner_labels
from tfcontroller.manifests.prune import prune

OWNER = owner_labels("old", "default")
NEW_OWNER = owner_labels("new", "default")


def cm(kube: KubeClient, name: str, labels: dict[str, str], **annotations: str) -> InventoryEntry:
    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": "default", "labels": labels, "annotations": annotations}}
    return entry_for(kube.apply(obj, field_manager="tfcontroller", force=True))


def test_claimed_objects_are_kept_and_retained(kube: KubeClient) -> None:
    moved, gone = cm(kube, "moved", OWNER), cm(kube, "gone", OWNER)
    optout = cm(kube, "optout", OWNER, **{"tfcontroller.io/prune": "disabled"})
    foreign = cm(kube, "foreign", NEW_OWNER)
    asked: list[str] = []

    def claimant(entry: InventoryEntry) -> str | None:
        asked.append(entry.name)
        return "ManifestSet default/new" if entry == moved else None

    result = prune(kube, [moved, gone, optout, foreign], OWNER, claimant)
    assert sorted(asked) == ["gone", "moved"]
    assert result.deleted == ["ConfigMap/default/gone"]
    assert result.retained == [moved]
    assert "ConfigMap/default/moved: declared by ManifestSet default/new" in result.kept
    assert kube.get_or_none(CONFIGMAPS, "moved", "default") is not None
    assert kube.get_or_none(CONFIGMAPS, "optout", "default") is not None
    assert kube.get_or_none(CONFIGMAPS, "foreign", "default") is not None


def test_takeover_while_pruning_is_not_deleted(kube: KubeClient) -> None:
    entry = cm(kube, "raced", OWNER)
    uid = kube.get(CONFIGMAPS, "raced", "default")["metadata"]["uid"]

    def new_owner_applies_meanwhile(e: InventoryEntry) -> str | None:
        cm(kube, "raced", NEW_OWNER)
        return None

    result = prune(kube, [entry], OWNER, new_owner_applies_meanwhile)
    assert result.deleted == [] and result.retained == [entry]
    live = kube.get(CONFIGMAPS, "raced", "default")
    assert live["metadata"]["uid"] == uid and live["metadata"]["labels"] == NEW_OWNER
    assert prune(kube, [entry], OWNER).kept == ["ConfigMap/default/raced: no longer ours"]  # next time: let go
