"""What a pending plan's policy result means (api/policy_verdict.py): denied and error block, warnings and
waived denials do not; the messages name each policy; the text block plan show and the mail print."""

from __future__ import annotations

from typing import Any

from tfcontroller.api.policy_verdict import (
    POLICY_DENIED,
    POLICY_PASSED,
    POLICY_UNAVAILABLE,
    POLICY_WARNED,
    exceptions_of,
    policy_of,
    policy_report_lines,
    verdict,
)


def rec(result: str, *rows: dict[str, Any]) -> dict[str, Any]:
    return {"result": result, "results": list(rows)}


def test_denied_blocks_with_each_message_and_the_way_out() -> None:
    v = verdict(rec("denied", {"policy": "a/protect", "result": "denied", "messages": ["deletes db", "deletes b"]},
                    {"policy": "a/tags", "result": "passed"}), "plan-1")
    assert v.blocked and v.reason == POLICY_DENIED
    assert "a/protect: deletes db; a/protect: deletes b" in v.message
    assert "PolicyException for plan plan-1" in v.message


def test_error_blocks_as_unavailable() -> None:
    v = verdict(rec("error", {"policy": "a/broken", "result": "error", "messages": ["main.rego:3:1: bad"]}), "p")
    assert v.blocked and v.reason == POLICY_UNAVAILABLE and "a/broken: main.rego:3:1: bad" in v.message


def test_warned_and_waived_do_not_block() -> None:
    v = verdict(rec("warned", {"policy": "a/tags", "result": "warned", "messages": ["no owner tag"]}), "p")
    assert not v.blocked and v.reason == POLICY_WARNED and "a/tags: no owner tag" in v.message
    waived = rec("warned", {"policy": "a/protect", "result": "waived", "messages": ["deletes db"],
                            "exception": "allow-db-delete"})
    v = verdict(waived, "p")
    assert not v.blocked and v.reason == POLICY_WARNED
    assert "(waived by PolicyException allow-db-delete): a/protect: deletes db" in v.message
    v = verdict(rec("passed", {"policy": "a/tags", "result": "passed"}), "p")
    assert not v.blocked and v.reason == POLICY_PASSED and v.message == "plan p passed 1 policies"
    assert exceptions_of(waived) == ["allow-db-delete"]


def test_many_messages_are_capped_in_the_condition() -> None:
    v = verdict(rec("denied", {"policy": "a/p", "result": "denied", "messages": [f"m{i}" for i in range(9)]}), "p")
    assert "m4" in v.message and "m5" not in v.message and "(and 4 more)" in v.message


def test_policy_of_reads_only_a_pending_plan() -> None:
    assert policy_of({"plan": {"pending": "p", "policy": rec("passed")}}) == rec("passed")
    assert policy_of({"plan": {"pending": "", "policy": rec("passed")}}) is None
    assert policy_of(None) is None


def test_report_lines() -> None:
    lines = policy_report_lines(rec("passed", {"policy": "a/protect", "result": "waived", "messages": ["x"],
                                               "exception": "e1"}))
    assert lines == ["Policy check: passed", "  waived: a/protect (PolicyException e1)", "    - x"]
    assert policy_report_lines(None) == []
