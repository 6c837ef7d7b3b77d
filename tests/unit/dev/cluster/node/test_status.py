"""The kubelet's pure decisions: restarts, back-off, phase, conditions, graceful deletion."""

from __future__ import annotations

import pytest

from tfcontroller.dev.cluster.node import status as st


@pytest.mark.parametrize(("policy", "code", "want"), [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 137, True),
    ("Never", 0, False), ("Never", 1, False),
])
def test_should_restart(policy: str, code: int, want: bool) -> None:
    assert st.should_restart(policy, code) is want


def test_backoff_is_immediate_then_doubles_up_to_the_cap() -> None:
    assert [st.backoff_delay(n, 10, 300) for n in range(7)] == [0, 10, 20, 40, 80, 160, 300]


RUN = {"running": {"startedAt": "x"}}
OK = {"terminated": {"exitCode": 0}}
BAD = {"terminated": {"exitCode": 2}}
WAIT = {"waiting": {"reason": "ContainerCreating"}}


@pytest.mark.parametrize(("args", "want"), [
    (("Never", False, True, [OK, OK], False), "Succeeded"),
    (("Never", False, True, [OK, BAD], False), "Failed"),
    (("Never", False, True, [OK, RUN], False), "Running"),
    (("Always", False, True, [OK], True), "Running"),
    (("Never", False, False, [WAIT], False), "Pending"),
    (("Never", True, False, [WAIT], False), "Failed"),
    (("Never", False, True, [WAIT], False), "Pending"),
])
def test_pod_phase(args: tuple, want: str) -> None:
    assert st.pod_phase(*args) == want


def test_conditions_keep_their_transition_time_while_unchanged() -> None:
    first = st.pod_conditions([], "t1", True, True, [], "Running")
    second = st.pod_conditions(first, "t2", True, True, [], "Running")
    assert {c["type"]: c["lastTransitionTime"] for c in second} == {
        "Initialized": "t1", "Ready": "t1", "ContainersReady": "t1", "PodScheduled": "t1"}
    third = st.pod_conditions(second, "t3", True, False, ["c"], "Running")
    ready = next(c for c in third if c["type"] == "Ready")
    assert (ready["status"], ready["lastTransitionTime"], ready["reason"]) == ("False", "t3", "ContainersNotReady")
    assert ready["message"] == "containers with unready status: [c]"
    done = next(c for c in st.pod_conditions(third, "t4", True, False, [], "Succeeded") if c["type"] == "Ready")
    assert done["reason"] == "PodCompleted"


def _pod(node: str = "dev-node", phase: str = "Running", grace: int | None = None) -> dict:
    spec: dict = {"nodeName": node} if node else {}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": {"name": "p"}, "spec": spec, "status": {"phase": phase}}


def test_graceful_deletion_marks_running_pods_with_their_grace_period() -> None:
    plus = lambda s: f"now+{s}"  # noqa: E731
    marked = st.graceful_deletion(_pod(grace=5), {}, plus)
    assert marked is not None and marked["metadata"]["deletionTimestamp"] == "now+5"
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 5
    assert st.graceful_deletion(_pod(), {}, plus)["metadata"]["deletionGracePeriodSeconds"] == 30
    assert st.graceful_deletion(_pod(grace=5), {"gracePeriodSeconds": 2}, plus)["metadata"]["deletionGracePeriodSeconds"] == 2


@pytest.mark.parametrize("pod,options", [
    (_pod(node=""), {}),  # never scheduled
    (_pod(phase="Succeeded"), {}),
    (_pod(phase="Failed"), {}),
    (_pod(), {"gracePeriodSeconds": 0}),  # --force --grace-period=0, and the kubelet's own final delete
])
def test_graceful_deletion_deletes_at_once(pod: dict, options: dict) -> None:
    assert st.graceful_deletion(pod, options, lambda s: "t") is None


def test_a_second_delete_may_shorten_but_not_lengthen_the_grace() -> None:
    pod = st.graceful_deletion(_pod(grace=30), {}, lambda s: f"t{s}")
    assert pod is not None
    again = st.graceful_deletion(pod, {"gracePeriodSeconds": 60}, lambda s: f"t{s}")
    assert again is not None and again["metadata"]["deletionGracePeriodSeconds"] == 30
    shorter = st.graceful_deletion(pod, {"gracePeriodSeconds": 3}, lambda s: f"t{s}")
    assert shorter is not None and shorter["metadata"]["deletionGracePeriodSeconds"] == 3


def test_forced_on_node_only_for_a_running_pod_without_grace() -> None:
    assert st.forced_on_node(_pod(), {"gracePeriodSeconds": 0})
    assert not st.forced_on_node(_pod(), {})
    assert not st.forced_on_node(_pod(node=""), {"gracePeriodSeconds": 0})
    assert not st.forced_on_node(_pod(phase="Succeeded"), {"gracePeriodSeconds": 0})
    terminating = _pod()
    terminating["metadata"]["deletionTimestamp"] = "t"  # the kubelet's own final delete
    assert not st.forced_on_node(terminating, {"gracePeriodSeconds": 0})


def test_privileges_the_node_cannot_grant() -> None:
    from tfcontroller.dev.cluster.node.kubelet import unsupported_security

    assert unsupported_security({"spec": {}}, {"securityContext": {"capabilities": {"drop": ["ALL"]}}}) == ""
    assert unsupported_security({"spec": {}}, {"securityContext": {"readOnlyRootFilesystem": True}}) == ""
    message = unsupported_security({"spec": {"hostIPC": True}}, {"securityContext": {
        "privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}, "procMount": "Unmasked"}})
    for field in ("spec.hostIPC", "securityContext.privileged", "securityContext.capabilities.add",
                  "securityContext.procMount: Unmasked"):
        assert field in message
