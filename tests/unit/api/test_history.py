"""The pure history rules (api/history.py): entries newest first and capped, a retry loop's repeated failure
kept as one entry, every shape of a malformed status read as "nothing", and whom an apply is credited to —
the approved-by claim only for the very plan it names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tfcontroller.api.history import (
    VIA_ANNOTATION,
    VIA_AUTO,
    VIA_CLI,
    VIA_DASHBOARD,
    VIA_SPEC,
    Approver,
    HistoryEntry,
    annotation_manager,
    append_entries,
    approver_annotation,
    approver_for,
    history_of,
    parse_approver_annotation,
)

PLAN = "plan-main-0123456789-abcdef01"
OTHER = "plan-main-0123456789-99999999"


def entry(n: int, **kw: Any) -> HistoryEntry:
    base = {"run_id": f"r{n}", "kind": "plan", "outcome": "Succeeded", "reason": "PlanGenerated",
            "started_at": f"2026-01-01T00:00:{n:02d}Z", "finished_at": f"2026-01-01T00:00:{n:02d}Z"}
    return HistoryEntry(**{**base, **kw})


@pytest.mark.parametrize("limit", [1, 2, 3, 10])
def test_newest_first_and_capped(limit: int) -> None:
    history: list[HistoryEntry] = []
    for n in range(12):
        history = append_entries(history, [entry(n)], limit)
    assert [e.run_id for e in history] == [f"r{n}" for n in range(11, 11 - limit, -1)]


def test_several_runs_of_one_reconcile_keep_their_order() -> None:
    out = append_entries([entry(0)], [entry(1, kind="plan"), entry(2, kind="apply", reason="ApplySucceeded")], 10)
    assert [(e.run_id, e.kind) for e in out] == [("r2", "apply"), ("r1", "plan"), ("r0", "plan")]


def test_a_repeated_failure_is_one_entry_with_attempts() -> None:
    fail = {"outcome": "Failed", "reason": "PlanFailed", "revision": "main@sha1:a"}
    history = append_entries([entry(0, kind="apply", reason="ApplySucceeded")], [entry(1, **fail)], 3)
    for n in range(2, 6):
        history = append_entries(history, [entry(n, **fail)], 3)
    assert len(history) == 2 and history[1].kind == "apply"
    assert history[0].attempts == 5 and history[0].run_id == "r5"
    assert history[0].started_at == "2026-01-01T00:00:01Z" and history[0].finished_at == "2026-01-01T00:00:05Z"
    assert history[0].to_status()["attempts"] == 5
    # another reason, revision or kind is a new entry; successes are never merged
    for change in ({"reason": "StateLocked"}, {"revision": "main@sha1:b"}, {"kind": "drift"}):
        assert len(append_entries(history, [entry(9, **{**fail, **change})], 10)) == 3
    ok = append_entries([entry(0)], [entry(1)], 10)
    assert len(ok) == 2


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        append_entries([], [entry(0)], 0)


@pytest.mark.parametrize("status", [None, {}, {"history": None}, {"history": "x"}, {"history": {"a": 1}}])
def test_no_history_from_any_shape(status: Any) -> None:
    assert history_of(status) == []


def test_round_trip_and_mistyped_fields() -> None:
    e = entry(1, kind="apply", plan_id=PLAN, add=2, change="x",  # type: ignore[arg-type]
              approved_by=Approver("alice", ("team-a",), VIA_CLI, "tfcontroller-cli"), message="m" * 1000)
    doc = e.to_status()
    assert len(doc["message"]) == 300 and "attempts" not in doc
    back = history_of({"history": [doc, "junk", {"kind": "plan", "add": "many"}]})
    assert len(back) == 2 and back[0].approved_by == e.approved_by and back[0].add == 2 and back[0].change == 0
    assert back[1].add == 0 and back[1].approved_by is None and back[1].attempts == 1
    assert back[0].counts == "+2 ~0 -0"


def test_approver_annotation_round_trip() -> None:
    for via in (VIA_CLI, VIA_DASHBOARD):
        text = approver_annotation(PLAN, Approver("system:serviceaccount:a:b", ("g1", "g2"), via))
        assert parse_approver_annotation(text) == (PLAN, Approver("system:serviceaccount:a:b", ("g1", "g2"), via))


@pytest.mark.parametrize("text", [None, "", "alice", "[]", "{}", '{"plan": ""}', '{"plan": "p", "via": "auto"}',
                                  '{"plan": "p", "via": "spec"}', '{"plan": "p"}', '{"plan": ["p"], "via": "cli"}'])
def test_unreadable_claims_are_no_claims(text: str | None) -> None:
    assert parse_approver_annotation(text) is None


def test_approver_is_credited_only_for_the_plan_it_names() -> None:
    alice = approver_annotation(PLAN, Approver("alice", ("team-a",), VIA_DASHBOARD))
    assert approver_for(PLAN, auto=False, by_annotation=True, approved_by=alice, manager="m") == \
        Approver("alice", ("team-a",), VIA_DASHBOARD, "m")
    # a claim naming another plan (left from an earlier approval, or copied) is not believed
    assert approver_for(OTHER, auto=False, by_annotation=True, approved_by=alice, manager="kubectl-annotate") == \
        Approver(via=VIA_ANNOTATION, manager="kubectl-annotate")
    # no claim, an unreadable one: a bare annotation
    for claim in (None, "{bad", json.dumps({"plan": PLAN, "via": "root"})):
        assert approver_for(PLAN, auto=False, by_annotation=True, approved_by=claim).via == VIA_ANNOTATION
    # spec.approvePlan from Git and auto ignore any claim
    assert approver_for(PLAN, auto=False, by_annotation=False, approved_by=alice) == Approver(via=VIA_SPEC)
    assert approver_for(PLAN, auto=True, by_annotation=True, approved_by=alice) == Approver(via=VIA_AUTO)


def test_describe() -> None:
    assert Approver("alice", (), VIA_CLI).describe() == "alice (cli)"
    assert Approver(via=VIA_ANNOTATION, manager="kubectl-annotate").describe() == "annotation (kubectl-annotate)"
    assert Approver(via=VIA_AUTO).describe() == "auto" and Approver(via=VIA_SPEC).describe() == "spec.approvePlan"


def test_annotation_manager_from_managed_fields() -> None:
    key = "tfcontroller.io/approve-plan"
    meta = {"managedFields": [
        {"manager": "tfcontroller", "fieldsV1": {"f:status": {}}},
        {"manager": "kubectl-annotate", "fieldsV1": {"f:metadata": {"f:annotations": {f"f:{key}": {}}}}},
        "junk",
    ]}
    assert annotation_manager(meta, key) == "kubectl-annotate"
    assert annotation_manager({}, key) == "" and annotation_manager(meta, "other") == ""
