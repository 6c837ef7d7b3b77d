"""`manifests.apply.Applier` on the dev cluster: a CRD and its custom resources in one set (CRDs and
Namespaces applied first, kinds discovered afterwards), targetNamespace for namespaced objects only,
created/configured/unchanged change sets with field paths, immutable-field errors without force and
recreation with it, a 403 for an impersonated ServiceAccount naming object and file (also through
`kubectl --as`), and prune honouring the opt-out annotation and ownership labels."""

from __future__ import annotations

import os
import subprocess

import pytest

from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import CONFIGMAPS, Resource
from tfcontroller.manifests.apply import Applier, ApplyError, ApplyOptions, Manifest
from tfcontroller.manifests.inventory import entry_for
from tfcontroller.manifests.normalize import owner_labels
from tfcontroller.manifests.prune import prune

WIDGETS = Resource("example.com/v1", "Widget", "widgets")
DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
OWNER = owner_labels("ms", "default")

CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                "versions": [{"name": "v1", "served": True, "storage": True,
                              "schema": {"openAPIV3Schema": {"type": "object",
                                                             "x-kubernetes-preserve-unknown-fields": True}}}]}}


def cm(name: str, value: str = "v", **meta: object) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}, "data": {"k": value}}


def applier(kube: KubeClient, **opts: object) -> Applier:
    return Applier(kube, ApplyOptions(default_namespace="default", labels=OWNER, **opts))  # type: ignore[arg-type]


def test_crd_namespace_and_custom_resource_in_one_set(kube: KubeClient) -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}
    manifests = [Manifest(widget, "w.yaml"), Manifest(cm("c"), "c.yaml"), Manifest(ns, "ns.yaml"),
                 Manifest(CRD, "crd.yaml")]
    changes = applier(kube, target_namespace="apps").apply_all(manifests)
    assert [ch.label for ch in changes] == ["CustomResourceDefinition/widgets.example.com", "Namespace/apps",
                                            "Widget/apps/w", "ConfigMap/apps/c"]
    assert {ch.action for ch in changes} == {"created"}
    assert kube.get(WIDGETS, "w", "apps")["metadata"]["labels"] == OWNER
    again = applier(kube, target_namespace="apps").apply_all(manifests)
    assert {ch.action for ch in again} == {"unchanged"}
    changed = applier(kube, target_namespace="apps").apply_all([Manifest(cm("c", "w"), "c.yaml")])
    assert changed[0].action == "configured" and changed[0].fields == ("data.k",)


def test_immutable_field_needs_force(kube: KubeClient) -> None:
    frozen = {**cm("frozen"), "immutable": True}
    applier(kube).apply_all([Manifest(frozen, "f.yaml")])
    uid = kube.get(CONFIGMAPS, "frozen", "default")["metadata"]["uid"]
    edited = {**cm("frozen", "new"), "immutable": True}
    with pytest.raises(ApplyError) as err:
        applier(kube).apply_all([Manifest(edited, "f.yaml")])
    assert err.value.cause == "immutable"
    assert str(err.value).startswith("ConfigMap/default/frozen (from f.yaml): ")
    assert "field is immutable" in str(err.value) and "spec.force: true" in str(err.value)
    [change] = applier(kube, force_recreate=True).apply_all([Manifest(edited, "f.yaml")])
    assert change.action == "recreated"
    live = kube.get(CONFIGMAPS, "frozen", "default")
    assert live["data"] == {"k": "new"} and live["metadata"]["uid"] != uid


def test_forbidden_for_impersonated_service_account(kube: KubeClient, dev_cluster: DevCluster) -> None:
    tenant = kube.impersonating("system:serviceaccount:default:tenant")
    with pytest.raises(ApplyError) as err:
        applier(tenant).apply_all([Manifest(cm("c"), "dir/c.yaml")])
    assert err.value.cause == "forbidden"
    assert "ConfigMap/default/c (from dir/c.yaml)" in str(err.value)
    assert 'User "system:serviceaccount:default:tenant" cannot get resource "configmaps"' in str(err.value)
    env = {**os.environ, "KUBECONFIG": dev_cluster.kubeconfig}
    done = subprocess.run(["kubectl", "get", "configmaps", "--as", "system:serviceaccount:default:tenant"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "forbidden" in done.stderr
    done = subprocess.run(["kubectl", "get", "configmaps"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_prune_keeps_annotated_and_foreign_objects(kube: KubeClient) -> None:
    keep = cm("keep", annotations={"tfcontroller.io/prune": "disabled"})
    changes = applier(kube).apply_all([Manifest(cm("gone"), "a.yaml"), Manifest(keep, "b.yaml"),
                                       Manifest(cm("taken"), "c.yaml")])
    entries = [entry_for(ch.obj) for ch in changes]
    kube.patch(CONFIGMAPS, "taken", {"metadata": {"labels": {"tfcontroller.io/manifestset-name": "other"}}}, "default")
    result = prune(kube, entries, OWNER)
    assert result.deleted == ["ConfigMap/default/gone"]
    assert sorted(result.kept) == ["ConfigMap/default/keep: annotated tfcontroller.io/prune: disabled",
                                   "ConfigMap/default/taken: no longer ours"]
    assert kube.get_or_none(CONFIGMAPS, "gone", "default") is None
    assert prune(kube, entries, OWNER).deleted == []  # already gone: nothing to do
