"""Secrets are applied with `data`, never `stringData`: `fold_string_data` moves
`stringData` into base64 `data` (stringData wins a shared key, as on the API server; non-Secrets and
non-string values untouched), and `string_data_leftovers` finds the data keys a Secret applied with
`stringData` by an earlier version keeps although Git no longer declares them."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tfcontroller.manifests.normalize import fold_string_data, normalize
from tfcontroller.manifests.ownership import string_data_leftovers


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(**body: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"}, **body}


@pytest.mark.parametrize(("before", "data"), [
    ({"stringData": {"A": "a", "B": "é"}}, {"A": b64("a"), "B": b64("é")}),
    ({"data": {"A": b64("old"), "C": b64("c")}, "stringData": {"A": "new"}}, {"A": b64("new"), "C": b64("c")}),
    ({"stringData": {}}, None),
    ({"data": {"C": b64("c")}}, {"C": b64("c")}),
])
def test_string_data_becomes_data(before: dict[str, Any], data: dict[str, str] | None) -> None:
    obj = secret(type="Opaque", **before)
    fold_string_data(obj)
    assert "stringData" not in obj
    assert obj.get("data") == data
    assert obj["type"] == "Opaque"


def test_normalize_folds_and_leaves_the_input_alone() -> None:
    src = secret(stringData={"A": "a"})
    out = normalize(src, namespaced=True, default_namespace="d", target_namespace=None, labels={})
    assert out["data"] == {"A": b64("a")} and "stringData" not in out
    assert src["stringData"] == {"A": "a"}


@pytest.mark.parametrize("obj", [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "stringData": {"A": "a"}},
    {"apiVersion": "example.com/v1", "kind": "Secret", "metadata": {"name": "c"}, "stringData": {"A": "a"}},
    secret(stringData={"PORT": 5432}),  # not a string: the API server's own error names it
    secret(stringData="text"),
])
def test_other_objects_untouched(obj: dict[str, Any]) -> None:
    before = repr(obj)
    fold_string_data(obj)
    assert repr(obj) == before


def managed(*entries: tuple[str, str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"manager": m, "operation": op, "fieldsV1": f} for m, op, f in entries]


STRING_KEYS = {"f:stringData": {"f:USER": {}, "f:LEGACY": {}, "f:OTHER": {}}}


def live(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return secret(data={"USER": b64("u"), "LEGACY": b64("t"), "OTHER": b64("o"), "HAND": b64("h")},
                  metadata={"name": "s", "namespace": "d", "managedFields": entries})


@pytest.mark.parametrize(("entries", "desired", "want"), [
    # applied as stringData by us; Git now declares USER only: the other two go
    (managed(("tfcontroller", "Apply", STRING_KEYS)), {"USER": b64("u2")}, ["LEGACY", "OTHER"]),
    # another manager owns OTHER as data: it stays
    (managed(("tfcontroller", "Apply", STRING_KEYS), ("kubectl-patch", "Update", {"f:data": {"f:OTHER": {}}})),
     {"USER": b64("u")}, ["LEGACY"]),
    # another manager's stringData is not ours to remove
    (managed(("helm", "Apply", STRING_KEYS)), {}, []),
    # an Update by our manager name is not an apply
    (managed(("tfcontroller", "Update", STRING_KEYS)), {}, []),
    # already applied as data: server-side apply removes those itself
    (managed(("tfcontroller", "Apply", {"f:data": {"f:USER": {}, "f:LEGACY": {}}})), {"USER": b64("u")}, []),
    # everything still declared
    (managed(("tfcontroller", "Apply", STRING_KEYS)), {"USER": "x", "LEGACY": "x", "OTHER": "x"}, []),
])
def test_string_data_leftovers(entries: list[dict[str, Any]], desired: dict[str, str], want: list[str]) -> None:
    assert string_data_leftovers(live(entries), secret(data=desired), "tfcontroller") == want


def test_no_leftovers_without_a_live_secret_or_for_other_kinds() -> None:
    assert string_data_leftovers(None, secret(data={}), "tfcontroller") == []
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": {}}
    assert string_data_leftovers(live(managed(("tfcontroller", "Apply", STRING_KEYS))), cm, "tfcontroller") == []
