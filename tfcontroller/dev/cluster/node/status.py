"""Pure decisions of the kubelet: restart or not, back-off delays, the Pod's phase and conditions from
its containers' states. Unit-tested on plain dicts (tests/unit/dev/cluster/node/test_status.py)."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
TERMINAL = ("Succeeded", "Failed")


def should_restart(policy: str, exit_code: int) -> bool:
    """restartPolicy Always restarts every exit, OnFailure non-zero ones, Never none."""
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def backoff_delay(restart_count: int, base: float, cap: float) -> float:
    """Seconds before restart number `restart_count + 1`: the first restart is immediate, then the
    kubelet's doubling back-off (10 s, 20 s, 40 s … capped at 5 min, with the default base and cap)."""
    if restart_count <= 0:
        return 0.0
    return float(min(cap, base * (2 ** (restart_count - 1))))


def pod_phase(policy: str, init_failed: bool, initialized: bool, states: list[Obj], restarting: bool) -> str:
    """The phase from the main containers' current `state` dicts (waiting/running/terminated):
    Failed when an init container failed for good or every container has terminated and one failed;
    Succeeded when all terminated with 0 and none restarts; Running while any runs or restarts."""
    if init_failed:
        return "Failed"
    if not initialized or not states:
        return "Pending"
    terminated = [s["terminated"] for s in states if "terminated" in s]
    if len(terminated) == len(states) and not restarting:
        return "Succeeded" if all(t.get("exitCode") == 0 for t in terminated) else "Failed"
    if any("running" in s for s in states) or restarting or terminated:
        return "Running"
    return "Pending"


def condition(kind: str, ok: bool, previous: list[Obj], now: str, reason: str = "", message: str = "") -> Obj:
    """A Pod condition keeping its lastTransitionTime while its status does not change."""
    status = "True" if ok else "False"
    old = next((c for c in previous if c.get("type") == kind), None)
    since = old["lastTransitionTime"] if old and old.get("status") == status and old.get("lastTransitionTime") else now
    out: Obj = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def pod_conditions(previous: list[Obj], now: str, initialized: bool, ready: bool, not_ready_names: list[str],
                   phase: str) -> list[Obj]:
    """PodScheduled, Initialized, ContainersReady and Ready as a kubelet writes them."""
    waiting = f"containers with unready status: [{' '.join(not_ready_names)}]" if not_ready_names else ""
    done_reason = "PodCompleted" if phase in TERMINAL else ""
    return [
        condition("Initialized", initialized, previous, now, "" if initialized else "ContainersNotInitialized",
                  "" if initialized else "containers with incomplete status"),
        condition("Ready", ready, previous, now, done_reason or ("" if ready else "ContainersNotReady"),
                  "" if ready or done_reason else waiting),
        condition("ContainersReady", ready, previous, now, done_reason or ("" if ready else "ContainersNotReady"),
                  "" if ready or done_reason else waiting),
        condition("PodScheduled", True, previous, now),
    ]


def container_status(name: str, image: str, state: Obj, last_state: Obj | None, restart_count: int,
                     ready: bool, started: bool, container_id: str, image_id: str = "") -> Obj:
    out: Obj = {
        "name": name,
        "image": image,
        "imageID": image_id,
        "state": state,
        "lastState": last_state or {},
        "ready": ready,
        "restartCount": restart_count,
        "started": started,
    }
    if container_id:
        out["containerID"] = container_id
    return out


def graceful_deletion(pod: Obj, options: Obj, now_plus: Any) -> Obj | None:
    """How the API server deletes a Pod that a node may be running: with a grace period (the
    options' `gracePeriodSeconds`, else the spec's `terminationGracePeriodSeconds`, default 30) the Pod
    is only marked (`deletionTimestamp` = now + grace, `deletionGracePeriodSeconds`) and the kubelet
    removes it once its containers have stopped. None means: delete at once (grace 0, an unscheduled
    or finished Pod). `now_plus(seconds)` gives the timestamp."""
    spec, meta = pod.get("spec") or {}, pod["metadata"]
    if not spec.get("nodeName") or (pod.get("status") or {}).get("phase") in TERMINAL:
        return None
    grace = options.get("gracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", 30)
    grace = int(grace)
    if grace <= 0:
        return None
    current = meta.get("deletionGracePeriodSeconds")
    if meta.get("deletionTimestamp") and current is not None and current <= grace:
        return pod  # already terminating with a grace period at least as short
    meta["deletionTimestamp"] = now_plus(grace)
    meta["deletionGracePeriodSeconds"] = grace
    return pod


def forced_on_node(pod: Obj, options: Obj) -> bool:
    """A deletion with `gracePeriodSeconds: 0` (`kubectl delete --force --grace-period=0`) of a Pod that
    a node still runs and that is not already terminating: the Pod goes at once, marked with
    `deletionGracePeriodSeconds: 0` so that the kubelet stops it with its minimum grace period."""
    spec, meta = pod.get("spec") or {}, pod["metadata"]
    return (options.get("gracePeriodSeconds") == 0 and bool(spec.get("nodeName"))
            and not meta.get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in TERMINAL)
