"""The status a suspended object gets (runtime/suspend.py): Ready=Unknown/Suspended only when the object
has no Ready condition yet (created suspended), whatever else its status holds; an object that already
reports Ready keeps it (the last thing it did); the result satisfies the kstatus invariants."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.kstatus import kstatus_violations
from tfcontroller.runtime.suspend import suspended_status

READY_TRUE = {"type": "Ready", "status": "True", "reason": "ApplySucceeded", "message": "done",
              "lastTransitionTime": "2026-01-01T00:00:00Z"}
OTHER = {"type": "Planned", "status": "True", "reason": "PlanSucceeded", "message": "planned",
         "lastTransitionTime": "2026-01-01T00:00:00Z"}


def obj(status: dict[str, Any] | None, generation: int = 3) -> dict[str, Any]:
    return {"metadata": {"name": "x", "namespace": "default", "generation": generation},
            **({"status": status} if status is not None else {})}


@pytest.mark.parametrize("status", [None, {}, {"conditions": []}, {"conditions": [OTHER]},
                                    {"observedGeneration": 1, "conditions": None}])
def test_without_ready_gets_ready_unknown_suspended(status: dict[str, Any] | None) -> None:
    o = obj(status)
    got = suspended_status(o)
    assert got is not None
    ready = [cond for cond in got["conditions"] if cond["type"] == "Ready"]
    assert [(r["status"], r["reason"], r["observedGeneration"]) for r in ready] == [("Unknown", "Suspended", 3)]
    assert "spec.suspend" in ready[0]["message"]
    assert not kstatus_violations({**o, "status": got})
    if status and status.get("conditions"):
        assert OTHER in got["conditions"]  # other conditions are kept


@pytest.mark.parametrize("conditions", [[READY_TRUE], [OTHER, {**READY_TRUE, "status": "False", "reason": "X"}]])
def test_existing_ready_is_kept(conditions: list[dict[str, Any]]) -> None:
    o = obj({"conditions": conditions})
    assert suspended_status(o) is None
    assert o["status"]["conditions"] == conditions  # not mutated
