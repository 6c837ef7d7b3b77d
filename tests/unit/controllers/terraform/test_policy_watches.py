"""Which Terraforms a PlanPolicy or PolicyException change re-checks (indexes.py, issue 18): only those with
a pending plan — of the policy's namespace, or of every namespace for one in the controller's namespace —
and the one an exception names."""

from __future__ import annotations

from typing import Any

from tfcontroller.controllers.terraform.indexes import (
    ALL_NAMESPACES,
    exception_target,
    pending_plan_index,
    policy_scope,
)


def tf(ns: str, pending: str) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": "x"}, "status": {"plan": {"pending": pending}}}


def test_only_pending_plans_are_indexed() -> None:
    assert pending_plan_index(tf("team-a", "plan-1")) == ["team-a", ALL_NAMESPACES]
    assert pending_plan_index(tf("team-a", "")) == []
    assert pending_plan_index({"metadata": {"namespace": "team-a", "name": "x"}}) == []


def test_policy_scope_is_its_namespace_or_all_for_the_controllers() -> None:
    scope = policy_scope("tfcontroller-system")
    assert scope({"metadata": {"namespace": "team-a", "name": "p"}}) == "team-a"
    assert scope({"metadata": {"namespace": "tfcontroller-system", "name": "p"}}) == ALL_NAMESPACES


def test_exception_targets_the_terraform_it_names() -> None:
    exc = {"metadata": {"namespace": "team-a", "name": "e"}, "spec": {"terraformRef": {"name": "db"}}}
    assert exception_target(exc) == ["team-a/db"]
    assert exception_target({"metadata": {"namespace": "team-a", "name": "e"}, "spec": {}}) == []
