"""The primary objects' default update filter (runtime/manager.py `ignore_status_only_changes`): which
updates reconcile. Issue 21: a reconcile's own finalizer add must not retrigger it (every new object was
reconciled a second time for nothing); a removed finalizer, spec, labels, annotations and deletion still do."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tfcontroller.runtime.manager import ignore_status_only_changes

OURS = "tfcontroller.io/finalizer"


def obj(**meta: Any) -> dict[str, Any]:
    base = {"name": "a", "namespace": "default", "resourceVersion": "1", "generation": 1}
    return {"apiVersion": "v1", "kind": "X", "metadata": {**base, **meta}, "spec": {"x": 1}, "status": {}}


def changed(old: dict[str, Any], **edits: Any) -> dict[str, Any]:
    new = copy.deepcopy(old)
    new["metadata"]["resourceVersion"] = "2"
    for path, value in edits.items():
        part, key = path.split("__")
        if value is None:
            new[part].pop(key, None)
        else:
            new[part][key] = value
    return new


@pytest.mark.parametrize("old, new", [
    (obj(), changed(obj(), status__conditions=[{"type": "Ready"}])),  # our status patch
    (obj(), changed(obj(), metadata__finalizers=[OURS])),  # our finalizer added
    (obj(finalizers=["other"]), changed(obj(finalizers=["other"]), metadata__finalizers=["other", OURS])),
    (obj(), changed(obj(), metadata__managedFields=[{"manager": "x"}])),
])
def test_updates_that_do_not_reconcile(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert ignore_status_only_changes(old, new) is False


@pytest.mark.parametrize("old, new", [
    (obj(finalizers=[OURS]), changed(obj(finalizers=[OURS]), metadata__finalizers=None)),  # ours removed
    (obj(finalizers=[OURS, "b"]), changed(obj(finalizers=[OURS, "b"]), metadata__finalizers=["b", OURS, "c"][:1])),
    (obj(), changed(obj(), metadata__finalizers=[OURS], metadata__labels={"a": "b"})),  # added, with more
    (obj(), changed(obj(), metadata__annotations={"tfcontroller.io/requested-at": "now"})),
    (obj(), changed(obj(), metadata__deletionTimestamp="2026-01-01T00:00:00Z")),
    (obj(), changed(obj(), metadata__generation=2, spec__x=2)),
    (obj(), changed(obj(), spec__x=2)),
])
def test_updates_that_reconcile(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert ignore_status_only_changes(old, new) is True
