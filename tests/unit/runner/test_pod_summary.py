"""The runner Pod's termination summary (never a value) and its delivery deadline."""

from __future__ import annotations

from tfcontroller.api import run_protocol as rp
from tfcontroller.runner.pod import DELIVERY_RESERVE, deadline_from_env, summary


def test_summary_has_outcome_reason_plan_and_counts_but_no_message() -> None:
    result = rp.RunResult("r1", rp.PLAN, rp.SUCCEEDED, "PlanGenerated", "secret-ish message text",
                          plan=rp.PlanSummary(True, 1, 2, 3, "sha256:" + "0" * 64))
    text = summary(result, "", delivered=True)
    assert "outcome=succeeded" in text and "reason=PlanGenerated" in text and "add=1 change=2 destroy=3" in text
    assert "delivered=true" in text and "secret-ish" not in text


def test_summary_of_a_failed_undelivered_apply() -> None:
    result = rp.RunResult("r1", rp.APPLY, rp.FAILED, "ApplyFailed", "boom s3cret", rp.TRANSIENT, terraform_killed=True)
    text = summary(result, "main@sha1:abc", delivered=False)
    assert "plan=main@sha1:abc" in text and "failure=transient" in text and "terraform_killed=true" in text
    assert "delivered=false" in text and "s3cret" not in text


def test_deadline_keeps_a_reserve() -> None:
    assert deadline_from_env({"TFCONTROLLER_RUN_DEADLINE": "600"}, 100.0) == 100.0 + 600 - DELIVERY_RESERVE
    assert deadline_from_env({"TFCONTROLLER_RUN_DEADLINE": "1"}, 0.0) == DELIVERY_RESERVE
    assert deadline_from_env({}, 0.0) == 3600.0 - DELIVERY_RESERVE
