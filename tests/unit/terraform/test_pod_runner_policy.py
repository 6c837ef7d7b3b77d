"""What a runner Pod's state means (pod_state) and what a refused Pod creation says (rejection): pure."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.errors import StallingError, WaitingError
from tfcontroller.kube.errors import ApiError, Forbidden, Unprocessable
from tfcontroller.terraform.pod_runner import (
    RUNNER_FAILED,
    RUNNER_OOM_KILLED,
    RunnerSlots,
    pod_state,
    rejection,
)


def _pod(phase: str, *, terminated: dict[str, Any] | None = None, reason: str = "", message: str = "",
         uid: str = "u1", deleting: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    if terminated is not None:
        status["containerStatuses"] = [{"name": "runner", "state": {"terminated": terminated}}]
    meta: dict[str, Any] = {"name": "tfrun-r-1", "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": status}


@pytest.mark.parametrize("phase", ["Pending", "Running"])
def test_pending_and_running_are_alive(phase: str) -> None:
    assert pod_state(_pod(phase), "u1").alive


@pytest.mark.parametrize(("pod", "uid", "reason", "words"), [
    (None, "u1", RUNNER_FAILED, "gone"),
    (_pod("Running", uid="u2"), "u1", RUNNER_FAILED, "replaced"),
    (_pod("Failed", terminated={"reason": "OOMKilled", "exitCode": 137}), "", RUNNER_OOM_KILLED,
     "spec.runnerPod.resources.limits.memory"),
    (_pod("Failed", reason="Evicted", message="The node was low on resource: memory."), "", RUNNER_FAILED,
     "Evicted: The node was low on resource"),
    (_pod("Failed", reason="DeadlineExceeded", message="Pod was active on the node longer than the specified "
                                                       "deadline"), "", RUNNER_FAILED, "DeadlineExceeded"),
    (_pod("Failed", terminated={"reason": "Error", "exitCode": 1, "message": "outcome=failed reason=X"}), "",
     RUNNER_FAILED, "outcome=failed reason=X"),
    (_pod("Succeeded", terminated={"reason": "Completed", "exitCode": 0}), "", RUNNER_FAILED, "Succeeded"),
    (_pod("Running", deleting=True), "u1", RUNNER_FAILED, "being deleted"),
])
def test_ended_pods_say_why(pod: Any, uid: str, reason: str, words: str) -> None:
    state = pod_state(pod, uid)
    assert not state.alive and state.reason == reason and words in state.message


def test_termination_message_is_clipped() -> None:
    state = pod_state(_pod("Failed", terminated={"reason": "Error", "message": "x" * 5000}))
    assert len(state.message) <= 1024


@pytest.mark.parametrize(("exc", "kind", "words"), [
    (Forbidden(403, "Forbidden", 'pods "tfrun-r-1" is forbidden: error looking up service account team/tfcontroller-'
                                 'runner: serviceaccount "tfcontroller-runner" not found'), StallingError,
     "tfcontroller tenant add team --apply"),
    (Forbidden(403, "Forbidden", 'pods "tfrun-r-1" is forbidden: exceeded quota: q, requested: pods=1, used: '
                                 'pods=1, limited: pods=1'), WaitingError, "ResourceQuota"),
    (Forbidden(403, "Forbidden", 'pods is forbidden: User "system:serviceaccount:x:tfc" cannot create resource '
                                 '"pods" in API group "" in the namespace "team"'), StallingError,
     "deploy/rbac.yaml"),
    (Unprocessable(422, "Invalid", "spec.containers[0].image: Required value"), StallingError, "spec.runnerPod"),
    (ApiError(400, "BadRequest", "admission webhook denied the request"), StallingError, "admission webhook"),
])
def test_rejection_names_what_to_fix(exc: ApiError, kind: type, words: str) -> None:
    error = rejection(exc, "tfcontroller-runner", "team")
    assert type(error) is kind and error.reason == "RunnerPodRejected" and words in error.message


def test_slots_cap_and_say_so() -> None:
    slots, said = RunnerSlots(1), []
    assert slots.acquire(said.append, lambda: False)
    unlimited = RunnerSlots(0)
    assert unlimited.acquire(said.append, lambda: False) is False  # nothing held, nothing to release
    import threading

    got = threading.Event()
    waiter = threading.Thread(target=lambda: (slots.acquire(said.append, lambda: False), got.set()))
    waiter.start()
    from tests.support.polling import wait_for

    wait_for(lambda: said, timeout=10, what="the waiting message")
    assert "--max-runners 1" in said[0] and not got.is_set()
    slots.release(True)
    waiter.join(10)
    assert got.is_set()


# ---- the termination message of a run delivered to nobody (adoption) --------------------------------------

RUN = "0123456789abcdef"


def _ended(name: str, message: str, *, run_id: str = RUN, phase: str = "Failed") -> dict[str, Any]:
    pod = _pod(phase, terminated={"exitCode": 1, "reason": "Error", "message": message})
    pod["metadata"].update(name=name, labels={"tfcontroller.io/run-id": run_id})
    return pod


def test_parse_summary_reads_the_runners_words_and_nothing_else() -> None:
    from tfcontroller.api import run_protocol as rp
    from tfcontroller.runner.pod import summary
    from tfcontroller.terraform.pod_runner import parse_summary

    text = summary(rp.RunResult(RUN, rp.APPLY, rp.SUCCEEDED, "ApplySucceeded", "secret text"), "p1", False)
    parsed = parse_summary(text)
    assert parsed is not None and parsed.succeeded and parsed.operation == "apply" and parsed.plan_id == "p1"
    assert not parsed.delivered and not parsed.terraform_killed
    failed = parse_summary(summary(rp.RunResult(RUN, rp.APPLY, rp.FAILED, "TerraformFailed", "m", rp.TRANSIENT,
                                                terraform_killed=True), "p1", False))
    assert failed is not None and not failed.succeeded and failed.reason == "TerraformFailed" and failed.terraform_killed
    odd = parse_summary(f"outcome=failed reason=<b>x</b> operation=apply run={RUN}")
    assert odd is not None and odd.reason == "RunnerFailed"  # a condition reason is CamelCase
    for other in ("", "Traceback (most recent call last):\n  File x", "outcome=succeeded run=x",
                  f"outcome=maybe reason=R operation=apply run={RUN}", f"outcome=failed reason=R operation=rm run={RUN}"):
        assert parse_summary(other) is None, other


def test_termination_summary_takes_the_last_ended_pod_of_the_run_and_operation() -> None:
    from tfcontroller.terraform.pod_runner import termination_summary

    plan = _ended(f"tfrun-{RUN}-1", f"outcome=succeeded reason=PlanGenerated operation=plan run={RUN} delivered=true",
                  phase="Succeeded")
    apply = _ended(f"tfrun-{RUN}-2", f"outcome=succeeded reason=ApplySucceeded operation=apply run={RUN} plan=p "
                                     "delivered=false")
    found = termination_summary([apply, plan], RUN, "apply")
    assert found is not None and found.reason == "ApplySucceeded" and found.plan_id == "p"
    assert termination_summary([plan, apply], RUN, "plan").reason == "PlanGenerated"  # type: ignore[union-attr]
    # another run's Pod, a running Pod, a crash's log lines, a summary naming another run: nothing known
    other = _ended(f"tfrun-{RUN}-3", f"outcome=succeeded reason=ApplySucceeded operation=apply run={RUN}",
                   run_id="fedcba9876543210")
    running = _pod("Running")
    running["metadata"]["labels"] = {"tfcontroller.io/run-id": RUN}
    crashed = _ended(f"tfrun-{RUN}-2", "MemoryError\nTraceback ...")
    liar = _ended(f"tfrun-{RUN}-2", "outcome=succeeded reason=ApplySucceeded operation=apply run=fedcba9876543210")
    for pods in ([other], [running], [crashed], [liar], []):
        assert termination_summary(pods, RUN, "apply") is None


def test_delivery_deadline_is_shortened_only_by_the_variable() -> None:
    from tfcontroller.runner.pod import delivery_deadline

    assert delivery_deadline({}, 100.0, 500.0) == 500.0
    assert delivery_deadline({"TFCONTROLLER_RUN_DELIVERY_SECONDS": "5"}, 100.0, 500.0) == 105.0
    assert delivery_deadline({"TFCONTROLLER_RUN_DELIVERY_SECONDS": "9999"}, 100.0, 500.0) == 500.0
    assert delivery_deadline({"TFCONTROLLER_RUN_DELIVERY_SECONDS": "soon"}, 100.0, 500.0) == 500.0


def test_an_ended_runner_pod_nobody_waits_for_brings_its_object_back() -> None:
    from tfcontroller.terraform.pod_runner import ended_pod_owner

    def pod(phase: str, **extra: Any) -> dict[str, Any]:
        p = _pod(phase, **extra)
        p["metadata"].update(namespace="team-a", labels={"tfcontroller.io/terraform": "app",
                                                         "tfcontroller.io/run-id": RUN})
        return p

    nobody, recorded = (lambda run: False), (lambda ns, name, run: (ns, name, run) == ("team-a", "app", RUN))
    oom = pod("Failed", terminated={"exitCode": 137, "reason": "OOMKilled"})
    for ended in (pod("Succeeded"), pod("Failed", reason="Evicted"), oom, pod("Running", deleting=True)):
        assert ended_pod_owner(ended, nobody, recorded) == ["team-a/app"]
    assert ended_pod_owner(pod("Running"), nobody, recorded) == []  # alive: its run goes on
    assert ended_pod_owner(pod("Pending"), nobody, recorded) == []
    assert ended_pod_owner(oom, lambda run: run == RUN, recorded) == []  # a worker waits and reads it itself
    assert ended_pod_owner(oom, nobody, lambda ns, name, run: False) == []  # the run was taken already
    unlabelled = _pod("Failed")
    unlabelled["metadata"]["namespace"] = "team-a"
    assert ended_pod_owner(unlabelled, nobody, recorded) == []


def test_termination_summary_believes_only_the_recorded_pod() -> None:
    """A Pod a tenant labelled with the run id (another name, or the same name re-created: another uid)
    cannot tell the controller that an apply succeeded."""
    from tfcontroller.terraform.pod_runner import termination_summary

    said = f"outcome=succeeded reason=ApplySucceeded operation=apply run={RUN} delivered=false"
    runner = _ended(f"tfrun-{RUN}-2", said)
    runner["metadata"]["uid"] = "uid-runner"
    forged = _ended(f"tfrun-{RUN}-9", said)
    assert termination_summary([forged], RUN, "apply", pod_name=f"tfrun-{RUN}-2") is None
    assert termination_summary([forged, runner], RUN, "apply", pod_name=f"tfrun-{RUN}-2",
                               pod_uid="uid-runner") is not None
    replaced = _ended(f"tfrun-{RUN}-2", said)
    replaced["metadata"]["uid"] = "uid-other"
    assert termination_summary([replaced], RUN, "apply", pod_name=f"tfrun-{RUN}-2", pod_uid="uid-runner") is None
