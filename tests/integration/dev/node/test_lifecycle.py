"""A Pod's life on the dev node, observed with the Python client and kubectl: logs (-f, --tail,
--previous, -c), restart policies and CrashLoopBackOff, OOMKilled, activeDeadlineSeconds, init
containers in order, graceful deletion (SIGTERM seen, SIGKILL after the grace period),
CreateContainerConfigError and its recovery, and a restarted dev cluster marking its Pods NodeLost."""

from __future__ import annotations

import time
from pathlib import Path

import kubernetes
import pytest

from tests.integration.dev.node.conftest import FAST, Kubectl, kubectl_for, logs, logs_so_far, pod, wait_phase
from tests.support.polling import wait_for
from tfcontroller.dev.cluster import DevCluster


def _container(core: kubernetes.client.CoreV1Api, name: str) -> kubernetes.client.V1ContainerStatus:
    """The first container's status (waiting for the kubelet's first status write)."""
    def statuses() -> list[kubernetes.client.V1ContainerStatus]:
        status = core.read_namespaced_pod(name, "default").status  # None until the scheduler writes one
        return (status.container_statuses if status else None) or []

    return wait_for(statuses, 10, f"container statuses of {name}")[0]


def test_kubectl_logs_tail_follow_previous_and_container(core: kubernetes.client.CoreV1Api, kubectl: Kubectl) -> None:
    core.create_namespaced_pod("default", pod("printer", "for i in 1 2 3 4 5; do echo line $i; done"))
    wait_phase(core, "printer", ("Succeeded",))
    assert kubectl("logs", "printer").stdout.split("\n")[:5] == [f"line {i}" for i in range(1, 6)]
    assert kubectl("logs", "printer", "--tail=2").stdout == "line 4\nline 5\n"
    stamped = kubectl("logs", "printer", "--timestamps", "--tail=1").stdout
    assert stamped.endswith(" line 5\n") and stamped[:4].isdigit()
    assert logs(core, "printer", since_seconds=3600).startswith("line 1\n")
    assert logs(core, "printer", limit_bytes=6) == "line 1"

    # -f streams while the container runs and ends when it exits
    core.create_namespaced_pod("default", pod("slow", "echo first; sleep 1; echo second"))
    wait_phase(core, "slow", ("Running", "Succeeded"))
    followed = kubectl("logs", "-f", "slow", timeout=30)
    assert followed.stdout == "first\nsecond\n", followed.stderr

    # --previous: the run before the last restart
    core.create_namespaced_pod("default", pod("crash", "echo run; exit 3", restart="OnFailure"))
    wait_for(lambda: _container(core, "crash").restart_count >= 2, 20, "two restarts")
    previous = kubectl("logs", "crash", "--previous")
    assert previous.stdout == "run\n", previous.stderr

    # -c picks a container; kubectl defaults to the first, the server refuses a request without one
    two = pod("two", "echo from-c")
    two["spec"]["containers"].append({"name": "d", "image": "x", "command": ["sh", "-c", "echo from-d"]})
    core.create_namespaced_pod("default", two)
    wait_phase(core, "two", ("Succeeded",))
    assert kubectl("logs", "two", "-c", "d").stdout == "from-d\n"
    defaulted = kubectl("logs", "two")
    assert defaulted.stdout == "from-c\n" and 'Defaulted container "c"' in defaulted.stderr
    with pytest.raises(kubernetes.client.ApiException) as refused:
        core.read_namespaced_pod_log("two", "default")
    assert refused.value.status == 400 and "a container name must be specified" in str(refused.value.body)


def test_restart_policy_always_crash_loops_with_back_off(core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod("looper", "exit 1", restart="Always"))

    def backing_off() -> bool:
        cs = _container(core, "looper")
        return cs.restart_count >= 2 and cs.state.waiting is not None and cs.state.waiting.reason == "CrashLoopBackOff"

    wait_for(backing_off, 20, "CrashLoopBackOff")
    cs = _container(core, "looper")
    assert cs.last_state.terminated.exit_code == 1 and cs.last_state.terminated.reason == "Error"
    assert phase_is(core, "looper", "Running")


def phase_is(core: kubernetes.client.CoreV1Api, name: str, phase: str) -> bool:
    return bool(core.read_namespaced_pod(name, "default").status.phase == phase)


def test_exit_codes_give_succeeded_and_failed(core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod("ok", "exit 0"))
    core.create_namespaced_pod("default", pod("bad", "exit 7"))
    wait_phase(core, "ok", ("Succeeded",))
    wait_phase(core, "bad", ("Failed",))
    term = _container(core, "bad").state.terminated
    assert term.exit_code == 7 and term.reason == "Error" and term.finished_at is not None
    assert _container(core, "ok").state.terminated.reason == "Completed"
    conditions = {c.type: c.status for c in core.read_namespaced_pod("ok", "default").status.conditions}
    assert conditions == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "False", "Ready": "False"}


