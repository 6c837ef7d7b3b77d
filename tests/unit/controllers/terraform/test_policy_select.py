"""When a recorded policy result still holds (policy_select.py): the gate key changes with the plan, a
policy's digest, its availability and failure policy, and the exceptions naming the object — and with
nothing else (listing order)."""

from __future__ import annotations

from typing import Any

from tfcontroller.controllers.terraform.policy_select import SelectedPolicy, exceptions_for, gate_key

P = SelectedPolicy("team-a/protect", "sha256:1", "", False)


def exc(name: str, tf: str = "db", plan: str = "plan-a") -> dict[str, Any]:
    return {"metadata": {"namespace": "team-a", "name": name},
            "spec": {"terraformRef": {"name": tf}, "planId": plan, "policies": ["protect"], "reason": "r"}}


def test_gate_key_changes_with_what_the_result_depends_on() -> None:
    base = gate_key("plan-a", [P], [])
    assert base == gate_key("plan-a", [SelectedPolicy("team-a/protect", "sha256:1", "", False)], [])
    variants = [
        gate_key("plan-b", [P], []),  # another plan
        gate_key("plan-a", [SelectedPolicy("team-a/protect", "sha256:2", "", False)], []),  # a policy edit
        gate_key("plan-a", [SelectedPolicy("team-a/protect", "", "CompileFailed: x.rego:1:1", False)], []),
        gate_key("plan-a", [SelectedPolicy("team-a/protect", "sha256:1", "", True)], []),  # failurePolicy
        gate_key("plan-a", [], []),  # the policy removed (or no longer selecting)
        gate_key("plan-a", [P], [exc("e1")]),  # an exception created
        gate_key("plan-a", [P], [exc("e1", plan="plan-b")]),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_gate_key_ignores_listing_order() -> None:
    q = SelectedPolicy("team-a/tags", "sha256:9", "", False)
    assert gate_key("p", [P, q], [exc("a"), exc("b")]) == gate_key("p", [q, P], [exc("b"), exc("a")])


def test_exceptions_for_names_only_this_terraform() -> None:
    got = exceptions_for([exc("z"), exc("other", tf="web"), exc("a")], "db")
    assert [e["metadata"]["name"] for e in got] == ["a", "z"]


def _exception(plan: str, created: str, name: str = "e") -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": created},
            "spec": {"terraformRef": {"name": "net"}, "planId": plan, "policies": ["p"], "reason": "r"}}


def _applied(plan: str, finished: str) -> dict[str, Any]:
    return {"runId": "r", "kind": "apply", "outcome": "Succeeded", "planId": plan, "finishedAt": finished}


def test_an_exception_waives_a_plan_ids_apply_once() -> None:
    """A plan id can come back (a variable changed and changed back): the exception granted for its first
    apply is spent; one granted after that apply is a new decision and waives."""
    from tfcontroller.controllers.terraform.policy_select import unspent

    old = _exception("plan-main-a", "2026-01-01T10:00:00Z", "old")
    new = _exception("plan-main-a", "2026-01-01T12:00:00Z", "new")
    other = _exception("plan-main-b", "2026-01-01T09:00:00Z", "other")
    never_applied: dict[str, Any] = {"history": []}
    assert unspent([old, new, other], never_applied) == [old, new, other]
    status = {"history": [_applied("plan-main-a", "2026-01-01T11:00:00Z")], "lastAppliedPlan": "plan-main-c"}
    assert unspent([old, new, other], status) == [new, other]
    # applied (lastAppliedPlan) with no history entry left to say when: every exception for it is spent
    assert unspent([old, new], {"history": [], "lastAppliedPlan": "plan-main-a"}) == []
    # a failed apply spends nothing
    failed = {"history": [{**_applied("plan-main-a", "2026-01-01T11:00:00Z"), "outcome": "Failed"}]}
    assert unspent([old], failed) == [old]
