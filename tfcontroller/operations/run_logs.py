"""Which runner Pods hold a Terraform object's run log, read one way by `tfcontroller logs` and the dashboard.

A runner Pod carries the labels `tfcontroller.io/terraform=<name>`, `tfcontroller.io/run-id`,
`tfcontroller.io/plan-id` and `tfcontroller.io/operation` (the pod-mode contract of issue 15); its one
container `runner` prints Terraform's messages, already scrubbed by the runner. The choice of Pods (the
run in flight named by `status.runs[]`, else the newest run; `--run`, `--all`), their order, the header
printed before each and the runner container's state are pure functions here
(tests/unit/operations/test_run_logs.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The runner Pods' labels and container (the pod-mode contract of issue 15; terraform/runner_pod.py).
LABEL_TERRAFORM = "tfcontroller.io/terraform"
LABEL_RUN_ID = "tfcontroller.io/run-id"
LABEL_PLAN_ID = "tfcontroller.io/plan-id"
LABEL_OPERATION = "tfcontroller.io/operation"
RUNNER_CONTAINER = "runner"
# Waiting reasons of a container that will not start by waiting (a kubelet retries some, a user must act)
CANNOT_START = frozenset({"CreateContainerError", "CreateContainerConfigError", "ErrImagePull", "ImagePullBackOff",
                          "InvalidImageName", "ErrImageNeverPull"})
_SUFFIX = re.compile(r"-(\d+)$")


@dataclass(frozen=True)
class RunPod:
    """A runner Pod as this command needs it."""

    name: str
    run_id: str
    operation: str
    plan_id: str
    created: str  # metadata.creationTimestamp, RFC 3339 (sortable as text: UTC, one format)
    phase: str

    @classmethod
    def of(cls, pod: Mapping[str, Any]) -> RunPod:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        return cls(str(meta.get("name") or ""), str(labels.get(LABEL_RUN_ID) or ""),
                   str(labels.get(LABEL_OPERATION) or ""), str(labels.get(LABEL_PLAN_ID) or ""),
                   str(meta.get("creationTimestamp") or ""), str((pod.get("status") or {}).get("phase") or "Pending"))

    @property
    def order(self) -> tuple[str, int, str]:
        """Oldest first: creation time, then the per-command number of `tfrun-<run id>-<n>`, then the name."""
        match = _SUFFIX.search(self.name)
        return self.created, int(match.group(1)) if match else 0, self.name


def in_flight_pods(status: Mapping[str, Any] | None) -> set[str]:
    """The Pods `status.runs[]` names (a record of a run in flight: `pod: NAME`, or `runner: {pod: NAME}`)."""
    names: set[str] = set()
    runs = (status or {}).get("runs")
    for record in runs if isinstance(runs, list) else []:
        if not isinstance(record, Mapping):
            continue
        runner = record.get("runner")
        pod = record.get("pod") or (runner.get("pod") if isinstance(runner, Mapping) else None)
        if isinstance(pod, Mapping):
            pod = pod.get("name")
        if isinstance(pod, str) and pod:
            names.add(pod)
    return names


def choose(pods: Iterable[RunPod], *, run: str | None = None, all_runs: bool = False,
           in_flight: Iterable[str] = ()) -> list[RunPod]:
    """The Pods to print, oldest first: those of run `run`, of every run (`all_runs`), or of the newest run
    — the run in flight when a status record names one of its Pods, else the run of the newest Pod. Pure."""
    ordered = sorted((p for p in pods if p.run_id), key=lambda p: p.order)
    if run is not None:
        return [p for p in ordered if p.run_id == run]
    if all_runs or not ordered:
        return ordered
    flying = [p for p in ordered if p.name in set(in_flight)]
    newest = (flying or ordered)[-1].run_id
    return [p for p in ordered if p.run_id == newest]


def header(pod: RunPod) -> str:
    """`== run ID (apply, plan PLAN-ID) pod NAME ==`."""
    what = ", ".join(x for x in (pod.operation, f"plan {pod.plan_id}" if pod.plan_id else "") if x)
    return f"== run {pod.run_id}{f' ({what})' if what else ''} pod {pod.name} =="


def container_state(pod: Mapping[str, Any]) -> tuple[str, str, str]:
    """(`running`|`terminated`|`waiting`, reason, message) of the runner container. Pure."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if isinstance(status, Mapping) and status.get("name") == RUNNER_CONTAINER:
            state = status.get("state") or {}
            for key in ("running", "terminated", "waiting"):
                if key in state:
                    detail = state.get(key) or {}
                    return key, str(detail.get("reason") or ""), str(detail.get("message") or "")
    phase = str((pod.get("status") or {}).get("phase") or "Pending")
    return ("terminated", phase, "") if phase in ("Succeeded", "Failed") else ("waiting", phase, "")
