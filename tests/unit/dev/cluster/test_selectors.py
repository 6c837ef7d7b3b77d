"""Label and field selector parsing (pure functions): every operator, and rejection of garbage."""

from __future__ import annotations

import pytest

from tfcontroller.dev.cluster.errors import ApiError
from tfcontroller.dev.cluster.selectors import field_selector, label_equalities, label_selector


def obj(labels: dict[str, str], name: str = "n", namespace: str = "ns") -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {"x": True}}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=1", {"a": "1"}, True),
        ("a==1", {"a": "2"}, False),
        ("a!=1", {}, True),
        ("a in (1, 2)", {"a": "2"}, True),
        ("a notin (1,2)", {"a": "2"}, False),
        ("a notin (1,2)", {}, True),
        ("a", {"a": ""}, True),
        ("!a", {"a": ""}, False),
        ("a in (1,2),b", {"a": "1", "b": "x"}, True),
        ("a in (1,2),b", {"a": "1"}, False),
        ("n>3", {"n": "4"}, True),
        ("example.com/key=v", {"example.com/key": "v"}, True),
        ("", {}, True),
    ],
)
def test_label_selector(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert label_selector(selector)(obj(labels)) is expected


def test_field_selector() -> None:
    o = obj({}, name="a", namespace="b")
    assert field_selector("metadata.name=a,metadata.namespace==b")(o)
    assert not field_selector("metadata.name!=a")(o)
    assert field_selector("spec.x=true")(o)


def test_garbage_is_400() -> None:
    with pytest.raises(ApiError) as err:
        label_selector("a in (1")
    assert err.value.code == 400


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, []),
        ("", []),
        ("a=1", [("a", {"1"})]),
        ("a==1,b", [("a", {"1"})]),
        ("a in (1, 2),b=x", [("a", {"1", "2"}), ("b", {"x"})]),
        ("a!=1,a notin (2),!c,d>3,e", []),  # narrow nothing: left to the whole selector
        ("example.com/key=v", [("example.com/key", {"v"})]),
        ("a=", [("a", {""})]),
    ],
)
def test_label_equalities_are_the_terms_that_pin_values(selector: str | None, expected: list) -> None:
    assert [(k, set(v)) for k, v in label_equalities(selector)] == expected
