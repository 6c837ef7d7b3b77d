"""tfcontroller.api.errors: the three reconcile outcomes carry reason, message and delay."""

from __future__ import annotations

from tfcontroller.api.errors import ReconcileError, SpecError, StallingError, TransientError, WaitingError


def test_outcomes() -> None:
    w = WaitingError("DependencyNotReady", "waiting for infra/bucket", 30)
    assert (w.reason, w.message, w.after_seconds, str(w)) == ("DependencyNotReady", "waiting for infra/bucket", 30,
                                                              "waiting for infra/bucket")
    assert isinstance(StallingError("X", "m"), ReconcileError)
    assert not isinstance(TransientError("X", "m"), StallingError)


def test_spec_error_is_stalling_and_names_field() -> None:
    e = SpecError("spec.interval", "invalid duration 'banana'")
    assert isinstance(e, StallingError)
    assert (e.field, e.detail, e.reason) == ("spec.interval", "invalid duration 'banana'", "SpecValidationFailed")
    assert str(e) == "spec.interval: invalid duration 'banana'"
