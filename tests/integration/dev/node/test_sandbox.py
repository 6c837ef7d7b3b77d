"""A container is sandboxed like a real one: its own PID namespace and /proc, the host's files read-only
through an allow-list (the dev cluster's state, kubeconfig, node directory and /root do not exist inside),
a non-root user by default and the securityContext's otherwise, the host's network."""

from __future__ import annotations

import os
from pathlib import Path

import kubernetes
import pytest

from tests.integration.dev.node.conftest import Kubectl, logs, logs_so_far, pod, wait_phase
from tests.support.polling import wait_for
from tfcontroller.dev.cluster import DevCluster


def test_ps_and_proc_show_only_the_containers_own_processes(core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod("other", "sleep 300"))  # another Pod's process
    wait_phase(core, "other", ("Running",))
    core.create_namespaced_pod("default", pod("ps", "ps -e -o pid=,comm=; echo ---; ls /proc | grep -E '^[0-9]+$'"))
    wait_phase(core, "ps", ("Succeeded",))
    out = logs(core, "ps")
    ps_part, proc_part = out.split("---")
    commands = [line.split()[1] for line in ps_part.strip().splitlines()]
    assert commands == ["sh", "ps"], out  # PID 1 is the container's command; nothing of the host, nor "sleep"
    pids = {int(p) for p in proc_part.split()}
    assert pids <= {1, 2, 3, 4, 5, 6}, out


def test_a_pod_cannot_read_the_clusters_state_kubeconfig_node_files_or_root(
    node_cluster: DevCluster, core: kubernetes.client.CoreV1Api
) -> None:
    assert node_cluster.state_file is not None and node_cluster.node is not None
    # the node's state directory holds every Pod's volumes and logs
    state_dir = node_cluster.state_file.parent  # the state file, and beside it the admin token, CA key, SA key
    wait_for(lambda: node_cluster.state_file.exists(), 10, "the state file")
    files = [str(p) for p in state_dir.rglob("*") if p.is_file()]
    assert any(f.endswith("admin-token") for f in files), files
    secret_paths = [*files, str(state_dir), node_cluster.kubeconfig, str(node_cluster.node.state_dir),
                    "/root", "/work", str(Path.cwd())]
    script = "; ".join(f"cat {p} >/dev/null 2>&1 && echo READABLE {p}; ls {p} >/dev/null 2>&1 && echo LISTED {p}"
                       for p in secret_paths)
    core.create_namespaced_pod("default", pod("snoop", script + "; echo done"))
    wait_phase(core, "snoop", ("Succeeded",))
    out = logs(core, "snoop")
    assert out.strip() == "done", out


def test_user_and_group_default_to_nobody_and_follow_security_context(core: kubernetes.client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod("default-user", "id -u; id -g; touch /usr/x 2>&1 || echo ro"))
    spec = pod("custom-user", "id -u; id -g; id -G", securityContext={"runAsUser": 1000, "runAsGroup": 3000,
                                                                      "supplementalGroups": [4000]})
    spec["spec"]["containers"][0]["securityContext"] = {"runAsUser": 2000}
    core.create_namespaced_pod("default", spec)
    wait_phase(core, "default-user", ("Succeeded",))
    wait_phase(core, "custom-user", ("Succeeded",))
    lines = logs(core, "default-user").split("\n")
    assert lines[:2] == ["65534", "65534"]
    assert "ro" in lines[2] or "Read-only" in lines[2]
    custom = logs(core, "custom-user").split("\n")
    assert custom[0] == "2000" and custom[1] == "3000" and "4000" in custom[2].split()


def test_tmp_and_working_dir_are_writable_scratch(core: kubernetes.client.CoreV1Api) -> None:
    spec = pod("scratch", "echo a > /tmp/a && echo b > here && pwd && cat /tmp/a here",
               container={"workingDir": "/work/app"})
    core.create_namespaced_pod("default", spec)
    wait_phase(core, "scratch", ("Succeeded",))
    assert logs(core, "scratch").split() == ["/work/app", "a", "b"]


