"""Defaulting the API server does on create for built-in kinds whose defaults clients rely on.

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
