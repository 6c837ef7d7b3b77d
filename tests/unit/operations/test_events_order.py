"""The order Events are shown in (operations/events.py, for the CLI and the dashboard): by time, and within
one second — core/v1 timestamps carry no fraction — by the order the API server stored them in."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.operations.events import events_of

OBJ = {"kind": "PlanPolicy", "metadata": {"name": "p", "namespace": "default", "uid": "u1"}}


def ev(name: str, reason: str, at: str, rv: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if rv is not None:
        meta["resourceVersion"] = rv
    return {"metadata": meta, "involvedObject": {"kind": "PlanPolicy", "name": "p", "uid": "u1"},
            "reason": reason, "firstTimestamp": at, "lastTimestamp": at}


@pytest.mark.parametrize("listed", [(0, 1, 2), (2, 1, 0), (1, 2, 0), (2, 0, 1)])
def test_events_of_one_second_keep_the_order_they_were_stored_in(listed: tuple[int, int, int]) -> None:
    same = "2026-11-30T08:00:00Z"
    stored = [ev("p.zz", "PolicyCompiled", same, "9"), ev("p.aa", "CompileFailed", same, "10"),
              ev("p.mm", "PolicyCompiled", same, "11")]
    items = [stored[i] for i in listed]  # the API lists by name, not by time
    assert [e["metadata"]["resourceVersion"] for e in events_of(items, OBJ)] == ["9", "10", "11"]
    assert [e["metadata"]["resourceVersion"] for e in events_of(items, OBJ, newest_first=True)] == ["11", "10", "9"]


def test_time_decides_before_the_stored_order_and_an_opaque_version_does_not_break_sorting() -> None:
    items = [ev("b", "Late", "2026-11-30T08:00:02Z", "1"), ev("a", "Early", "2026-11-30T08:00:01Z", "50"),
             ev("c", "Opaque", "2026-11-30T08:00:03Z", "abc"), ev("d", "NoVersion", "2026-11-30T08:00:00Z", None)]
    assert [e["reason"] for e in events_of(items, OBJ)] == ["NoVersion", "Early", "Late", "Opaque"]
