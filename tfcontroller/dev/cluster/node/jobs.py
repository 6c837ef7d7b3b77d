"""The batch/v1 Job controller of the dev node: Pods from the template (owner reference with
`controller: true` and `blockOwnerDeletion`, labels `batch.kubernetes.io/job-name`/`controller-uid`),
`completions`/`parallelism` (non-indexed), `backoffLimit` with the controller's doubling back-off between
replacement Pods, `activeDeadlineSeconds`, `ttlSecondsAfterFinished`, and status (`active`, `ready`,
`succeeded`, `failed`, `startTime`, `completionTime`, conditions `Complete` / `Failed` with reasons
`BackoffLimitExceeded` / `DeadlineExceeded`).

Left out (docs/dev-cluster.md): `podFailurePolicy`, `successPolicy`, Indexed completion mode,
`suspend`, `backoffLimitPerIndex`, `podReplacementPolicy` (defaulted by the API server, defaults.py, not
acted on), and the interim `FailureTarget`/`SuccessCriteriaMet` conditions.

`decide` is pure (unit-tested on dicts); `JobController.sync` reads, decides and writes.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tfcontroller.dev.cluster.errors import ApiError
from tfcontroller.dev.cluster.meta import now

if TYPE_CHECKING:
    from tfcontroller.dev.cluster.node.node import Node

log = logging.getLogger(__name__)
Obj = dict[str, Any]
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"


@dataclass
class Decision:
    create: int = 0  # Pods to create now
    delete: list[str] = field(default_factory=list)  # names of active Pods to delete
    condition: tuple[str, str, str] | None = None  # (type, reason, message) to set
    retry_after: float | None = None  # seconds until the back-off allows a new Pod
    delete_job: bool = False  # ttlSecondsAfterFinished has passed
    status: Obj = field(default_factory=dict)


def _ts(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def finished_condition(job: Obj) -> Obj | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return dict(cond)
    return None


def _finished_at(pod: Obj) -> float:
    latest = 0.0
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        stamp = _ts(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        latest = max(latest, stamp or 0.0)
    return latest


def decide(job: Obj, pods: list[Obj], wall: float, backoff_base: float, backoff_cap: float) -> Decision:
    """What the Job controller does next, from the Job and the Pods it controls."""
    spec, status = job.get("spec") or {}, dict(job.get("status") or {})
    d = Decision()
    done = finished_condition(job)
    if done is not None:
        ttl = spec.get("ttlSecondsAfterFinished")
        finished = _ts(status.get("completionTime")) or _ts(done.get("lastTransitionTime"))
        if ttl is not None and finished is not None:
            if wall >= finished + int(ttl):
                d.delete_job = True
            else:
                d.retry_after = finished + int(ttl) - wall
        d.status = status
        return d
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    phase = {p["metadata"]["name"]: (p.get("status") or {}).get("phase", "Pending") for p in pods}
    active = [p for p in live if phase[p["metadata"]["name"]] not in ("Succeeded", "Failed")]
    succeeded = sum(1 for p in pods if phase[p["metadata"]["name"]] == "Succeeded")
    failed_pods = [p for p in pods if phase[p["metadata"]["name"]] == "Failed"]
    restarts = 0
    if (spec.get("template") or {}).get("spec", {}).get("restartPolicy") == "OnFailure":
        restarts = sum(cs.get("restartCount", 0) for p in active
                       for cs in (p.get("status") or {}).get("containerStatuses") or [])
    failed = max(len(failed_pods), int(status.get("failed") or 0))
    succeeded = max(succeeded, int(status.get("succeeded") or 0))
    ready = sum(1 for p in active for c in (p.get("status") or {}).get("conditions") or []
                if c.get("type") == "Ready" and c.get("status") == "True")
    start = _ts(status.get("startTime")) or wall
    status.setdefault("startTime", datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    completions = spec.get("completions")
    parallelism = int(spec["parallelism"]) if spec.get("parallelism") is not None else 1
    backoff_limit = int(spec["backoffLimit"]) if spec.get("backoffLimit") is not None else 6
    deadline = spec.get("activeDeadlineSeconds")
    status.update({"active": len(active), "succeeded": succeeded, "failed": failed, "ready": ready})
    d.status = status
    if deadline is not None and wall - start >= int(deadline):
        d.delete = [p["metadata"]["name"] for p in active]
        d.condition = ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        return d
    if failed + restarts > backoff_limit:
        d.delete = [p["metadata"]["name"] for p in active]
        d.condition = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        return d
    wanted = int(completions) if completions is not None else 1
    if succeeded >= wanted or (completions is None and succeeded > 0 and not active):
        d.condition = ("Complete", "", "")
        return d
    create = min(parallelism, wanted - succeeded) - len(active)
    if completions is None and succeeded > 0:
        create = 0  # work-queue mode: once one Pod succeeded no new ones start
    if create <= 0:
        if deadline is not None:
            d.retry_after = start + int(deadline) - wall
        return d
    if failed:
        last = max(_finished_at(p) for p in failed_pods) if failed_pods else 0.0
        delay = min(backoff_cap, backoff_base * 2 ** (failed - 1))
        if last and wall < last + delay:
            d.retry_after = last + delay - wall
            return d
    d.create = create
    if deadline is not None:
        d.retry_after = start + int(deadline) - wall
    return d


def pod_for(job: Obj) -> Obj:
    """A new Pod from the Job's template, owned by the Job."""
    meta = job["metadata"]
    template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
    pod_meta = template.get("metadata") or {}
    labels = dict(pod_meta.get("labels") or {})
    labels.update({JOB_NAME_LABEL: meta["name"], "job-name": meta["name"],
                   CONTROLLER_UID_LABEL: meta["uid"], "controller-uid": meta["uid"]})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{meta['name']}-",
            "namespace": meta.get("namespace", "default"),
            "labels": labels,
            "annotations": dict(pod_meta.get("annotations") or {}),
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"],
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": template.get("spec") or {},
    }


