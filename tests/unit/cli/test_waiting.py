"""The one waiting rule of the commands that ask the controller for a run (cli/waiting.py), on plain
objects: a request counts as answered only once `status.lastHandledRequestedAt` echoes it, and then the
Ready condition is the answer — True ends ✔, False ends ✗ at once whether the controller retries
(Reconciling=True), stalled or holds a plan, Unknown means a run is still going; and `replan`'s and
`force-unlock`'s verdicts on top of it."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.cli.ops_control import FORCE_UNLOCK_FAILED, replan_verdict, unlock_refusal
from tfcontroller.cli.waiting import Outcome, label, outcome
from tfcontroller.controllers.terraform import context
from tfcontroller.kube.resources import GITREPOSITORIES, TERRAFORMS
from tfcontroller.terraform.errors import LockInfo


def cond(type_: str, status: str, reason: str = "R", message: str = "m") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-01-01T00:00:00Z"}


def obj(handled: str | None, *conditions: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "app"},
            "status": {**({"lastHandledRequestedAt": handled} if handled else {}), **status,
                       "conditions": list(conditions)}}


@pytest.mark.parametrize(("case", "o", "done", "ready", "held", "stalled"), [
    ("not echoed yet: an older run's failure is no answer", obj("old", cond("Ready", "False")), False, False, False, False),
    ("never echoed", obj(None, cond("Ready", "True")), False, False, False, False),
    ("echoed, run still in progress", obj("now", cond("Ready", "Unknown"), cond("Reconciling", "True")),
     False, False, False, False),
    ("echoed, no Ready yet", obj("now"), False, False, False, False),
    ("echoed, Ready", obj("now", cond("Ready", "True")), True, True, False, False),
    ("echoed, Ready but still reconciling (never written): wait", obj("now", cond("Ready", "True"),
                                                                     cond("Reconciling", "True")),
     False, False, False, False),
    ("failed attempt, the controller retries", obj("now", cond("Ready", "False", "GitCloneFailed"),
                                                   cond("Reconciling", "True", "ProgressingWithRetry")),
     True, False, False, False),
    ("stalled spec", obj("now", cond("Ready", "False", "SpecValidationFailed"), cond("Stalled", "True")),
     True, False, False, True),
    ("plan held for approval", obj("now", cond("Ready", "False", "PlanPending")), True, False, True, False),
])
def test_outcome(case: str, o: dict[str, Any], done: bool, ready: bool, held: bool, stalled: bool) -> None:
    result = outcome(o, "now")
    assert (result.done, result.ready, result.held, result.stalled) == (done, ready, held, stalled), case


def test_progress_before_the_answer() -> None:
    running = obj("old", cond("Ready", "Unknown", "Progressing", "Planning"), cond("Reconciling", "True", "Progressing", "Planning"))
    assert outcome(running, "now").message == "Planning"
    retrying = obj("old", cond("Ready", "False", "GitOperationFailed", "no repo"),
                   cond("Reconciling", "True", "ProgressingWithRetry", "no repo"))
    assert outcome(retrying, "now").message == "waiting for the controller"  # an old failure is not progress


def test_outcome_reads_fluxs_field_and_carries_reason_and_message() -> None:
    o = {"status": {"lastHandledReconcileAt": "now", "conditions": [cond("Ready", "False", "BuildFailed", "bad")]}}
    result = outcome(o, "now")
    assert result.done and result.text == "BuildFailed: bad"


def test_label_is_kubectls_singular_kind_group_name() -> None:
    assert label(TERRAFORMS, "app") == "terraform.tfcontroller.io/app"
    assert label(GITREPOSITORIES, "src") == "gitrepository.tfcontroller.io/src"


def _replanned(value: str, ready: Outcome, pending: str = "") -> tuple[bool, str]:
    return replan_verdict("v1")(ready, {"status": {"lastHandledReplan": value, "plan": {"pending": pending}}})


def test_replan_verdict() -> None:
    ok = Outcome(True, True, "NoChanges", "No changes at main@sha1:1")
    held = Outcome(True, False, "PlanPending", "waits", held=True)
    failed = Outcome(True, False, "PlanFailed", "syntax error")
    assert _replanned("v1", ok) == (True, "re-planned — NoChanges: No changes at main@sha1:1")
    assert _replanned("v1", held, "plan-x") == (True, "planned plan-x, which waits for approval — PlanPending: waits")
    assert _replanned("v1", failed) == (False, "re-plan failed — PlanFailed: syntax error")
    # the run ended before the plan step (the source failed): the re-plan is still to come
    assert _replanned("v0", Outcome(True, False, "SourceNotReady", "x")) == (False, "not re-planned — SourceNotReady: x")


def test_unlock_refusal_names_the_held_lock() -> None:
    held = LockInfo(id="1b2c", who="me@host", operation="OperationTypeApply", created="2026-01-01T00:00:00Z")
    assert unlock_refusal(held, "1b2c", "terraform.tfcontroller.io/app") is None
    refused = unlock_refusal(held, "9f9f", "terraform.tfcontroller.io/app")
    assert refused is not None and "lock 9f9f is not held" in refused
    assert "the held lock is lock 1b2c held by me@host for OperationTypeApply since 2026-01-01T00:00:00Z" in refused
    assert refused.endswith("(to release it: --lock-id 1b2c)")
    assert unlock_refusal(None, "9f9f", "x") == "no lock is held on the state of x: nothing to unlock"
    tried = unlock_refusal(held, "1b2c", "x", last_handled="1b2c")  # the controller tries an id once
    assert tried is not None and tried.startswith("the controller already tried to release lock 1b2c of x")
    assert unlock_refusal(held, "1b2c", "x", last_handled="0000") is None


def test_the_cli_reads_the_controllers_event_reason() -> None:
    """The CLI may not import the controller (.importlinter), so it keeps a copy of the reason."""
    assert FORCE_UNLOCK_FAILED == context.FORCE_UNLOCK_FAILED
