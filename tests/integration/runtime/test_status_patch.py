"""Status patches against the dev cluster: nothing is sent when nothing changed, only changed fields
are sent, and a concurrent status write (409 Conflict) is survived by re-reading and re-applying our
changes with conditions merged by type; the reconcile frame writes its summary through it."""

from __future__ import annotations

import copy

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import CRDS, Resource
from tfcontroller.runtime.reconciler import ready, run_frame
from tfcontroller.runtime.status import patch_status_with_retry

WIDGETS = Resource("example.com/v1", "Widget", "widgets")


def setup_widget(kube: KubeClient) -> dict:
    kube.create(CRDS, {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    })
    return kube.create(WIDGETS, {"apiVersion": "example.com/v1", "kind": "Widget",
                                 "metadata": {"name": "w", "namespace": "default"}, "spec": {"size": 1}})


def cond(t: str, s: str = "True") -> dict:
    return {"type": t, "status": s, "reason": "R", "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"}


def test_unchanged_status_sends_nothing(kube: KubeClient) -> None:
    w = setup_widget(kube)
    assert patch_status_with_retry(kube, WIDGETS, w, copy.deepcopy(w)) is None
    assert kube.get(WIDGETS, "w", "default")["metadata"]["resourceVersion"] == w["metadata"]["resourceVersion"]


def test_conflict_is_retried_and_keeps_the_other_writers_condition(kube: KubeClient) -> None:
    w = setup_widget(kube)
    before = copy.deepcopy(w)
    after = copy.deepcopy(w)
    after["status"] = {"conditions": [cond("Ready")], "observedGeneration": 1}
    # someone else writes status after we read the object
    kube.patch_status(WIDGETS, "w", "default", {"conditions": [cond("Drifted")], "other": "x"})
    conflicts: list[int] = []
    out = patch_status_with_retry(kube, WIDGETS, before, after, on_conflict=conflicts.append)
    assert conflicts == [1]
    assert out is not None
    status = kube.get(WIDGETS, "w", "default")["status"]
    assert sorted(c["type"] for c in status["conditions"]) == ["Drifted", "Ready"]
    assert status["other"] == "x" and status["observedGeneration"] == 1


def test_reconcile_frame_writes_its_summary(kube: KubeClient) -> None:
    w = setup_widget(kube)
    outcome = run_frame(None, w, [lambda ctx, o: ready("WidgetReady", "fine")],
                        lambda b, a: patch_status_with_retry(kube, WIDGETS, b, a))
    assert outcome.kind == "success"
    status = kube.get(WIDGETS, "w", "default")["status"]
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [("Ready", "True", "WidgetReady")]
    assert status["conditions"][0]["observedGeneration"] == w["metadata"]["generation"]