class JobController:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.api = node.api
        self.jobs_info = node.api.registry.lookup("batch", "v1", "jobs")
        self._due: dict[tuple[str, str], float] = {}  # (namespace, name) -> monotonic time of a resync

    def due(self) -> list[tuple[str, str]]:
        now_m = time.monotonic()
        keys = [k for k, t in self._due.items() if t <= now_m]
        for k in keys:
            self._due.pop(k, None)
        return keys

    def sync(self, namespace: str, name: str) -> None:
        job = self.api.store.get("batch", "jobs", namespace, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        uid = job["metadata"]["uid"]
        pods = [o for g, p, o in self.api.store.owned_by(uid) if (g, p) == ("", "pods")]
        pods = [p for p in pods if any(r.get("uid") == uid and r.get("controller") for r in p["metadata"]["ownerReferences"])]
        d = decide(job, pods, time.time(), self.node.config.job_backoff_base, self.node.config.job_backoff_cap)
        if d.retry_after is not None:
            self._due[(namespace, name)] = time.monotonic() + max(d.retry_after, 0.05)
        if d.delete_job:
            self._delete(self.jobs_info, namespace, name, "Background")
            return
        for pod_name in d.delete:
            self._delete(self.node.pods_info, namespace, pod_name, "Background")
            self.node.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {pod_name}", "job-controller")
        for _ in range(d.create):
            try:
                pod = self.api.create(self.node.pods_info, namespace, pod_for(job), manager="job-controller")
            except ApiError as exc:
                self.node.event(job, "Warning", "FailedCreate", f"Error creating: {exc.message}", "job-controller")
                self._due[(namespace, name)] = time.monotonic() + 1.0
                break
            d.status["active"] = int(d.status.get("active") or 0) + 1
            self.node.event(job, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                            "job-controller")
        status = d.status
        if d.condition is not None:
            kind, reason, message = d.condition
            stamp = now()
            cond: Obj = {"type": kind, "status": "True", "lastProbeTime": stamp, "lastTransitionTime": stamp}
            if reason:
                cond["reason"], cond["message"] = reason, message
            status["conditions"] = [*(status.get("conditions") or []), cond]
            status["active"] = 0
            status.pop("ready", None)
            if kind == "Complete":
                status["completionTime"] = stamp
                self.node.event(job, "Normal", "Completed", "Job completed", "job-controller")
            else:
                self.node.event(job, "Warning", reason, message, "job-controller")
            ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
            if ttl is not None:
                self._due[(namespace, name)] = time.monotonic() + int(ttl)
        self.node.put_status("batch", "jobs", job, status)

    def _delete(self, info: Any, namespace: str, name: str, policy: str) -> None:
        if info is None:
            return
        try:
            self.api.delete(info, namespace, name, {"propagationPolicy": policy})
        except ApiError:
            pass