def test_over_the_memory_limit_ends_oomkilled(core: kubernetes.client.CoreV1Api) -> None:
    script = "python3 -c 'x = bytearray(300 * 1024 * 1024); print(len(x))'"
    core.create_namespaced_pod("default", pod("hog", script, container={"resources": {"limits": {"memory": "64Mi"}}}))
    wait_phase(core, "hog", ("Failed",))
    term = _container(core, "hog").state.terminated
    assert (term.reason, term.exit_code) == ("OOMKilled", 137)
    reasons = [e.reason for e in core.list_namespaced_event("default").items if e.involved_object.name == "hog"]
    assert "OOMKilling" in reasons
    core.create_namespaced_pod("default", pod("fits", "python3 -c 'x = bytearray(8 * 1024 * 1024)'",
                                              container={"resources": {"limits": {"memory": "64Mi"}}}))
    wait_phase(core, "fits", ("Succeeded",))


def test_active_deadline_fails_the_pod(core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod("late", "sleep 60", activeDeadlineSeconds=1,
                                              terminationGracePeriodSeconds=1))
    p = wait_phase(core, "late", ("Failed",), timeout=20)
    assert p.status.reason == "DeadlineExceeded"


def test_init_containers_run_in_order_before_the_containers(core: kubernetes.client.CoreV1Api) -> None:
    spec = pod("inits", "cat /data/log", volumes=[{"name": "data", "emptyDir": {}}],
               container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]})
    spec["spec"]["initContainers"] = [
        {"name": f"i{n}", "image": "x", "command": ["sh", "-c", f"echo init-{n} >> /data/log"],
         "volumeMounts": [{"name": "data", "mountPath": "/data"}]} for n in (1, 2)
    ]
    core.create_namespaced_pod("default", spec)
    wait_phase(core, "inits", ("Succeeded",))
    assert logs(core, "inits") == "init-1\ninit-2\n"
    failing = pod("init-fails", "echo never")
    failing["spec"]["initContainers"] = [{"name": "boom", "image": "x", "command": ["sh", "-c", "exit 2"]}]
    core.create_namespaced_pod("default", failing)
    p = wait_phase(core, "init-fails", ("Failed",))
    assert p.status.init_container_statuses[0].state.terminated.exit_code == 2
    assert p.status.container_statuses[0].state.waiting is not None


def test_deleting_a_running_pod_sends_sigterm_and_removes_it_within_its_grace(
    core: kubernetes.client.CoreV1Api,
) -> None:
    script = "trap 'echo got SIGTERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done"
    spec = pod("graceful", script, terminationGracePeriodSeconds=20)
    spec["metadata"]["finalizers"] = ["example.com/keep"]  # keeps the object (and its logs) after the kubelet is done
    core.create_namespaced_pod("default", spec)
    wait_for(lambda: "ready" in logs_so_far(core, "graceful"), 15, "the trap to be installed")
    started = time.monotonic()
    core.delete_namespaced_pod("graceful", "default")
    wait_for(lambda: _container(core, "graceful").state.terminated is not None, 15, "the container to stop")
    assert time.monotonic() - started < 10  # it exited on SIGTERM, long before the 20 s grace period
    assert "got SIGTERM" in logs(core, "graceful")
    events = [e for e in core.list_namespaced_event("default").items if e.involved_object.name == "graceful"]
    reasons = [e.reason for e in sorted(events, key=lambda e: int(e.metadata.resource_version))]
    assert reasons[:3] == ["Scheduled", "Created", "Started"] and "Killing" in reasons, reasons
    killing = next(e for e in events if e.reason == "Killing")
    assert killing.message == "Stopping container c" and killing.source.component == "kubelet"
    core.patch_namespaced_pod("graceful", "default", {"metadata": {"finalizers": None}})
    wait_for(lambda: not core.list_namespaced_pod("default").items, 10, "the Pod to be removed")

    # PID 1 without a handler ignores SIGTERM, as in a real container: SIGKILL after the grace period
    core.create_namespaced_pod("default", pod("stubborn", "exec sleep 300", terminationGracePeriodSeconds=30))
    wait_phase(core, "stubborn", ("Running",))
    started = time.monotonic()
    core.delete_namespaced_pod("stubborn", "default", grace_period_seconds=1)  # a query parameter, shortening 30
    marked = core.read_namespaced_pod("stubborn", "default")
    assert marked.metadata.deletion_timestamp is not None and marked.metadata.deletion_grace_period_seconds == 1
    wait_for(lambda: not core.list_namespaced_pod("default").items, 15, "the Pod to be removed")
    assert time.monotonic() - started < 8


def test_a_forced_deletion_removes_the_pod_at_once_and_stops_its_container(
    node_cluster: DevCluster, core: kubernetes.client.CoreV1Api, kubectl: Kubectl
) -> None:
    core.create_namespaced_pod("default", pod("forced", "exec sleep 2718"))
    wait_phase(core, "forced", ("Running",))
    process = wait_for(lambda: _container_process(node_cluster, "forced", b"sleep\x002718\x00"), 10, "the process")
    deleted = kubectl("delete", "pod", "forced", "--grace-period=0", "--force")
    assert deleted.returncode == 0, deleted.stderr
    assert not core.list_namespaced_pod("default").items
    started = time.monotonic()
    wait_for(lambda: not _alive(process), 10, "the container's process to end")
    assert time.monotonic() - started < 6  # the kubelet's 2 s minimum, not the Pod's 30 s


