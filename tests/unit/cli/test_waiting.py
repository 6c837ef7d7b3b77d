"""The one waiting rule of the commands that ask the controller for a run (cli/waiting.py), on plain
objects: a request counts as answered only once `status.lastHandledRequestedAt` echoes it, and then the
Ready condition is the answer — True ends ✔, False ends ✗ at once whether the controller retries
(Reconciling=True), stalled or holds a plan, Unknown means a run is still going; and `replan`'s and
`force-unlock`'s verdicts on top of it."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.cli.ops_control import FORCE_UNLOCK_FAILED, replan_verdict, unlock_refusal
from tfcontroller.cli.waiting import Outcome, in_progress, label, outcome, upstream_refs, waiting_on_progress
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


def _ms(*conditions: dict[str, Any], depends: list[dict[str, Any]] | None = None,
        source: dict[str, Any] | None = None) -> dict[str, Any]:
    o = obj("now", *conditions)
    o["metadata"]["namespace"] = "team"
    o["spec"] = {**({"dependsOn": depends} if depends is not None else {}),
                 **({"sourceRef": source} if source is not None else {})}
    return o


def test_upstream_refs_name_the_source_and_every_dependency_in_the_objects_namespace_by_default() -> None:
    o = _ms(depends=[{"kind": "Terraform", "name": "net"}, {"kind": "ManifestSet", "name": "db", "namespace": "x"},
                     {"kind": "Terraform"}, "junk"],  # type: ignore[list-item]
            source={"name": "repo"})
    assert upstream_refs(o) == [("GitRepository", "team", "repo"), ("Terraform", "team", "net"),
                                ("ManifestSet", "x", "db")]
    assert upstream_refs({"metadata": {}, "spec": "junk"}) == []


@pytest.mark.parametrize(("case", "o", "running"), [
    ("reconciling", obj("x", cond("Ready", "False"), cond("Reconciling", "True")), True),
    ("ready unknown", obj("x", cond("Ready", "Unknown")), True),
    ("ready", obj("x", cond("Ready", "True")), False),
    ("failed, not retrying", obj("x", cond("Ready", "False")), False),
    ("no conditions", obj("x"), False),
])
def test_in_progress_means_a_run_is_under_way(case: str, o: dict[str, Any], running: bool) -> None:
    assert in_progress(o) is running, case


class _Client:
    """Answers `get` from a dict of (kind, namespace, name) → object, as the API would (404 otherwise)."""

    def __init__(self, objects: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        self.objects = objects

    def get(self, resource: Any, name: str, namespace: str) -> dict[str, Any]:
        from tfcontroller.kube.errors import NotFound
        try:
            return self.objects[(resource.kind, namespace, name)]
        except KeyError:
            raise NotFound(404, "NotFound", f"{name} not found") from None


class _Conn:
    def __init__(self, objects: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        self.client = _Client(objects)


PLANNING = obj("x", cond("Ready", "Unknown", "Progressing", "Planning"), cond("Reconciling", "True"))
BROKEN = obj("x", cond("Ready", "False", "PlanFailed", "boom"))
WAITING_MS = _ms(cond("Ready", "False", "DependencyNotReady", "dependency Terraform team/net is not ready"),
                 depends=[{"kind": "Terraform", "name": "net"}])


@pytest.mark.parametrize(("case", "result_obj", "upstream", "wait"), [
    ("dependency re-planning: wait for it", WAITING_MS, {("Terraform", "team", "net"): PLANNING}, True),
    ("dependency failed: answer now", WAITING_MS, {("Terraform", "team", "net"): BROKEN}, False),
    ("dependency gone: answer now", WAITING_MS, {}, False),
    ("source progressing", _ms(cond("Ready", "False", "SourceNotReady", "no artifact"), source={"name": "repo"}),
     {("GitRepository", "team", "repo"): PLANNING}, True),
    ("not a waiting reason", _ms(cond("Ready", "False", "ApplyFailed", "x"), depends=[{"kind": "Terraform",
                                                                                       "name": "net"}]),
     {("Terraform", "team", "net"): PLANNING}, False),
    ("stalled", _ms(cond("Ready", "False", "DependencyNotReady", "x"), cond("Stalled", "True"),
                    depends=[{"kind": "Terraform", "name": "net"}]),
     {("Terraform", "team", "net"): PLANNING}, False),
])
def test_a_run_waiting_on_an_upstream_that_is_running_is_not_the_answer_yet(
        case: str, result_obj: dict[str, Any], upstream: dict[tuple[str, str, str], dict[str, Any]],
        wait: bool) -> None:
    result = outcome(result_obj, "now")
    assert result.done, case
    assert waiting_on_progress(_Conn(upstream), result, result_obj) is wait, case  # type: ignore[arg-type]
