"""Issue 20: imports (`import` blocks) and moves (`moved` blocks) are counted apart from add/change/destroy,
everywhere counts are shown, and a plan that only imports or moves is not "no changes". Plain `show -json`
dicts shaped as Terraform 1.11 prints them (a no-op action with `change.importing` or `previous_address`)."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.history import HistoryEntry
from tfcontroller.api.plan_counts import counts_text, short_counts
from tfcontroller.api.terraform_status import PendingPlan
from tfcontroller.controllers.terraform.policy import expected_resources
from tfcontroller.terraform.plan import plan_digest, summarize
from tfcontroller.terraform.plan_view import build_plan_view, diff_lines, render_text


def rc(address: str, actions: list[str], *, importing: bool = False, previous: str = "") -> dict[str, Any]:
    change: dict[str, Any] = {"actions": actions, "before": {"x": 1}, "after": {"x": 1}, "after_unknown": {},
                              "before_sensitive": {}, "after_sensitive": {}}
    if importing:
        change["importing"] = {"id": "i-123"}
    out: dict[str, Any] = {"address": address, "mode": "managed", "type": "terraform_data", "change": change}
    if previous:
        out["previous_address"] = previous
    return out


def show(*changes: dict[str, Any]) -> dict[str, Any]:
    return {"format_version": "1.2", "terraform_version": "1.11.4", "resource_changes": list(changes)}


@pytest.mark.parametrize(("changes", "imports", "moves", "add", "change"), [
    ([rc("a.b", ["no-op"], importing=True)], 1, 0, 0, 0),  # import only
    ([rc("a.new", ["no-op"], previous="a.old")], 0, 1, 0, 0),  # move only
    ([rc("module.m.a.b", ["no-op"], previous="a.b")], 0, 1, 0, 0),  # moved into a module
    ([rc("a.b", ["update"], importing=True)], 1, 0, 0, 1),  # an import that also updates
    ([rc("a.b", ["update"], previous="a.c")], 0, 1, 0, 1),  # a move that also updates
    ([rc("a.b", ["no-op"], importing=True), rc("a.c", ["no-op"], previous="a.d"), rc("a.e", ["create"])], 1, 1, 1, 0),
])
def test_imports_and_moves_are_counted_apart_and_are_changes(changes: list[dict[str, Any]], imports: int, moves: int,
                                                            add: int, change: int) -> None:
    summary = summarize(show(*changes))
    assert (summary.imports, summary.moves, summary.add, summary.change, summary.destroy) == \
        (imports, moves, add, change, 0)
    assert summary.has_changes  # an import- or move-only plan must be applied: it is not "no changes"


def test_a_plain_no_op_and_a_no_op_at_the_same_address_stay_no_changes() -> None:
    summary = summarize(show(rc("a.same", ["no-op"]), rc("a.b", ["no-op"], previous="a.b")))
    assert (summary.imports, summary.moves, summary.has_changes) == (0, 0, False)


def test_an_import_only_plan_is_not_mistaken_for_a_lost_state() -> None:
    assert not summarize(show(rc("a.b", ["no-op"], importing=True))).creates_everything


def test_the_digest_binds_imports_and_moves_and_leaves_other_plans_unchanged() -> None:
    moved_from_c = plan_digest(show(rc("a.b", ["no-op"], previous="a.c")))
    moved_from_d = plan_digest(show(rc("a.b", ["no-op"], previous="a.d")))
    imported = plan_digest(show(rc("a.b", ["no-op"], importing=True)))
    assert len({moved_from_c, moved_from_d, imported}) == 3
    plain = show(rc("a.b", ["update"]))
    assert plan_digest(plain) == plan_digest(show(rc("a.b", ["update"], previous="")))


def test_readable_plan_shows_import_and_move_lines_and_counts() -> None:
    view = build_plan_view(show(rc("a.b", ["no-op"], importing=True), rc("a.new", ["no-op"], previous="a.old")),
                           plan_id="p", revision="r", created_at="", is_drift=False, is_destroy=False)
    assert view["counts"]["import"] == 1 and view["counts"]["move"] == 1
    text = render_text(diff_lines(view))
    assert "Plan: 0 to add, 0 to change, 0 to destroy, 1 to import, 1 to move." in text
    assert "<- a.b (import)" in text
    assert "-> a.new (move from a.old)" in text


def test_counts_read_the_same_in_status_history_and_text() -> None:
    assert counts_text(1, 2, 3) == "1 to add, 2 to change, 3 to destroy"  # unchanged without imports/moves
    assert counts_text(0, 0, 0, 2, 1) == "0 to add, 0 to change, 0 to destroy, 2 to import, 1 to move"
    assert counts_text(1, 0, 0, 0, 1, done=True) == "1 added, 0 changed, 0 destroyed, 1 moved"
    pending = PendingPlan.of({"plan": {"pending": "p", "add": 1, "import": 2, "move": 1}})
    assert pending.counts() == "1 to add, 0 to change, 0 to destroy, 2 to import, 1 to move"
    assert pending.done_counts() == "1 added, 0 changed, 0 destroyed, 2 imported, 1 moved"
    entry = HistoryEntry.of({"runId": "r", "kind": "plan", "outcome": "Succeeded", "add": 1, "import": 2})
    assert entry.counts == short_counts(1, 0, 0, 2, 0) == "+1 ~0 -0 import 2"
    assert HistoryEntry.of(entry.to_status()) == entry


def test_an_import_adds_to_the_expected_resource_count() -> None:
    assert expected_resources(prior=3, add=0, destroy=0, imports=2) == 5
    assert expected_resources(prior=3, add=1, destroy=1) == 3


def test_the_cli_history_row_shows_imports_and_moves() -> None:
    from tfcontroller.cli.ops_history import row

    entry = HistoryEntry.of({"runId": "r", "kind": "plan", "outcome": "Succeeded", "planId": "p", "add": 1,
                             "import": 2, "move": 1})
    assert row(entry)[5] == "1/0/0 import 2 move 1"
    plain = HistoryEntry.of({"runId": "r", "kind": "plan", "outcome": "Succeeded", "planId": "p", "add": 1})
    assert row(plain)[5] == "1/0/0"
