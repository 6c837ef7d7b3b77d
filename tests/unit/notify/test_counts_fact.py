"""The "Changes" fact every text-based message lists (notify.formats.text.facts) for every event that
carries a plan: shown whenever the plan changes anything by its counts, imports (`import` blocks) and moves
(`moved` blocks) included — a plan that only imports or only moves is not "no changes" (issue 20: "everywhere
counts are shown"). Applied and failed applies carry their plan's counts from status.history
(notify.observe.history_event), so they show them too; a pending plan always shows its counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tfcontroller.api.history import HistoryEntry
from tfcontroller.notify import event as ev
from tfcontroller.notify.formats.text import facts
from tfcontroller.notify.observe import history_event

OBJ = ev.ObjectRef("Terraform", "team-a", "bucket", "uid-1", "main@sha1:" + "a" * 40)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

COUNTS = [
    ({"import": 2}, "0 to add, 0 to change, 0 to destroy, 2 to import"),
    ({"move": 1}, "0 to add, 0 to change, 0 to destroy, 1 to move"),
    ({"import": 1, "move": 3}, "0 to add, 0 to change, 0 to destroy, 1 to import, 3 to move"),
    ({"destroy": 1, "move": 1}, "0 to add, 0 to change, 1 to destroy, 1 to move"),
    ({"add": 1}, "1 to add, 0 to change, 0 to destroy"),
]


def changes(event: ev.NotificationEvent) -> str | None:
    return dict(facts(event)).get("Changes")


@pytest.mark.parametrize("type_", ["PlanApplied", "ApplyFailed"])
@pytest.mark.parametrize(("counts", "text"), COUNTS)
def test_applied_and_failed_events_show_every_kind_of_change(type_: ev.EventType, counts: dict[str, int],
                                                             text: str) -> None:
    event = ev.simple_event(type_, OBJ, "done", plan_id="plan-main-1", counts=counts, now=NOW)
    assert changes(event) == text


@pytest.mark.parametrize(("counts", "text"), COUNTS)
def test_a_denied_plan_shows_every_kind_of_change(counts: dict[str, int], text: str) -> None:
    base = ev.plan_pending(OBJ, "plan-main-1", counts, now=NOW)
    denied = ev.NotificationEvent("PolicyDenied", OBJ, "denied", "error", details=base.plan, timestamp=NOW)
    assert changes(denied) == text


def test_no_counts_no_changes_fact_except_for_a_pending_plan() -> None:
    assert changes(ev.simple_event("PlanApplied", OBJ, "done", plan_id="plan-main-1", now=NOW)) is None
    assert changes(ev.plan_pending(OBJ, "plan-main-1", {}, now=NOW)) == "0 to add, 0 to change, 0 to destroy"


@pytest.mark.parametrize(("outcome", "type_"), [("Succeeded", "PlanApplied"), ("Failed", "ApplyFailed")])
@pytest.mark.parametrize(("imports", "moves", "text"), [
    (2, 0, "0 to add, 0 to change, 0 to destroy, 2 to import"),
    (0, 1, "0 to add, 0 to change, 0 to destroy, 1 to move"),
])
def test_history_events_carry_the_plans_counts(outcome: str, type_: str, imports: int, moves: int,
                                               text: str) -> None:
    entry = HistoryEntry(run_id="r1", kind="apply", outcome=outcome,
                         plan_id="plan-main-1", imports=imports, moves=moves, finished_at="2026-11-30T12:00:00Z")
    event = history_event(entry, OBJ, NOW)
    assert event is not None and event.type == type_
    assert changes(event) == text
    assert ev.NotificationEvent.from_record(event.to_record()).plan == event.plan  # kept through the outbox
