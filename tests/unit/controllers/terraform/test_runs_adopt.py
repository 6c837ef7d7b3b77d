"""Which plan an adopting controller offers again on its run API (issue 21, chaos suite): an earlier
controller's apply Pod still in flight fetches its plan from the run API, so a controller that adopts it
must offer that plan again, or a controller kill would make the apply fail (PlanFetchFailed) and the plan
be made again. Only pod-mode apply runs that name their plan qualify."""

from __future__ import annotations

import pytest

from tfcontroller.controllers.terraform.locks import RunRecord
from tfcontroller.controllers.terraform.runs import plan_to_reoffer

PLAN = "plan-main-5a941c4194-d537297d"


def _record(operation: str, plan: str = "", pod: str = "") -> RunRecord:
    return RunRecord("inst", 1, "host", "ee368ec7f6704ec8", "2026-11-30T11:34:12Z", operation, plan=plan, pod=pod)


@pytest.mark.parametrize(("record", "want"), [
    (_record("apply", PLAN, pod="tfrun-ee368ec7f6704ec8-2"), PLAN),  # the case the chaos suite found
    (_record("apply", PLAN), None),  # local mode: the run died with its controller, nothing fetches
    (_record("plan", "", pod="tfrun-ee368ec7f6704ec8-1"), None),  # a plan run fetches no plan
    (_record("apply", "", pod="tfrun-ee368ec7f6704ec8-2"), None),  # no plan named: nothing to load
    (_record("destroy", PLAN, pod="tfrun-ee368ec7f6704ec8-2"), None),  # not an apply of a saved plan
])
def test_plan_to_reoffer(record: RunRecord, want: str | None) -> None:
    assert plan_to_reoffer(record) == want
