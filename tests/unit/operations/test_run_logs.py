"""The runner Pods of a run (operations/run_logs.py, shared by `tfcontroller logs` and the dashboard):
which Pods are chosen (newest run, the run in flight named by status, `--run`, `--all`) in which order,
the header per Pod, and the runner container's state read from a Pod."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.operations.run_logs import RunPod, choose, container_state, header, in_flight_pods


def pod(name: str, run: str, created: str, operation: str = "plan", plan: str = "",
        phase: str = "Succeeded") -> RunPod:
    return RunPod(name, run, operation, plan, created, phase)


OLD = pod("tfrun-aaa-1", "aaa", "2026-01-01T10:00:00Z")
NEW_PLAN = pod("tfrun-bbb-1", "bbb", "2026-01-01T11:00:00Z")
NEW_APPLY = pod("tfrun-bbb-2", "bbb", "2026-01-01T11:00:00Z", "apply", "plan-main-1")  # same second: by suffix
MIDDLE = pod("tfrun-ccc-1", "ccc", "2026-01-01T10:30:00Z")
ALL = [NEW_APPLY, OLD, NEW_PLAN, MIDDLE]


@pytest.mark.parametrize(("kwargs", "want"), [
    ({}, [NEW_PLAN, NEW_APPLY]),
    ({"run": "aaa"}, [OLD]),
    ({"run": "zzz"}, []),
    ({"all_runs": True}, [OLD, MIDDLE, NEW_PLAN, NEW_APPLY]),
    ({"in_flight": ["tfrun-ccc-1"]}, [MIDDLE]),  # the status names the run in flight: it wins
    ({"in_flight": ["tfrun-gone"]}, [NEW_PLAN, NEW_APPLY]),  # a record whose Pod is not there: labels decide
    ({"run": "aaa", "in_flight": ["tfrun-ccc-1"]}, [OLD]),
])
def test_choose(kwargs: dict[str, Any], want: list[RunPod]) -> None:
    assert choose(ALL, **kwargs) == want


def test_choose_orders_the_per_command_pods_by_number_not_text() -> None:
    pods = [pod(f"tfrun-r-{n}", "r", "2026-01-01T10:00:00Z") for n in (10, 2, 1)]
    assert [p.name for p in choose(pods)] == ["tfrun-r-1", "tfrun-r-2", "tfrun-r-10"]


def test_choose_ignores_pods_without_a_run_id_and_nothing_is_nothing() -> None:
    assert choose([pod("stray", "", "2026-01-01T12:00:00Z"), OLD]) == [OLD]
    assert choose([]) == []


def test_run_pod_from_a_pod_object() -> None:
    got = RunPod.of({"metadata": {"name": "tfrun-x-1", "creationTimestamp": "2026-01-01T10:00:00Z", "labels": {
        "tfcontroller.io/run-id": "x", "tfcontroller.io/operation": "apply", "tfcontroller.io/plan-id": "p1"}},
        "status": {"phase": "Running"}})
    assert got == RunPod("tfrun-x-1", "x", "apply", "p1", "2026-01-01T10:00:00Z", "Running")
    assert RunPod.of({"metadata": {"name": "n"}}).phase == "Pending"


@pytest.mark.parametrize(("status", "want"), [
    (None, set()),
    ({}, set()),
    ({"runs": "nonsense"}, set()),
    ({"runs": [{"marker": "m"}, "x", {"pod": "tfrun-a-1"}]}, {"tfrun-a-1"}),
    ({"runs": [{"runner": {"pod": "tfrun-b-1", "uid": "u"}}]}, {"tfrun-b-1"}),
    ({"runs": [{"pod": {"name": "tfrun-c-1"}}]}, {"tfrun-c-1"}),
])
def test_in_flight_pods(status: dict[str, Any] | None, want: set[str]) -> None:
    assert in_flight_pods(status) == want


@pytest.mark.parametrize(("p", "want"), [
    (NEW_APPLY, "== run bbb (apply, plan plan-main-1) pod tfrun-bbb-2 =="),
    (NEW_PLAN, "== run bbb (plan) pod tfrun-bbb-1 =="),
    (pod("tfrun-q-1", "q", "", operation=""), "== run q pod tfrun-q-1 =="),
])
def test_header(p: RunPod, want: str) -> None:
    assert header(p) == want


@pytest.mark.parametrize(("status", "want"), [
    ({"phase": "Pending"}, ("waiting", "Pending", "")),
    ({"phase": "Succeeded"}, ("terminated", "Succeeded", "")),
    ({"phase": "Pending", "containerStatuses": [{"name": "runner", "state": {
        "waiting": {"reason": "CreateContainerError", "message": "no command"}}}]},
     ("waiting", "CreateContainerError", "no command")),
    ({"phase": "Running", "containerStatuses": [{"name": "other", "state": {"waiting": {}}},
                                                 {"name": "runner", "state": {"running": {"startedAt": "x"}}}]},
     ("running", "", "")),
    ({"phase": "Failed", "containerStatuses": [{"name": "runner", "state": {
        "terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}, ("terminated", "OOMKilled", "")),
])
def test_container_state(status: dict[str, Any], want: tuple[str, str, str]) -> None:
    assert container_state({"status": status}) == want