def test_host_network_reaches_the_dev_cluster(node_cluster: DevCluster, core: kubernetes.client.CoreV1Api) -> None:
    script = 'exec 3<>/dev/tcp/127.0.0.1/$KUBERNETES_SERVICE_PORT && echo connected'
    spec = pod("net", script)
    spec["spec"]["containers"][0]["command"] = ["bash", "-c", script]
    core.create_namespaced_pod("default", spec)
    wait_phase(core, "net", ("Succeeded", "Failed"))
    assert logs(core, "net").strip() == "connected"
    env = core.read_namespaced_pod("net", "default")
    assert env.status.host_ip == "127.0.0.1"


def test_kubectl_get_nodes_shows_the_node_ready_with_host_capacity(kubectl: Kubectl) -> None:
    out = kubectl("get", "nodes").stdout
    assert "dev-node" in out and "Ready" in out
    capacity = kubectl("get", "node", "dev-node", "-o", "jsonpath={.status.capacity.cpu} {.status.capacity.memory}")
    cpu, memory = capacity.stdout.split()
    assert int(cpu) >= 1 and memory.endswith("Ki") and int(memory[:-2]) > 0


def test_a_container_without_command_waits_with_a_clear_reason(core: kubernetes.client.CoreV1Api) -> None:
    spec = pod("nocmd", "")
    del spec["spec"]["containers"][0]["command"]
    core.create_namespaced_pod("default", spec)

    def waiting() -> str:
        statuses = core.read_namespaced_pod("nocmd", "default").status.container_statuses or []
        return statuses[0].state.waiting.reason if statuses and statuses[0].state.waiting else ""

    assert wait_for(lambda: waiting() == "CreateContainerError" and waiting(), 10, "CreateContainerError")
    message = core.read_namespaced_pod("nocmd", "default").status.container_statuses[0].state.waiting.message
    assert "command" in message and "image" in message


def _private_host_files() -> list[str]:
    """Files of the host every container must not read, found independently of the node's own scan."""
    candidates = ["/etc/shadow", "/etc/gshadow", *sorted(str(p) for p in Path("/etc/ssh").glob("ssh_host_*_key"))]
    return [p for p in candidates if os.path.isfile(p) and not os.stat(p).st_mode & 0o004]


def test_no_identity_escapes_through_proc_sys_private_files_fds_or_environment(
    core: kubernetes.client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uid 0 without capabilities still owns root's files: it must not set host-wide sysctls (core_pattern
    runs a program as the host's root) nor read /etc/shadow or SSH host keys; neither may a user in the
    shadow or root group. PID 1 inherits no descriptor and no variable of the dev cluster's process."""
    monkeypatch.setenv("DEVCLUSTER_LEAK_CANARY", "secret")  # the in-process dev cluster's environment
    private = _private_host_files()
    assert private, "this host has no private files to test with"
    script = "\n".join([
        "for f in /proc/sys/kernel/core_pattern /proc/sys/vm/drop_caches /proc/sysrq-trigger; do"
        " (: >> $f) 2>/dev/null && echo ESCAPE write $f; done",
        *(f"cat {p} >/dev/null 2>&1 && echo ESCAPE read {p}" for p in private),
        "ls -A /etc/ssl/private 2>/dev/null | grep -q . && echo ESCAPE list /etc/ssl/private",
        f"kill -0 {os.getpid()} 2>/dev/null && echo ESCAPE signal host",
        "echo x > /dev/shm/x || echo ESCAPE no /dev/shm",
        # setuid binaries gain nothing (no_new_privs), no capability is held or can be, nothing mounts
        "grep -q '^NoNewPrivs:[[:space:]]*1' /proc/self/status || echo ESCAPE new privileges",
        "grep -q '^CapBnd:[[:space:]]*0000000000000000' /proc/self/status || echo ESCAPE capabilities",
        "mount -t tmpfs none /tmp 2>/dev/null && echo ESCAPE mount",
        "touch /usr/x /etc/x 2>/dev/null && echo ESCAPE write /usr",
        "ls /sys/fs/cgroup >/dev/null 2>&1 && echo ESCAPE cgroupfs",
        "for fd in /proc/1/fd/*; do echo fd $(readlink $fd); done",  # PID 1 is this shell
        "echo env $(tr '\\0' '\\n' < /proc/1/environ | cut -d= -f1 | grep -v '^KUBERNETES_' | sort)",
    ])
    identities = {"root": {"runAsUser": 0}, "groups": {"runAsUser": 1000, "runAsGroup": 42, "supplementalGroups": [0]},
                  "nobody": {}}
    for name, context in identities.items():
        core.create_namespaced_pod("default", pod(name, script, securityContext=context))
    for name in identities:
        wait_phase(core, name, ("Succeeded", "Failed"))
        out = logs(core, name)
        assert "ESCAPE" not in out, (name, out)
        targets = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("fd ")]
        # stdin, the log pipe, and the shell's own pipes: no socket or file of the dev cluster's process
        assert targets and all(t == "/dev/null" or t.startswith("pipe:[") for t in targets), (name, out)
        assert "env HOME HOSTNAME PATH PWD\n" in out, (name, out)



