"""Pure prune rules for objects moved between ManifestSets: `decide` keeps an object
another ManifestSet declares, after the opt-out and ownership-label rules; `declared_ids` gives rendered
objects the ids the declaring ManifestSet's namespace rules give them (own namespace, targetNamespace,
the set's namespace, cluster-scoped kinds), so that a claim matches the pruning set's inventory id."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.manifests.normalize import owner_labels
from tfcontroller.manifests.prune import decide, declared_ids

OWNER = owner_labels("outer", "flux")


def live(labels: dict[str, str], **annotations: str) -> dict[str, Any]:
    return {"metadata": {"labels": labels, "annotations": annotations}}


@pytest.mark.parametrize(("obj", "claimed_by", "want"), [
    (live(OWNER), None, "delete"),
    (live(OWNER), "ManifestSet flux/inner", "keep-claimed"),
    (live(OWNER, **{"tfcontroller.io/prune": "disabled"}), "ManifestSet flux/inner", "keep-annotated"),
    (live({**OWNER, "tfcontroller.io/manifestset-name": "inner"}), None, "keep-foreign"),
    (live({**OWNER, "tfcontroller.io/manifestset-name": "inner"}), "ManifestSet flux/inner", "keep-foreign"),
    (live({**OWNER, "tfcontroller.io/manifestset-namespace": "other"}), None, "keep-foreign"),
    (live({}), None, "keep-foreign"),
])
def test_decide(obj: dict[str, Any], claimed_by: str | None, want: str) -> None:
    assert decide(obj, OWNER, claimed_by) == want


def obj(kind: str, name: str, api_version: str = "v1", namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


RENDERED = [
    obj("ConfigMap", "shared-config"),
    obj("PersistentVolumeClaim", "data", namespace="db"),
    obj("Namespace", "team-a", namespace="stray"),
    obj("Widget", "w", api_version="example.com/v1"),
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}},  # no name: skipped
]


def namespaced(o: dict[str, Any]) -> bool:
    return o["kind"] != "Namespace"


def test_declared_ids_follow_the_declaring_sets_namespace_rules() -> None:
    assert declared_ids(RENDERED, namespaced=namespaced, default_namespace="apps", target_namespace=None) == {
        "apps_shared-config__ConfigMap", "db_data__PersistentVolumeClaim", "_team-a__Namespace",
        "apps_w_example.com_Widget"}
    assert declared_ids(RENDERED, namespaced=namespaced, default_namespace="apps", target_namespace="prod") == {
        "prod_shared-config__ConfigMap", "prod_data__PersistentVolumeClaim", "_team-a__Namespace",
        "prod_w_example.com_Widget"}
    assert declared_ids([], namespaced=namespaced, default_namespace="apps", target_namespace=None) == set()
