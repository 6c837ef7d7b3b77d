"""Termination messages on the dev node, as a kubelet makes them: the file at terminationMessagePath
(default /dev/termination-log, writable whatever the root filesystem), its last 4096 bytes; with
FallbackToLogsOnError the log's tail when the file is empty and the container failed — never on success;
12 KiB shared by a Pod's containers; the message kept in lastState after a restart and beside an
OOMKilled reason; `kubectl describe pod` shows it."""

from __future__ import annotations

import kubernetes

from tests.integration.dev.node.conftest import Kubectl, pod, wait_phase
from tests.support.polling import wait_for

FALLBACK = "FallbackToLogsOnError"


def _terminated(core: kubernetes.client.CoreV1Api, name: str, index: int = 0) -> kubernetes.client.V1ContainerStateTerminated:
    p = wait_phase(core, name, ("Succeeded", "Failed"))
    return p.status.container_statuses[index].state.terminated


def test_the_message_comes_from_the_file_its_tail_capped_at_4096_bytes(
    core: kubernetes.client.CoreV1Api, kubectl: Kubectl
) -> None:
    cases = {
        "default-path": (pod("default-path", "printf 'bye from file' > /dev/termination-log"), "bye from file"),
        # a path of its own, on a read-only root filesystem: still writable, as on a real node
        "own-path": (pod("own-path", "printf 'own path' > /var/run/msg; exit 2", container={
            "terminationMessagePath": "/var/run/msg", "securityContext": {"readOnlyRootFilesystem": True}}),
            "own path"),
        # the kubelet reads the last 4096 bytes of the file
        "long": (pod("long", "head -c 4000 /dev/zero | tr '\\0' a > /dev/termination-log;"
                             " head -c 1000 /dev/zero | tr '\\0' b >> /dev/termination-log"), "a" * 3096 + "b" * 1000),
        # File (the default) never reads the log, even on a failure
        "no-file": (pod("no-file", "echo only in the log; exit 1"), None),
    }
    for spec, _ in cases.values():
        core.create_namespaced_pod("default", spec)
    for name, (_, want) in cases.items():
        assert _terminated(core, name).message == want, name
    described = kubectl("describe", "pod", "default-path").stdout
    assert "Message:" in described and "bye from file" in described, described


def test_fallback_to_logs_on_error_takes_the_logs_tail_on_failure_only(core: kubernetes.client.CoreV1Api) -> None:
    lines = "for i in $(seq 1 100); do echo line $i; done"
    long_lines = "for i in $(seq 1 50); do printf '%099d\\n' $i; done"
    cases = {
        "failed": (f"{lines}; exit 3", "".join(f"line {i}\n" for i in range(21, 101))),  # the last 80 lines
        "failed-long": (f"{long_lines}; exit 1", "".join(f"{i:099d}\n" for i in range(1, 51))[-2048:]),  # 2048 B
        "succeeded": (f"{lines}; exit 0", None),  # success: no message from the log
        "file-wins": (f"{lines}; printf 'from file' > /dev/termination-log; exit 4", "from file"),
    }
    for name, (script, _) in cases.items():
        core.create_namespaced_pod("default", pod(name, script, container={"terminationMessagePolicy": FALLBACK}))
    for name, (_, want) in cases.items():
        assert _terminated(core, name).message == want, name


def test_oom_killed_keeps_its_reason_and_a_restart_keeps_the_message_in_last_state(
    core: kubernetes.client.CoreV1Api,
) -> None:
    hog = pod("hog", "echo allocating; python3 -c 'x = bytearray(512 * 1024 * 1024)'",
              container={"resources": {"limits": {"memory": "64Mi"}}, "terminationMessagePolicy": FALLBACK})
    core.create_namespaced_pod("default", hog)
    term = _terminated(core, "hog")
    assert (term.reason, term.exit_code) == ("OOMKilled", 137)
    assert term.message is not None and term.message.startswith("allocating\n"), term.message

    core.create_namespaced_pod("default", pod("again", 'printf "run $(cat /tmp/n 2>/dev/null)" > /dev/termination-log;'
                                                       " exit 1", restart="OnFailure"))

    def last_message() -> str:
        statuses = core.read_namespaced_pod("again", "default").status.container_statuses or []
        last = statuses[0].last_state.terminated if statuses and statuses[0].last_state else None
        return last.message if last is not None and statuses[0].restart_count >= 1 else ""

    assert wait_for(last_message, 20, "the message in lastState") == "run "


def test_a_pods_messages_share_12_kib(core: kubernetes.client.CoreV1Api) -> None:
    """Four containers each writing 4096 bytes: 12288 // 4 = 3072 bytes each, the start kept."""
    write = "head -c 4096 /dev/zero | tr '\\0' {} > /dev/termination-log"
    spec = pod("four", write.format("a"))
    spec["spec"]["containers"] += [{"name": f"c{i}", "image": "busybox", "command": ["sh", "-c", write.format(letter)]}
                                   for i, letter in enumerate("bcd")]
    core.create_namespaced_pod("default", spec)
    p = wait_phase(core, "four", ("Succeeded", "Failed"))
    messages = {cs.name: cs.state.terminated.message for cs in p.status.container_statuses}
    assert messages == {"c": "a" * 3072, "c0": "b" * 3072, "c1": "c" * 3072, "c2": "d" * 3072}
