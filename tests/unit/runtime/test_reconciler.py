"""The reconcile frame: step loop (continue / requeue / stop / errors), the summariser table
(before conditions, outcome → want result and want Ready/Reconciling/Stalled), observedGeneration,
Ready-transition Events, and the single status patch in the finally."""

from __future__ import annotations

import copy
import datetime as dt
import logging
from typing import Any

import pytest

from tests.support.kstatus import assert_kstatus
from tfcontroller.api import conditions as c
from tfcontroller.api.errors import HeldError, StallingError, TransientError, WaitingError
from tfcontroller.runtime.reconciler import (
    CONTINUE,
    STOP,
    Notice,
    Outcome,
    log_outcome,
    mark_reconciling,
    ready,
    ready_transition,
    requeue_after,
    run_frame,
    run_steps,
    summarize,
    summarize_object,
    with_notice,
)
from tfcontroller.runtime.result import Result

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
EARLIER = "2024-01-01T00:00:00Z"


def cond(t: str, s: str, r: str, m: str = "", gen: int = 1, ltt: str = EARLIER) -> dict[str, Any]:
    return {"type": t, "status": s, "reason": r, "message": m, "lastTransitionTime": ltt, "observedGeneration": gen}


def view(conds: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {x["type"]: (x["status"], x["reason"]) for x in conds}


CASES = [
    # name, before conditions, outcome, want result, want (type -> (status, reason))
    ("success from nothing", [], Outcome("success"), Result(requeue_after=60),
     {"Ready": ("True", "ReconciliationSucceeded")}),
    ("success clears failure", [cond("Ready", "False", "X"), cond("Reconciling", "True", "P"),
                                cond("Stalled", "True", "X"), cond("Planned", "True", "PlanGenerated")],
     Outcome("success", ready_reason="ArtifactReady", ready_message="ok"), Result(requeue_after=60),
     {"Ready": ("True", "ArtifactReady"), "Planned": ("True", "PlanGenerated")}),
    ("step requeue", [], Outcome("requeue", after=5), Result(requeue_after=5), {"Ready": ("True", "ReconciliationSucceeded")}),
    ("waiting", [cond("Ready", "True", "Ok")], Outcome("waiting", WaitingError("DependencyNotReady", "dep", 7), after=7),
     Result(requeue_after=7), {"Ready": ("False", "DependencyNotReady"), "Reconciling": ("True", "ProgressingWithRetry")}),
    ("held for the user", [cond("Ready", "True", "Ok"), cond("Reconciling", "True", "P"), cond("Stalled", "True", "X")],
     Outcome("held", HeldError("PlanPending", "plan p waits", 600), after=600), Result(requeue_after=600),
     {"Ready": ("False", "PlanPending")}),
    ("transient", [cond("Stalled", "True", "Bad")], Outcome("transient", TransientError("GitOperationFailed", "down")),
     Result(error=..., retry_base=3), {"Ready": ("False", "GitOperationFailed"), "Reconciling": ("True", "ProgressingWithRetry")}),
    ("unknown exception", [], Outcome("transient", KeyError("k")), Result(error=..., retry_base=3),
     {"Ready": ("False", "ReconciliationFailed"), "Reconciling": ("True", "ProgressingWithRetry")}),
    ("stalled", [cond("Reconciling", "True", "P")], Outcome("stalled", StallingError("InvalidSpec", "bad ref")), Result(),
     {"Ready": ("False", "InvalidSpec"), "Stalled": ("True", "InvalidSpec")}),
]


@pytest.mark.parametrize(("name", "before", "outcome", "want_result", "want"), CASES, ids=[c[0] for c in CASES])
def test_summarize_table(name: str, before: list, outcome: Outcome, want_result: Result, want: dict) -> None:
    conds = [dict(x) for x in before]
    summarize(conds, outcome, generation=2, now=NOW)
    assert view(conds) == want
    assert all(x["observedGeneration"] == 2 for x in conds if x["type"] in ("Ready", "Reconciling", "Stalled"))
    got = outcome.result(interval=60, retry_base=3)
    if want_result.error is ...:
        assert got.error is outcome.error and got.retry_base == 3 and got.requeue_after is None
    else:
        assert got == want_result


def test_transition_time_moves_only_when_status_changes() -> None:
    conds = [cond("Ready", "False", "A", "first")]
    summarize(conds, Outcome("transient", TransientError("B", "second")), 1, now=NOW)
    assert conds[0]["lastTransitionTime"] == EARLIER
    assert conds[0]["reason"] == "B"
    summarize(conds, Outcome("success"), 1, now=NOW)
    assert conds[0]["lastTransitionTime"] == "2024-05-01T12:00:00Z"


def test_run_steps_stops_at_first_error_and_names_the_step() -> None:
    ran: list[str] = []

    def fetch(ctx: Any, obj: dict) -> None:
        ran.append("fetch")

    def build(ctx: Any, obj: dict) -> None:
        ran.append("build")
        raise WaitingError("DependencyNotReady", "waiting for x", 10)

    def apply(ctx: Any, obj: dict) -> None:
        ran.append("apply")

    out = run_steps(None, {}, [fetch, build, apply])
    assert ran == ["fetch", "build"]
    assert out.kind == "waiting" and out.after == 10 and out.step == "build"


def test_run_steps_requeue_stop_and_ready_reason() -> None:
    out = run_steps(None, {}, [lambda c, o: ready("ArtifactInStorage", "stored r1"), lambda c, o: CONTINUE])
    assert (out.kind, out.ready_reason, out.ready_message) == ("success", "ArtifactInStorage", "stored r1")
    out = run_steps(None, {}, [lambda c, o: requeue_after(3), lambda c, o: pytest.fail("must not run")])
    assert (out.kind, out.after) == ("requeue", 3)
    out = run_steps(None, {}, [lambda c, o: STOP, lambda c, o: pytest.fail("must not run")])
    assert out.kind == "success"


def test_observed_generation_set_only_when_settled() -> None:
    obj = {"metadata": {"generation": 4}, "status": {"observedGeneration": 3}}
    summarize_object(obj, Outcome("transient", TransientError("X", "y")), NOW)
    assert obj["status"]["observedGeneration"] == 3
    summarize_object(obj, Outcome("stalled", StallingError("X", "y")), NOW)
    assert obj["status"]["observedGeneration"] == 4
    obj["metadata"]["generation"] = 5
    summarize_object(obj, Outcome("held", HeldError("PlanPending", "waits", 60), after=60), NOW)
    assert obj["status"]["observedGeneration"] == 5


def test_held_error_becomes_a_held_outcome_that_is_not_a_failure() -> None:
    out = run_steps(None, {}, [lambda c, o: (_ for _ in ()).throw(HeldError("PlanPending", "waits", 30))])
    assert (out.kind, out.after, out.settled, out.failed) == ("held", 30, True, False)
    assert [Outcome(k).failed for k in ("waiting", "transient", "stalled")] == [True, True, True]
    assert [Outcome(k).failed for k in ("success", "requeue", "held")] == [False, False, False]


def test_run_frame_patches_once_even_when_a_step_raises_base_exception() -> None:
    patches: list[tuple[dict, dict]] = []
    obj = {"metadata": {"name": "a", "generation": 1}, "status": {}}

    def boom(ctx: Any, o: dict) -> None:
        mark_reconciling(o, "working")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_frame(None, obj, [boom], lambda b, a: patches.append((b, a)))
    assert len(patches) == 1
    before, after = patches[0]
    assert before["status"] == {}
    assert view(after["status"]["conditions"]) == {
        "Ready": ("False", "ReconciliationFailed"), "Reconciling": ("True", "ProgressingWithRetry")}


def test_run_frame_success_patches_summary() -> None:
    patches: list[dict] = []
    obj = {"metadata": {"name": "a", "generation": 2}, "status": {}}
    out = run_frame(None, obj, [lambda c, o: ready("Done", "all good")], lambda b, a: patches.append(a), now=NOW)
    assert out.kind == "success"
    assert patches[0]["status"]["observedGeneration"] == 2
    assert view(patches[0]["status"]["conditions"]) == {"Ready": ("True", "Done")}


@pytest.mark.parametrize(
    ("before", "after", "want"),
    [
        ([], [cond("Ready", "True", "Ok")], None),
        ([cond("Ready", "True", "Ok")], [cond("Ready", "True", "Ok")], None),
        ([cond("Ready", "False", "Bad")], [cond("Ready", "True", "Ok", "fine")], ("Normal", "Ok")),
        ([cond("Ready", "True", "Ok")], [cond("Ready", "False", "Bad")], ("Warning", "Bad")),
        ([cond("Ready", "False", "Bad", "m")], [cond("Ready", "False", "Bad", "m")], None),
        ([cond("Ready", "False", "Bad", "m")], [cond("Ready", "False", "Worse", "m")], ("Warning", "Worse")),
    ],
)
def test_ready_transition_events(before: list, after: list, want: tuple | None) -> None:
    got = ready_transition(before, after)
    assert (None if got is None else (got.type, got.reason)) == want


RETRYING = cond("Reconciling", "True", "ProgressingWithRetry", "m")
STALLED = cond("Stalled", "True", "SpecValidationFailed", "m")


@pytest.mark.parametrize(
    ("before", "recovered_from"),
    [
        # failures, every kind's summary of them: transient/waiting (Reconciling) and stalled
        ([cond("Ready", "False", "ApplyFailed", "bad value"), RETRYING], "ApplyFailed"),
        ([cond("Ready", "False", "GitOperationFailed", "no route"), RETRYING], "GitOperationFailed"),
        ([cond("Ready", "False", "SpecValidationFailed", "bad spec"), STALLED], "SpecValidationFailed"),
        ([cond("Ready", "False", "BuildFailed", "x" * 500), RETRYING], "BuildFailed"),
        # not failures: held for approval, waiting on a source or dependency, a run in progress, first run
        ([cond("Ready", "False", "PlanPending", "waits for approval")], None),
        ([cond("Ready", "False", "SourceNotReady", "no artifact yet"), RETRYING], None),
        ([cond("Ready", "False", "DependencyNotReady", "dep"), RETRYING], None),
        ([cond("Ready", "Unknown", "Progressing", "Applying"), cond("Reconciling", "True", "Progressing")], None),
        ([], None),
    ],
)
def test_recovery_event_names_the_failure(before: list, recovered_from: str | None) -> None:
    """Ready False→True after a failure is a Normal Event that says it recovered and from what (the old
    reason and message, cut to a readable length); leaving a wait or a held plan is no recovery."""
    after = [cond("Ready", "True", "ApplySucceeded", "Applied plan p")]
    got = ready_transition(before, after)
    if recovered_from is None:
        assert got is None or not got.recovered
        return
    assert got is not None and got.type == "Normal" and got.recovered and got.reason == "ApplySucceeded"
    assert got.message.startswith(f"Recovered from {recovered_from} (")
    assert got.message.endswith("): Applied plan p")
    assert len(got.message) < 400


@pytest.mark.parametrize(
    ("reason", "want_type"),
    [("SourceNotReady", "Normal"), ("DependencyNotReady", "Normal"), ("ArtifactFailed", "Warning"),
     ("ApplyFailed", "Warning"), ("PlanPending", "Warning")],
)
def test_waiting_is_normal_failing_is_warning(reason: str, want_type: str) -> None:
    got = ready_transition([], [cond("Ready", "False", reason, "m"), RETRYING])
    assert got is not None and (got.type, got.reason) == (want_type, reason)
    assert got.wanted(quiet_success=True)  # every controller records waits and failures


@pytest.mark.parametrize(
    ("notice", "quiet", "want"),
    [
        (Notice("Warning", "ApplyFailed", "m"), True, True),
        (Notice("Normal", "Succeeded", "m", recovered=True), True, True),
        (Notice("Normal", "Succeeded", "m"), True, False),
        (Notice("Normal", "Succeeded", "m"), False, True),
        (Notice("Normal", "SourceNotReady", "m", waiting=True), True, True),
    ],
)
def test_notice_wanted(notice: Notice, quiet: bool, want: bool) -> None:
    assert notice.wanted(quiet_success=quiet) is want


def test_a_recovery_replaces_the_runs_own_event_of_the_same_success() -> None:
    """Issue 13 review (point 6): a Terraform that recovers recorded its own "Applied …" Event and then
    "Recovered from …: Applied …" — the same news twice. The recovery takes the own Event's place; any
    other Event of the run stays, in order; a notice that is no recovery is appended."""
    failed = [cond("Ready", "False", "PlanFailed", "syntax error"), RETRYING]
    done = [cond("Ready", "True", "ApplySucceeded", "Applied plan p1")]
    notice = ready_transition(failed, done)
    assert notice is not None and notice.recovered
    own = [("Warning", "UndeclaredVariables", "x"), ("Normal", "ApplySucceeded", "Applied plan p1"),
           ("Normal", "OutputsWritten", "y")]
    assert with_notice(own, notice) == [own[0], ("Normal", "ApplySucceeded", notice.message), own[2]]
    assert notice.message.startswith("Recovered from PlanFailed (syntax error): Applied plan p1")
    other = [("Normal", "ApplySucceeded", "Applied plan p0")]  # not this success: kept, recovery added
    assert with_notice(other, notice) == [*other, ("Normal", "ApplySucceeded", notice.message)]
    plain = Notice("Warning", "ApplyFailed", "m")
    assert with_notice(own, plain) == [*own, ("Warning", "ApplyFailed", "m")]


@pytest.mark.parametrize(
    ("outcome", "want"),
    [
        (Outcome("waiting", WaitingError("SourceNotReady", "no artifact yet", 5)), (logging.INFO, "SourceNotReady")),
        (Outcome("waiting", WaitingError("DependencyNotReady", "dep", 5)), (logging.INFO, "DependencyNotReady")),
        (Outcome("waiting", WaitingError("ApplyFailed", "bad", 5)), (logging.WARNING, "ApplyFailed")),
        (Outcome("transient", TransientError("PlanFailed", "bad")), (logging.WARNING, "PlanFailed")),
        (Outcome("stalled", StallingError("SpecValidationFailed", "bad")), (logging.WARNING, "SpecValidationFailed")),
        (Outcome("held", HeldError("PlanPending", "waits", 5)), None),
        (Outcome("success"), None),
    ],
)
def test_log_outcome_levels(outcome: Outcome, want: tuple[int, str] | None,
                            caplog: pytest.LogCaptureFixture) -> None:
    """Failures log at warning for every controller, waiting for a source/dependency at info, with the
    object named on the line."""
    logger = logging.getLogger("test.log_outcome")
    with caplog.at_level(logging.DEBUG, logger="test.log_outcome"):
        log_outcome(logger, outcome, "ns/obj")
    got = [(r.levelno, r.getMessage(), getattr(r, "obj", None)) for r in caplog.records]
    if want is None:
        assert got == []
        return
    assert len(got) == 1 and got[0][0] == want[0] and f"reason={want[1]}" in got[0][1] and got[0][2] == "ns/obj"


@pytest.mark.parametrize("before", [
    [],
    [cond("Ready", "True", "ApplySucceeded")],
    [cond("Ready", "False", "PlanFailed"), cond("Reconciling", "True", "ProgressingWithRetry")],
    [cond("Ready", "False", "InvalidSpec"), cond("Stalled", "True", "InvalidSpec")],
])
def test_progress_shows_ready_unknown_and_no_stall(before: list[dict[str, Any]]) -> None:
    """A run in progress: Reconciling=True, Ready=Unknown with the progress message, no Stalled, so the
    object keeps the status conventions at every patch (tests/support/kstatus.py)."""
    obj = {"kind": "Terraform", "metadata": {"name": "a", "namespace": "ns", "generation": 2},
           "status": {"conditions": copy.deepcopy(before)}}
    mark_reconciling(obj, "Planning at main@sha1:abc")
    assert view(obj["status"]["conditions"]) == {"Ready": ("Unknown", "Progressing"),
                                                 "Reconciling": ("True", "Progressing")}
    assert c.find(obj["status"]["conditions"], "Ready").message == "Planning at main@sha1:abc"
    assert_kstatus(obj)