def test_missing_secret_gives_create_container_config_error_until_it_appears(
    core: kubernetes.client.CoreV1Api, kubectl: Kubectl
) -> None:
    spec = pod("needs-secret", "echo $TOKEN $MODE", container={"env": [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode", "optional": True}}},
    ]})
    core.create_namespaced_pod("default", spec)

    def waiting() -> tuple[str, str] | None:
        cs = (core.read_namespaced_pod("needs-secret", "default").status.container_statuses or [None])[0]
        if cs is None or cs.state.waiting is None:
            return None
        return cs.state.waiting.reason, cs.state.waiting.message

    def config_error() -> tuple[str, str] | None:
        state = waiting()
        return state if state and state[0] != "ContainerCreating" else None

    assert wait_for(config_error, 15, "CreateContainerConfigError") == (
        "CreateContainerConfigError", 'secret "creds" not found')
    assert "CreateContainerConfigError" in kubectl("get", "pod", "needs-secret").stdout
    core.create_namespaced_secret("default", {"metadata": {"name": "creds"}, "stringData": {"other": "x"}})
    wait_for(lambda: (waiting() or ("", ""))[1] == "couldn't find key token in Secret default/creds", 15, "missing key")
    core.patch_namespaced_secret("creds", "default", {"stringData": {"token": "s3cret"}})
    wait_phase(core, "needs-secret", ("Succeeded",))
    assert logs(core, "needs-secret") == "s3cret\n"


def test_a_restarted_cluster_marks_the_pods_it_was_running_node_lost(tmp_path: Path) -> None:
    state = tmp_path / "cluster.json"
    with DevCluster(node=FAST, state_file=state) as first:
        kubectl = kubectl_for(first)
        created = kubectl("apply", "-f", "-", input=_yaml(pod("survivor", "echo up; exec sleep 3141")))
        assert created.returncode == 0, created.stderr
        wait_for(lambda: kubectl("get", "pod", "survivor", "-o", "jsonpath={.status.phase}").stdout == "Running",
                 15, "Running")
        done = kubectl("apply", "-f", "-", input=_yaml(pod("finished", "true")))
        assert done.returncode == 0
        wait_for(lambda: kubectl("get", "pod", "finished", "-o", "jsonpath={.status.phase}").stdout == "Succeeded",
                 15, "Succeeded")
        container = wait_for(lambda: _container_process(first, "survivor", b"sleep\x003141\x00"), 10, "the process")
    assert not _alive(container), "stopping the dev cluster must stop its containers"
    with DevCluster(node=FAST, state_file=state) as second:
        kubectl = kubectl_for(second)
        phase = kubectl("get", "pod", "survivor", "-o", "jsonpath={.status.phase} {.status.reason}").stdout
        assert phase == "Failed NodeLost"
        assert kubectl("get", "pod", "finished", "-o", "jsonpath={.status.phase}").stdout == "Succeeded"
        assert "ContainerStatusUnknown" in kubectl("get", "pod", "survivor").stdout  # as kubectl shows a lost one
        for name in ("finished", "survivor"):  # they ran: their logs went with the first cluster, said so
            lost = kubectl("logs", name)
            assert lost.returncode != 0 and "unable to retrieve container logs" in lost.stderr, lost.stderr


def _container_process(cluster: DevCluster, name: str, cmdline: bytes) -> tuple[int, str] | None:
    """(host pid, start time) of the Pod's container process as the node recorded it, once it runs
    `cmdline` (after the shell's exec) — never a search of the host's processes by command line, which
    another engineer's or test's process could match. None until then."""
    assert cluster.node is not None
    worker = next((w for w in list(cluster.node.workers.values()) if w.name == name), None)
    run = worker.main[0].run if worker is not None else None
    if run is None or run.child_pid <= 0:
        return None
    start = _start_time(run.child_pid)
    try:
        running = Path(f"/proc/{run.child_pid}/cmdline").read_bytes() == cmdline
    except OSError:
        return None
    return (run.child_pid, start) if running and start is not None else None


def _start_time(pid: int) -> str | None:
    """The start time of a live process (field 22 of /proc/PID/stat), which tells it from a later one
    with its pid; None when there is none or it is a zombie (dead, not yet reaped)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _alive(process: tuple[int, str]) -> bool:
    pid, start = process
    return _start_time(pid) == start


def _yaml(doc: dict[str, object]) -> str:
    import json

    return json.dumps(doc)


@pytest.mark.parametrize("policy", ["Never", "OnFailure"])
def test_restart_policies_on_a_failing_container(core: kubernetes.client.CoreV1Api, policy: str) -> None:
    core.create_namespaced_pod("default", pod("policy", "exit 1", restart=policy))
    if policy == "Never":
        wait_phase(core, "policy", ("Failed",))
        assert _container(core, "policy").restart_count == 0
    else:
        wait_for(lambda: _container(core, "policy").restart_count >= 2, 20, "restarts")
        assert phase_is(core, "policy", "Running") or phase_is(core, "policy", "Pending")
