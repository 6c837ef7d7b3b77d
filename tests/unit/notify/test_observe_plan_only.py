"""Issue 20: a planOnly Terraform's pending plan is never applied, so no PlanPending notification asks
anyone to approve it; an ordinary manual plan still does, and its counts carry imports and moves."""

from __future__ import annotations

from typing import Any

from tfcontroller.notify.observe import waits_for_human


def obj(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "infra"}, "spec": {"approvePlan": "", **spec},
            "status": {"plan": {"pending": "plan-main-aaaaaaaaaa-bbbbbbbb", "add": 0, "import": 1, "move": 2}}}


def test_a_plan_only_plan_waits_for_nobody() -> None:
    assert waits_for_human(obj())
    assert not waits_for_human(obj(planOnly=True))
    assert waits_for_human(obj(planOnly=False))
