"""A failure crosses the runner boundary and comes back as the class it left as (terraform/run_results.py):
the controller's steps decide on error types (lock, stale plan, init, timeout), so the round trip keeps
type, reason, message and the fields those decisions read; the message is scrubbed on the way out."""

from __future__ import annotations

import json

import pytest

from tfcontroller.api import errors as api_errors
from tfcontroller.api import run_protocol as rp
from tfcontroller.terraform.errors import (
    CancelledError,
    ConfigurationError,
    InitRequiredError,
    LockInfo,
    MissingVariablesError,
    StalePlanError,
    StateLockedError,
    TimeoutExpiredError,
    TransientError,
)
from tfcontroller.terraform.run_results import error_of, failure_result

REQUEST = rp.RunRequest("r-1", rp.APPLY, "team-a", "web", "http://a", "sha256:" + "0" * 64, plan_id="p")

ERRORS: list[api_errors.ReconcileError] = [
    StateLockedError(LockInfo(id="abc-123", who="runner@tfrun-web-1", created="2026-11-29T22:00:00Z"),
                     "Error acquiring the state lock", 15.0),
    StalePlanError("Saved plan is stale"),
    InitRequiredError("Required plugins are not installed"),
    MissingVariablesError(["region", "name"]),
    TimeoutExpiredError("apply", 60),
    CancelledError("apply"),
    ConfigurationError("Unsupported argument", "main.tf:3"),
    TransientError("TerraformFailed", "terraform apply failed: boom"),
    api_errors.WaitingError("VarsGenerationFailed", "spec.varsFrom[0]: Secret team-a/x not found", 30.0),
    api_errors.StallingError("VarsGenerationFailed", "spec.varsFrom[1]: the runner may not read Secret team-a/db"),
]


@pytest.mark.parametrize("exc", ERRORS, ids=lambda e: e.reason)
def test_round_trip_keeps_type_reason_and_message(exc: api_errors.ReconcileError) -> None:
    result = rp.RunResult.from_dict(json.loads(json.dumps(failure_result(REQUEST, exc).to_dict())))
    back = error_of(result)
    assert back is not None
    assert isinstance(back, _outcome(exc))
    assert (back.reason, back.message) == (exc.reason, exc.message)
    for typed in (StateLockedError, StalePlanError, InitRequiredError, MissingVariablesError, TimeoutExpiredError,
                  CancelledError):
        assert isinstance(back, typed) == isinstance(exc, typed), typed
    if isinstance(exc, StateLockedError):
        assert isinstance(back, StateLockedError)
        assert (back.lock_id, back.holder, back.lock.created, back.after_seconds) == (
            "abc-123", "runner@tfrun-web-1", "2026-11-29T22:00:00Z", 15.0)
    if isinstance(exc, MissingVariablesError):
        assert isinstance(back, MissingVariablesError) and back.names == ["name", "region"]
    if isinstance(exc, api_errors.WaitingError):
        assert isinstance(back, api_errors.WaitingError) and back.after_seconds == exc.after_seconds


def _outcome(exc: api_errors.ReconcileError) -> type[api_errors.ReconcileError]:
    for kind in (api_errors.StallingError, api_errors.WaitingError, api_errors.TransientError):
        if isinstance(exc, kind):
            return kind
    raise AssertionError(exc)


def test_messages_are_scrubbed_and_killed_is_kept() -> None:
    exc = TransientError("TerraformFailed", "terraform apply failed: password hunter2 refused")
    result = failure_result(REQUEST, exc, ["hunter2"], terraform_killed=True)
    assert result.message == "terraform apply failed: password *** refused" and result.terraform_killed
    assert result.failure == rp.TRANSIENT and not result.succeeded


def test_a_success_is_no_error() -> None:
    assert error_of(rp.RunResult("r-1", rp.PLAN, rp.SUCCEEDED, "NoChanges")) is None
