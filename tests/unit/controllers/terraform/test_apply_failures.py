"""spec.remediation.retries counts failed applies only (review of issue 20, finding 2): the streak in
status.applyFailures follows each apply's own result (policy.streak_after), so a step after a successful
apply that fails (the outputs Secret, a health check) is no failed apply; a wait for a lock, this
controller stopping, or a stale plan planned again is no result at all; and an apply adopted from an earlier
controller (pod mode) counts, or clears the streak, like any other. Pure: plain dicts and dataclasses."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tfcontroller.api.errors import HeldError, StallingError, TransientError, WaitingError
from tfcontroller.controllers.terraform.context import DonePart
from tfcontroller.controllers.terraform.policy import ApplyFailures, ApplyResult, streak_after
from tfcontroller.controllers.terraform.runs import AdoptedApplyFailed, adopted_apply_result
from tfcontroller.controllers.terraform.steps import apply_error_text, count_apply_failures
from tfcontroller.terraform.errors import CancelledError, LockInfo, StateLockedError

D1, D2 = "sha256:1", "sha256:2"
OK = ApplyResult(True, D1)
FAIL = ApplyResult(False, D1, "ApplyFailed: boom")
FAIL2 = ApplyResult(False, D2, "ApplyFailed: other")


@pytest.mark.parametrize(("before", "results", "after"), [
    (ApplyFailures(), [], None),  # nothing recorded: nothing to record
    (ApplyFailures(2, D1, "", "e"), [], ApplyFailures(2, D1, "", "e")),  # no apply ended: kept as it is
    (ApplyFailures(), [FAIL], ApplyFailures(1, D1, "", "ApplyFailed: boom")),
    (ApplyFailures(1, D1, "", "e"), [FAIL], ApplyFailures(2, D1, "", "ApplyFailed: boom")),
    (ApplyFailures(2, D1, "", "e"), [OK], None),  # a success clears
    (ApplyFailures(2, D1, "", "e"), [FAIL2], ApplyFailures(1, D2, "", "ApplyFailed: other")),  # new inputs
    (ApplyFailures(2, D1, "", "e"), [OK, FAIL], ApplyFailures(1, D1, "", "ApplyFailed: boom")),  # adopted ok, then
    (ApplyFailures(), [FAIL, OK], None),  # an adopted failure, then a successful apply
    (ApplyFailures(1, D1, "", "e"), [FAIL, FAIL], ApplyFailures(3, D1, "", "ApplyFailed: boom")),
])
def test_streak_after_each_apply_in_order(before: ApplyFailures, results: list[ApplyResult],
                                          after: ApplyFailures | None) -> None:
    assert streak_after(before, results, "", 0) == after


def test_a_long_error_is_cut() -> None:
    after = streak_after(ApplyFailures(), [ApplyResult(False, D1, "x" * 1000)], "", 0)
    assert after is not None and len(after.last_error) == 300


@pytest.mark.parametrize(("exc", "text"), [
    (TransientError("ApplyFailed", "bucket exists"), "ApplyFailed: bucket exists"),
    (StallingError("ProviderError", "no such provider"), "ProviderError: no such provider"),
    (RuntimeError("boom"), "RuntimeError: boom"),
    (WaitingError("StateLocked", "held by someone", 30), None),  # a wait: no result of the apply
    (StateLockedError(LockInfo(id="l1"), "held by someone"), None),
    (HeldError("PlanPending", "waits", 60), None),
    (CancelledError("apply"), None),
    (AdoptedApplyFailed("ApplyFailed", "recorded by the adoption"), None),  # not twice
])
def test_which_exceptions_of_an_apply_are_failed_applies(exc: BaseException, text: str | None) -> None:
    assert apply_error_text(exc) == text


def ctx_of(results: list[ApplyResult], deleting: bool = False, requested_at: str = "", generation: int = 0) -> Any:
    done = DonePart()
    done.apply_results.extend(results)
    annotations = {"tfcontroller.io/requested-at": requested_at} if requested_at else {}
    return SimpleNamespace(deleting=deleting, done=done, tf=SimpleNamespace(meta=SimpleNamespace(annotations=annotations, generation=generation)))


def test_count_apply_failures_success_then_a_failing_later_step_is_no_failure() -> None:
    # the reviewer's scenario: applied, then Stalled HealthCheckInvalid; the apply itself succeeded
    status: dict[str, Any] = {"applyFailures": ApplyFailures(1, D1, "", "ApplyFailed: x").to_status()}
    count_apply_failures(ctx_of([OK]), status)
    assert "applyFailures" not in status
    for _ in range(3):
        count_apply_failures(ctx_of([OK]), status)
    assert "applyFailures" not in status


def test_count_apply_failures_table_of_reconciles() -> None:
    status: dict[str, Any] = {}
    count_apply_failures(ctx_of([]), status)  # nothing applied (a wait, a stale plan planned again)
    assert status == {}
    count_apply_failures(ctx_of([FAIL]), status)
    count_apply_failures(ctx_of([FAIL]), status)
    assert ApplyFailures.of(status).count == 2
    count_apply_failures(ctx_of([]), status)  # a reconcile that applied nothing keeps the streak
    assert ApplyFailures.of(status).count == 2
    count_apply_failures(ctx_of([FAIL], deleting=True), status)  # deletion: not counted
    assert ApplyFailures.of(status).count == 2
    count_apply_failures(ctx_of([FAIL], requested_at="2026-01-01T00:00:00Z"), status)  # a new request
    assert ApplyFailures.of(status) == ApplyFailures(1, D1, "2026-01-01T00:00:00Z", "ApplyFailed: boom")
    count_apply_failures(ctx_of([FAIL], requested_at="2026-01-01T00:00:00Z", generation=2), status)  # spec edit
    assert ApplyFailures.of(status) == ApplyFailures(1, D1, "2026-01-01T00:00:00Z", "ApplyFailed: boom", 2)
    count_apply_failures(ctx_of([OK]), status)
    assert "applyFailures" not in status


def test_an_adopted_apply_counts_and_clears_like_any_other() -> None:
    status: dict[str, Any] = {"inputsDigest": D1, "plan": {"pending": "p1"}}
    failed = adopted_apply_result(status, False, "ApplyFailed: from the earlier controller")
    assert failed == ApplyResult(False, D1, "ApplyFailed: from the earlier controller")
    count_apply_failures(ctx_of([failed]), status)
    assert ApplyFailures.of(status).count == 1
    # retries: 1 -- fail, an adopted success, one later failure: one failure in a row, not two
    count_apply_failures(ctx_of([adopted_apply_result(status, True)]), status)
    assert "applyFailures" not in status
    count_apply_failures(ctx_of([FAIL]), status)
    assert ApplyFailures.of(status).count == 1
