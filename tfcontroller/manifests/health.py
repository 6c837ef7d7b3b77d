"""Health of applied objects by kstatus rules (Current, InProgress, Failed).

The rules follow the Kubernetes `kstatus` library's documented semantics, simplified to the kinds a
ManifestSet typically applies; any kind without a rule is Current once it exists, unless it reports
`observedGeneration` behind its generation or a standard Ready/Stalled condition says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Health(str, Enum):
    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"


@dataclass(frozen=True)
class HealthResult:
    status: Health
    message: str


def _cond(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            found: dict[str, Any] = c
            return found
    return None


def _label(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{ns + '/' if ns else ''}{meta.get('name')}"


def assess(obj: dict[str, Any]) -> HealthResult:
    label = _label(obj)
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        return HealthResult(Health.IN_PROGRESS, f"{label}: generation {generation} not yet observed")
    rule = _RULES.get(obj.get("kind", ""))
    if rule:
        return rule(obj, label, status)
    return _generic(obj, label)


def _generic(obj: dict[str, Any], label: str) -> HealthResult:
    stalled = _cond(obj, "Stalled")
    if stalled and stalled.get("status") == "True":
        return HealthResult(Health.FAILED, f"{label}: {stalled.get('message') or 'stalled'}")
    ready = _cond(obj, "Ready")
    if ready is not None and ready.get("status") != "True":
        return HealthResult(Health.IN_PROGRESS, f"{label}: not ready: {ready.get('message') or ready.get('reason')}")
    return HealthResult(Health.CURRENT, f"{label}: current")


def _deployment(obj: dict[str, Any], label: str, status: dict[str, Any]) -> HealthResult:
    progressing = _cond(obj, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return HealthResult(Health.FAILED, f"{label}: progress deadline exceeded")
    want = (obj.get("spec") or {}).get("replicas", 1)
    if "observedGeneration" not in status:
        return HealthResult(Health.IN_PROGRESS, f"{label}: rollout not started")
    for field_name in ("updatedReplicas", "readyReplicas", "availableReplicas"):
        have = status.get(field_name, 0)
        if have < want:
            return HealthResult(Health.IN_PROGRESS, f"{label}: {field_name} {have}/{want}")
    if status.get("replicas", 0) > want:
        return HealthResult(Health.IN_PROGRESS, f"{label}: old replicas are terminating")
    available = _cond(obj, "Available")
    if available is not None and available.get("status") != "True":
        return HealthResult(Health.IN_PROGRESS, f"{label}: not available")
    return HealthResult(Health.CURRENT, f"{label}: rolled out ({want} replicas)")


def _replicated(obj: dict[str, Any], label: str, status: dict[str, Any]) -> HealthResult:
    want = (obj.get("spec") or {}).get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    if ready < want:
        return HealthResult(Health.IN_PROGRESS, f"{label}: readyReplicas {ready}/{want}")
    return HealthResult(Health.CURRENT, f"{label}: ready ({want} replicas)")


def _daemonset(obj: dict[str, Any], label: str, status: dict[str, Any]) -> HealthResult:
    want = status.get("desiredNumberScheduled")
    if want is None:
        return HealthResult(Health.IN_PROGRESS, f"{label}: not yet scheduled")
    if status.get("numberAvailable", 0) < want or status.get("updatedNumberScheduled", 0) < want:
        return HealthResult(Health.IN_PROGRESS, f"{label}: {status.get('numberAvailable', 0)}/{want} available")
    return HealthResult(Health.CURRENT, f"{label}: all {want} pods available")


def _job(obj: dict[str, Any], label: str, status: dict[str, Any]) -> HealthResult:
    failed = _cond(obj, "Failed")
    if failed and failed.get("status") == "True":
        return HealthResult(Health.FAILED, f"{label}: failed: {failed.get('message') or failed.get('reason')}")
    complete = _cond(obj, "Complete")
    if complete and complete.get("status") == "True":
        return HealthResult(Health.CURRENT, f"{label}: complete")
    return HealthResult(Health.IN_PROGRESS, f"{label}: running")


def _pod(obj: dict[str, Any], label: str, status: dict[str, Any]) -> HealthResult:
    phase = status.get("phase")
    if phase == "Succeeded":
        return HealthResult(Health.CURRENT, f"{label}: succeeded")
    if phase == "Failed":
        return HealthResult(Health.FAILED, f"{label}: failed")
    ready = _cond(obj, "Ready")
    if phase == "Running" and ready and ready.get("status") == "True":
        return HealthResult(Health.CURRENT, f"{label}: running and ready")
    return HealthResult(Health.IN_PROGRESS, f"{label}: phase {phase or 'unknown'}")


def _pvc(obj: dict[str, Any], label: str, status: dict[str, Any]) -> HealthResult:
    if status.get("phase") == "Bound":
        return HealthResult(Health.CURRENT, f"{label}: bound")
    return HealthResult(Health.IN_PROGRESS, f"{label}: phase {status.get('phase') or 'Pending'}")


def _service(obj: dict[str, Any], label: str, status: dict[str, Any]) -> HealthResult:
    if (obj.get("spec") or {}).get("type") == "LoadBalancer" and not (status.get("loadBalancer") or {}).get(
        "ingress"
    ):
        return HealthResult(Health.IN_PROGRESS, f"{label}: waiting for a load balancer address")
    return HealthResult(Health.CURRENT, f"{label}: current")


_RULES = {
    "Deployment": _deployment,
    "StatefulSet": _replicated,
    "ReplicaSet": _replicated,
    "DaemonSet": _daemonset,
    "Job": _job,
    "Pod": _pod,
    "PersistentVolumeClaim": _pvc,
    "Service": _service,
}


def summarize(results: list[HealthResult]) -> HealthResult:
    """Failed wins over InProgress, which wins over Current; the message names the first offender."""
    for wanted in (Health.FAILED, Health.IN_PROGRESS):
        bad = [r for r in results if r.status == wanted]
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            return HealthResult(wanted, bad[0].message + more)
    return HealthResult(Health.CURRENT, f"all {len(results)} objects are healthy")
