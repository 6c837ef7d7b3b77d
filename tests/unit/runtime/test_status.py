"""Status diffing: minimal merge patches of status, their inverse, and rebasing our changes onto a
status written concurrently by someone else (conditions merged by type)."""

from __future__ import annotations

import pytest

from tfcontroller.api.mergepatch import json_merge_patch
from tfcontroller.runtime.status import (
    merge_conditions,
    merge_patch,
    rebase_status,
    status_patch,
)


def cond(t: str, s: str = "True", r: str = "R") -> dict[str, str]:
    return {"type": t, "status": s, "reason": r, "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("before", "after", "want"),
    [
        ({}, {}, {}),
        ({"a": 1}, {"a": 1}, {}),
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
        ({}, {"x": {"y": 1}}, {"x": {"y": 1}}),
        ({"x": {"y": 1, "z": 2}}, {"x": {"y": 1, "z": 3}}, {"x": {"z": 3}}),
        ({"x": {"y": 1}}, {"x": {"y": 1}}, {}),
        ({"l": [1, 2]}, {"l": [1, 2, 3]}, {"l": [1, 2, 3]}),
        ({"x": {"y": 1}}, {"x": 5}, {"x": 5}),
    ],
)
def test_merge_patch_contains_only_changes(before: dict, after: dict, want: dict) -> None:
    assert merge_patch(before, after) == want
    assert json_merge_patch(before, merge_patch(before, after)) == after


def test_status_patch_ignores_everything_but_status() -> None:
    before = {"metadata": {"resourceVersion": "1"}, "spec": {"a": 1}, "status": {"observedGeneration": 1}}
    after = {"metadata": {"resourceVersion": "1"}, "spec": {"a": 2}, "status": {"observedGeneration": 1}}
    assert status_patch(before, after) == {}
    after["status"]["observedGeneration"] = 2
    assert status_patch(before, after) == {"observedGeneration": 2}


def test_merge_conditions_keeps_types_written_by_others() -> None:
    before = [cond("Ready", "False"), cond("Stalled")]
    ours = [cond("Ready", "True")]  # we set Ready and removed Stalled
    fresh = [cond("Ready", "False"), cond("Stalled"), cond("Drifted")]  # someone added Drifted
    merged = merge_conditions(fresh, before, ours)
    assert merged == [cond("Ready", "True"), cond("Drifted")]


def test_merge_conditions_adds_new_types_and_leaves_untouched_ones() -> None:
    before = [cond("Ready")]
    ours = [cond("Ready"), cond("Planned")]
    fresh = [cond("Ready", "False", "Other")]
    assert merge_conditions(fresh, before, ours) == [cond("Ready", "False", "Other"), cond("Planned")]


def test_rebase_applies_our_fields_over_a_fresh_status() -> None:
    before = {"observedGeneration": 1, "conditions": [cond("Ready", "False")]}
    after = {"observedGeneration": 2, "conditions": [cond("Ready")], "artifact": {"revision": "r2"}}
    fresh = {"observedGeneration": 1, "conditions": [cond("Ready", "False"), cond("X")], "other": "kept"}
    rebased = rebase_status(fresh, before, after)
    assert rebased == {
        "observedGeneration": 2,
        "conditions": [cond("Ready"), cond("X")],
        "artifact": {"revision": "r2"},
        "other": "kept",
    }
