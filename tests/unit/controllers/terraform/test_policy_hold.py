"""policy_hold.py: a policy that denied a plan id keeps denying it when it stops selecting the object."""

from __future__ import annotations

from tfcontroller.controllers.terraform.policy_hold import (
    DENIALS_FIELD,
    MAX_DENIALS,
    Hold,
    denials_of,
    denying_policies,
    holds,
    remember,
)

T1, T2 = "2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z"


def _recorded(*rows: tuple[str, str]) -> dict:
    return {"result": "denied", "results": [{"policy": p, "result": r, "messages": ["m"]} for p, r in rows]}


def test_denied_and_waived_rows_are_denials_passed_warned_and_errors_are_not() -> None:
    recorded = _recorded(("ns/a", "denied"), ("ns/b", "waived"), ("ns/c", "passed"), ("ns/d", "warned"),
                         ("ns/e", "error"))
    assert denying_policies(recorded) == ["ns/a", "ns/b"]
    assert denying_policies({}) == [] and denying_policies({"results": ["junk", {"result": "denied"}]}) == []


def test_remember_merges_per_plan_keeps_the_first_time_and_moves_the_plan_last() -> None:
    d = remember([], "p1", ["ns/a"], T1)
    d = remember(d, "p2", ["ns/b"], T1)
    d = remember(d, "p1", ["ns/a", "ns/c"], T2)
    assert [e["planId"] for e in d] == ["p2", "p1"]
    assert d[1]["policies"] == [{"policy": "ns/a", "deniedAt": T1}, {"policy": "ns/c", "deniedAt": T2}]
    assert remember(d, "p3", [], T2) == d  # nothing denied: nothing recorded


def test_remember_is_bounded_oldest_first_out() -> None:
    d: list = []
    for i in range(MAX_DENIALS + 5):
        d = remember(d, f"p{i}", ["ns/a"], T1)
    assert len(d) == MAX_DENIALS and d[0]["planId"] == "p5" and d[-1]["planId"] == f"p{MAX_DENIALS + 4}"


def test_a_hold_is_a_denying_policy_that_no_longer_selects_for_that_plan_id_only() -> None:
    d = remember(remember([], "p1", ["ns/a", "cfg/platform"], T1), "p2", ["ns/b"], T1)
    # relabel / PlanPolicy deleted / selector changed: none selects any more
    assert holds(d, "p1", []) == [Hold("cfg/platform", T1), Hold("ns/a", T1)]
    # one still selects: it is evaluated as usual, only the other is held
    assert holds(d, "p1", ["ns/a", "ns/other"]) == [Hold("cfg/platform", T1)]
    assert holds(d, "p1", ["ns/a", "cfg/platform"]) == []
    # another plan id (new changes): nothing held; no plan: nothing
    assert holds(d, "p3", []) == [] and holds(d, "", []) == []
    assert holds(d, "p2", ["ns/a"]) == [Hold("ns/b", T1)]


def test_the_message_names_the_policy_the_plan_and_what_lifts_the_hold() -> None:
    text = Hold("ns/protect", T1).message("main@sha1:abc+sha256:def")
    for part in ("ns/protect", "main@sha1:abc+sha256:def", "no longer selects", "PolicyException", "new plan", T1):
        assert part in text


def test_status_reading_skips_malformed_entries() -> None:
    status = {DENIALS_FIELD: [{"planId": "p1", "policies": [{"policy": "ns/a", "deniedAt": T1}, "junk", {}]},
                              {"policies": []}, "junk"]}
    assert denials_of(status) == [{"planId": "p1", "policies": [{"policy": "ns/a", "deniedAt": T1}]}]
    assert denials_of(None) == [] and denials_of({DENIALS_FIELD: None}) == []
