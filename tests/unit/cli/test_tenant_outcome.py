"""`tenant add` reports created / configured / unchanged from the fields it declares, so a controller
writing status, finalizers or annotations of the sample objects between the read and the apply does not
make a second, no-op `tenant add` say "configured" (issue 16: idempotent)."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.cli.tenant_cmd import _outcome, declared

APPLIED: dict[str, Any] = {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository",
                           "metadata": {"name": "gitops", "namespace": "team-a"},
                           "spec": {"url": "file:///r", "ref": {"branch": "main"}, "interval": "1m"}}


def server(**changes: Any) -> dict[str, Any]:
    """The object as the API server returns it: our fields plus what others and defaulting added."""
    obj: dict[str, Any] = {**APPLIED, "metadata": {**APPLIED["metadata"], "resourceVersion": "5",
                                                   "managedFields": [{"manager": "tfcontroller-tenant"}]},
                           "spec": {**APPLIED["spec"], "timeout": "60s"}}
    for path, value in changes.items():
        node = obj
        *parents, leaf = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return obj


def test_absent_before_is_created() -> None:
    assert _outcome(None, server(), APPLIED) == "created"


@pytest.mark.parametrize("after", [
    server(metadata__resourceVersion="9", status={"conditions": [{"type": "Ready"}]}),  # status written
    server(metadata__resourceVersion="9", metadata__finalizers=["tfcontroller.io/finalizer"]),
    server(metadata__resourceVersion="9", metadata__annotations={"tfcontroller.io/requested-at": "x"}),
    server(metadata__resourceVersion="9", spec__suspend=False),  # a field we do not declare
])
def test_others_writes_between_read_and_apply_are_unchanged(after: dict[str, Any]) -> None:
    assert _outcome(server(), after, APPLIED) == "unchanged"


@pytest.mark.parametrize("before", [
    server(spec__url="file:///other"),  # someone edited a field we declare: our apply restored it
    server(spec__ref={"branch": "dev"}),
    server(metadata__labels={"team": "b"}),  # a map we do not declare is not ours to report on...
])
def test_a_declared_field_the_apply_changed_is_configured(before: dict[str, Any]) -> None:
    after = server(metadata__resourceVersion="9", **({"metadata__labels": {"team": "b"}}
                                                     if "labels" in before["metadata"] else {}))
    expected = "unchanged" if "labels" in before["metadata"] else "configured"  # ...unless we declare it
    assert _outcome(before, after, APPLIED) == expected


def test_declared_follows_maps_and_takes_lists_and_scalars_whole() -> None:
    obj = {"a": {"b": 1, "c": 2}, "l": [{"x": 1, "y": 2}], "s": "v", "extra": 1}
    assert declared(obj, {"a": {"b": 0}, "l": [{"x": 0}], "s": "", "missing": {"k": 1}}) == {
        "a": {"b": 1}, "l": [{"x": 1, "y": 2}], "s": "v", "missing": {"k": None}}
