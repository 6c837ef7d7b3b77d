"""Defaulting the API server does on create for built-in kinds whose defaults clients rely on.

A Pod is stored with `status: {phase: Pending, qosClass}` from its creation (kube-apiserver's Pod
strategy), so a client reading it before the scheduler never sees a Pod without status.

A Job gets, as kube-apiserver's Job strategy gives it (unless `spec.manualSelector`), the selector
`batch.kubernetes.io/controller-uid: <uid>` and the four Job labels on its Pod template — `kubectl logs
job/NAME`, `kubectl describe job` and `kubectl wait` find its Pods through that selector, and without one
they take every Pod of the namespace — plus the scalar defaults of `JobSpec` (backoffLimit 6, completions
and parallelism 1 when both are unset, completionMode NonIndexed, suspend false). Pure: unit-tested.
"""

from __future__ import annotations

from typing import Any

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"


def default_job(obj: dict[str, Any]) -> None:
    """Default a new Job in place (its metadata.uid and name are set)."""
    meta, spec = obj["metadata"], obj.setdefault("spec", {})
    uid, name = meta["uid"], meta["name"]
    if not spec.get("manualSelector") and not spec.get("selector"):
        spec["selector"] = {"matchLabels": {CONTROLLER_UID_LABEL: uid}}
        template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
        labels = template_meta.setdefault("labels", {})
        labels.update({CONTROLLER_UID_LABEL: uid, JOB_NAME_LABEL: name, "controller-uid": uid, "job-name": name})
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = spec["parallelism"] = 1
    elif spec.get("parallelism") is None:
        spec["parallelism"] = 1
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)


def pod_qos_class(pod: dict[str, Any]) -> str:
    """The Pod's QoS class as kube-apiserver computes it, over init and regular containers: BestEffort
    without any request or limit; Guaranteed when every container limits cpu and memory and requests
    (defaulting to the limit) equal them; Burstable otherwise. Quantities are compared as written."""
    spec = pod.get("spec") or {}
    resources = [c.get("resources") or {} for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
    if not any(r.get("limits") or r.get("requests") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        for key in ("cpu", "memory"):
            if not limits.get(key) or requests.get(key, limits[key]) != limits[key]:
                return "Burstable"
    return "Guaranteed"


def default_pod(obj: dict[str, Any]) -> None:
    """A new Pod's status: Pending, with its QoS class (the status of the request is dropped before)."""
    obj["status"] = {"phase": "Pending", "qosClass": pod_qos_class(obj)}
