"""Inventory ids and the prune diff (pure)."""

from tfcontroller.manifests.inventory import entry_for, from_status, stale_entries, to_status


def test_ids_follow_flux_format() -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}
    assert entry_for(dep).id == "prod_web_apps_Deployment"
    assert entry_for(dep).version == "v1"
    assert entry_for(ns).id == "_prod__Namespace"
    assert entry_for(ns).api_version == "v1"
    assert entry_for(dep).api_version == "apps/v1"


def test_stale_entries_are_previous_minus_current() -> None:
    a = entry_for({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "x"}})
    b = entry_for({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "x"}})
    assert stale_entries([a, b], [a]) == [b]
    assert stale_entries([a], [a, b]) == []
    assert from_status(to_status([b, a, a])) == [a, b]
