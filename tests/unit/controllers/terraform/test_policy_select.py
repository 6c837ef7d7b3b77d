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
