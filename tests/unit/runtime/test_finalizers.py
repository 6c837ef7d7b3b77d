"""The finalizer list arithmetic of runtime/finalizers.py (pure): nothing to write when the list is
already as wanted, other controllers' finalizers and their order kept."""

from __future__ import annotations

from tfcontroller.runtime.finalizers import with_finalizer, without_finalizer

OURS = "tfcontroller.io/finalizer"


def test_with_finalizer_appends_once_and_keeps_others() -> None:
    assert with_finalizer([], OURS) == [OURS]
    assert with_finalizer(["a", "b"], OURS) == ["a", "b", OURS]
    assert with_finalizer(["a", OURS], OURS) is None
    assert with_finalizer([OURS], OURS) is None


def test_without_finalizer_removes_only_ours() -> None:
    assert without_finalizer([OURS], OURS) == []
    assert without_finalizer(["a", OURS, "b"], OURS) == ["a", "b"]
    assert without_finalizer([OURS, OURS], OURS) == []  # a duplicate (hand edit) goes too
    assert without_finalizer(["a"], OURS) is None
    assert without_finalizer([], OURS) is None
