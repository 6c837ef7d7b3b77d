"""`adopted_managed_fields` (pure): kubectl's apply entries (client-side, older `kubectl` Update,
`kubectl --server-side`, the server's `before-first-apply`) merge into our Apply entry so that fields Git
stops declaring leave the object; other managers (kubectl edit/patch, controllers, subresources) keep
theirs; nothing to adopt gives None."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.manifests.ownership import adopted_managed_fields


def entry(manager: str, operation: str, fields: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "apiVersion": "v1", "fieldsType": "FieldsV1",
            "fieldsV1": fields, **extra}


def live(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": list(entries)}}


OURS = entry("tfcontroller", "Apply", {"f:data": {"f:a": {}}})
PATCHED = entry("kubectl-patch", "Update", {"f:data": {"f:p": {}}})
STATUS = entry("kubectl", "Update", {"f:status": {"f:x": {}}}, subresource="status")


@pytest.mark.parametrize("kubectl", [
    entry("kubectl-client-side-apply", "Update", {"f:data": {"f:b": {}}, "f:metadata": {"f:labels": {"f:l": {}}}}),
    entry("kubectl", "Update", {"f:data": {"f:b": {}}, "f:metadata": {"f:labels": {"f:l": {}}}}),
    entry("kubectl", "Apply", {"f:data": {"f:b": {}}, "f:metadata": {"f:labels": {"f:l": {}}}}),
    entry("before-first-apply", "Update", {"f:data": {"f:b": {}}, "f:metadata": {"f:labels": {"f:l": {}}}}),
])
def test_kubectl_apply_fields_become_ours(kubectl: dict[str, Any]) -> None:
    result = adopted_managed_fields(live(OURS, kubectl, PATCHED, STATUS), "tfcontroller")
    assert result is not None
    assert result[:2] == [PATCHED, STATUS]
    [ours] = result[2:]
    assert (ours["manager"], ours["operation"]) == ("tfcontroller", "Apply")
    assert ours["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:l": {}}}}


def test_without_an_entry_of_ours_one_is_made() -> None:
    kubectl = entry("kubectl-client-side-apply", "Update", {"f:data": {"f:b": {}}})
    assert adopted_managed_fields(live(kubectl), "tfcontroller") == [
        {"manager": "tfcontroller", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:data": {"f:b": {}}}}]


@pytest.mark.parametrize("entries", [
    [OURS],
    [OURS, PATCHED, STATUS],
    [entry("kubectl-edit", "Update", {"f:data": {}}), entry("helm", "Apply", {"f:data": {}})],
    [],
])
def test_nothing_to_adopt(entries: list[dict[str, Any]]) -> None:
    assert adopted_managed_fields(live(*entries), "tfcontroller") is None
