"""What `kubectl get` prints for the kinds the node brings to life (Pods, Nodes, Jobs), computed as
kubectl's server-side printers do (pkg/printers/internalversion). Pure; table.py uses them."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def pod_ready(pod: Obj) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def pod_restarts(pod: Obj) -> int:
    return sum(int(s.get("restartCount") or 0) for s in (pod.get("status") or {}).get("containerStatuses") or [])


def pod_status(pod: Obj) -> str:
    """The STATUS column: Terminating, Init:N/M, a container's waiting or terminated reason, the Pod's
    reason (NodeLost, DeadlineExceeded) or its phase."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    inits = (pod.get("spec") or {}).get("initContainers") or []
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        term = state.get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = f"Init:{term.get('reason') or 'Error'}"
        elif (state.get("waiting") or {}).get("reason") not in (None, "", "PodInitializing"):
            reason = f"Init:{state['waiting']['reason']}"
        else:
            reason = f"Init:{i}/{len(inits)}"
        break
    else:
        running = False
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif state.get("terminated"):
                term = state["terminated"]
                reason = term.get("reason") or (f"Signal:{term['signal']}" if term.get("signal") else
                                                f"ExitCode:{term.get('exitCode')}")
            elif state.get("running") and cs.get("ready"):
                running = True
        if reason == "Completed" and running:
            reason = "Running"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating" if status.get("reason") != "NodeLost" else "Unknown"
    return str(reason)


def node_status(node: Obj) -> str:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return "Ready" if cond.get("status") == "True" else "NotReady"
    return "Unknown"


def node_roles(node: Obj) -> str:
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix):] for k in ((node.get("metadata") or {}).get("labels") or {}) if k.startswith(prefix))
    return ",".join(roles) or "<none>"


def job_status(job: Obj) -> str:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return "Complete" if cond["type"] == "Complete" else "Failed"
    return "Running"


def job_completions(job: Obj) -> str:
    completions = (job.get("spec") or {}).get("completions")
    succeeded = int((job.get("status") or {}).get("succeeded") or 0)
    return f"{succeeded}/{completions if completions is not None else 1}"
