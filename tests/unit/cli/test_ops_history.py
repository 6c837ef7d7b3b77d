"""`tfcontroller history`'s row (cli/ops_history.py), pure: age, counts only with a plan, repeated failures
marked, the approver as one short text, the policy check with the exceptions that waived, and issue 20's
imports, moves and replaced addresses beside the counts."""

from __future__ import annotations

import datetime as dt

from tfcontroller.api.history import VIA_ANNOTATION, VIA_CLI, Approver, HistoryEntry
from tfcontroller.cli.ops_history import HEADERS, changes, row

NOW = dt.datetime(2026, 1, 1, 1, 0, 0, tzinfo=dt.UTC)


def test_rows() -> None:
    apply = HistoryEntry("r2", "apply", "Succeeded", "ApplySucceeded", revision="main@sha1:abc", plan_id="plan-x",
                         add=1, started_at="2026-01-01T00:55:00Z",
                         approved_by=Approver("system:serviceaccount:team-a:alice", (), VIA_CLI))
    assert row(apply, NOW) == ["5m", "apply", "Succeeded", "ApplySucceeded", "plan-x", "1/0/0",
                               "system:serviceaccount:team-a:alice (cli)", "", "main@sha1:abc"]
    failed = HistoryEntry("r3", "plan", "Failed", "PlanFailed", started_at="2026-01-01T00:00:00Z", attempts=3)
    assert row(failed, NOW)[:6] == ["60m", "plan", "Failed (x3)", "PlanFailed", "", ""]
    bare = HistoryEntry("r4", "apply", "Succeeded", plan_id="p",
                        approved_by=Approver(via=VIA_ANNOTATION, manager="kubectl-annotate"))
    assert row(bare, NOW)[0] == "" and row(bare, NOW)[6] == "annotation (kubectl-annotate)"
    assert len(HEADERS) == len(row(bare, NOW))
    waived = HistoryEntry("r5", "apply", "Succeeded", plan_id="p", policy="warned", exceptions=("e1", "e2"))
    assert row(waived, NOW)[7] == "warned (waived: e1, e2)"  # issue 18


def test_changes_show_imports_moves_and_replaced_addresses() -> None:
    """Issue 20: what the counts alone do not say — imports and moves, and which addresses the plan was
    asked to re-create (a replacement counts as one add and one destroy)."""
    plain = HistoryEntry("r1", "plan", "Succeeded", plan_id="p", add=1, change=2)
    assert changes(plain) == "1/2/0"
    moved = HistoryEntry("r2", "plan", "Succeeded", plan_id="p", imports=2, moves=1)
    assert changes(moved) == "0/0/0 import 2 move 1"
    replaced = HistoryEntry("r3", "plan", "Succeeded", plan_id="p", add=2, destroy=2,
                            replace=("aws_s3_bucket.a", 'aws_instance.web["blue"]'))
    assert changes(replaced) == '2/0/2 replace aws_s3_bucket.a, aws_instance.web["blue"]'
    assert row(replaced, NOW)[HEADERS.index("+/~/-")] == changes(replaced)
    both = HistoryEntry("r4", "plan", "Succeeded", plan_id="p", add=1, destroy=1, imports=1, replace=("a.b",))
    assert changes(both) == "1/0/1 import 1 replace a.b"
    failed = HistoryEntry("r5", "plan", "Failed", "PlanFailed", replace=("a.b",))  # no plan, still asked
    assert changes(failed) == "replace a.b"
    assert changes(HistoryEntry("r6", "plan", "Failed", "PlanFailed")) == ""