def test_environment_values_are_not_on_a_host_command_line(core: kubernetes.client.CoreV1Api) -> None:
    """Every host user can read a process's command line: a Secret in the environment must not be there."""
    core.create_namespaced_secret("default", {"metadata": {"name": "pw"}, "stringData": {"password": "n0t-in-ps-4242"}})
    spec = pod("env-secret", 'echo "$PASSWORD" | wc -c; exec sleep 300', container={"env": [
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pw", "key": "password"}}}]})
    core.create_namespaced_pod("default", spec)
    wait_for(lambda: logs_so_far(core, "env-secret").strip() == "15", 15, "the container to read its Secret")
    leaked = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and b"n0t-in-ps-4242" in Path(f"/proc/{entry}/cmdline").read_bytes():
                leaked.append(entry)
        except OSError:
            continue
    assert not leaked


def test_read_only_root_filesystem_leaves_only_volumes_and_dev_shm_writable(core: kubernetes.client.CoreV1Api) -> None:
    script = ("{ echo a > /tmp/a; } 2>/dev/null && echo WROTE /tmp; { echo b > here; } 2>/dev/null && echo WROTE workdir;"
              " echo c > /data/c && echo d > /dev/shm/d && cat /data/c /dev/shm/d")
    spec = pod("ro-root", script, volumes=[{"name": "data", "emptyDir": {}}],
               securityContext={"runAsUser": 0},
               container={"workingDir": "/app", "securityContext": {"readOnlyRootFilesystem": True},
                          "volumeMounts": [{"name": "data", "mountPath": "/data"}]})
    core.create_namespaced_pod("default", spec)
    wait_phase(core, "ro-root", ("Succeeded", "Failed"))
    assert logs(core, "ro-root").split() == ["c", "d"]


def test_privileges_the_node_cannot_grant_are_refused_not_weakened(core: kubernetes.client.CoreV1Api) -> None:
    asks = {"privileged": ({}, {"privileged": True}), "caps": ({}, {"capabilities": {"add": ["NET_ADMIN"]}}),
            "hostpid": ({"hostPID": True}, {})}
    for name, (pod_spec, context) in asks.items():
        core.create_namespaced_pod("default", pod(name, "echo ran", container={"securityContext": context}, **pod_spec))

    def refusal(name: str) -> str:
        statuses = core.read_namespaced_pod(name, "default").status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        return waiting.message if waiting and waiting.reason == "CreateContainerConfigError" else ""

    for name, field in (("privileged", "securityContext.privileged"), ("caps", "securityContext.capabilities.add"),
                        ("hostpid", "spec.hostPID")):
        message = wait_for(lambda n=name: refusal(n), 15, f"{name} refused")  # type: ignore[misc]
        assert f"the dev node cannot grant {field}" in message
