"""The dev node's images (node/images.py): a Pod of `tfcontroller:dev` runs our own program from the
running venv and package (its entrypoint when there is no command), command/args against an image's
ENTRYPOINT/CMD as the kubelet resolves them, the image's env under the container's — and a container of
the image still sees nothing of the host beyond those directories: not the repository, /root, the dev
cluster's state or kubeconfig, nor another process."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import kubernetes
import pytest

import tfcontroller
from tests.fixtures.devcluster import api_client_for
from tests.integration.dev.node.conftest import FAST, Kubectl, logs, wait_phase
from tests.support.polling import wait_for
from tfcontroller.cli.version_cmd import text as version_text
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.node.images import DEV_IMAGE, NodeImage, default_images


def _dev_pod(name: str, **container: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "runner", "image": DEV_IMAGE, **container}]}}


def test_a_pod_of_the_dev_image_runs_tfcontroller_and_imports_the_running_package(
    core: kubernetes.client.CoreV1Api, kubectl: Kubectl
) -> None:
    # no command: the image's entrypoint `tfcontroller`, the Pod's args after it
    core.create_namespaced_pod("default", _dev_pod("version", args=["version"]))
    probe = "import tfcontroller, tfcontroller.runner, kubernetes, tenacity; print(tfcontroller.__file__)"
    core.create_namespaced_pod("default", _dev_pod("imports", command=["python", "-c", probe]))
    done = wait_phase(core, "version", ("Succeeded", "Failed"))
    out = kubectl("logs", "version").stdout
    assert done.status.phase == "Succeeded", out
    assert out == version_text(), out  # the release and API of the running package
    status = done.status.container_statuses[0]
    assert status.image == DEV_IMAGE and status.image_id == f"dev-node://{DEV_IMAGE}"
    imported = wait_phase(core, "imports", ("Succeeded", "Failed"))
    assert imported.status.phase == "Succeeded", logs(core, "imports")
    # the code of this checkout (PYTHONPATH or editable install), the one the test process runs
    assert logs(core, "imports").strip() == str(Path(tfcontroller.__file__).resolve())


def test_a_dev_image_container_sees_only_the_images_directories(
    node_cluster: DevCluster, core: kubernetes.client.CoreV1Api
) -> None:
    """Every ancestor of an image directory lists only the way to the image's directories (no repository
    file beside the package, nothing else of /root or /work); the state, kubeconfig and node files do not
    exist; /proc shows the container's own processes only — as root too."""
    assert node_cluster.state_file is not None and node_cluster.node is not None
    paths = default_images()[DEV_IMAGE].paths
    ancestors: dict[str, set[str]] = {}
    for path in paths:
        parts = Path(path).parts
        for i in range(1, len(parts) - 1):
            ancestors.setdefault(str(Path(*parts[: i + 1])), set()).add(parts[i + 1])
    for path in paths:  # an image directory inside another's ancestor is listed as a whole
        ancestors.pop(path, None)
    secrets = [str(node_cluster.state_file.parent), node_cluster.kubeconfig, str(node_cluster.node.state_dir),
               str(Path.cwd() / "pyproject.toml"), str(Path(tfcontroller.__file__).resolve().parents[1] / ".git"),
               "/root/.bash_history", "/root/.ssh", "/root/.kube"]
    script = "\n".join([
        *(f"echo LS {a} $(ls -A {a} | sort | tr '\\n' ' ')" for a in sorted(ancestors)),
        *(f"ls -d {p} >/dev/null 2>&1 && echo ESCAPE {p}" for p in secrets),
        f"kill -0 {os.getpid()} 2>/dev/null && echo ESCAPE signal host",
        "echo PROCS $(ls /proc | grep -E '^[0-9]+$' | wc -l)",
    ])
    for name, context in (("as-nobody", {}), ("as-root", {"runAsUser": 0})):
        core.create_namespaced_pod("default", _dev_pod(name, command=["sh", "-c", script],
                                                       securityContext=context))
    for name in ("as-nobody", "as-root"):
        assert wait_phase(core, name, ("Succeeded", "Failed")).status.phase == "Succeeded"
        out = logs(core, name)
        assert "ESCAPE" not in out, (name, out)
        listed = {line.split()[1]: set(line.split()[2:]) for line in out.splitlines() if line.startswith("LS ")}
        assert listed == ancestors, (name, out)
        procs = next(line for line in out.splitlines() if line.startswith("PROCS "))
        assert int(procs.split()[1]) <= 6, (name, out)


@pytest.fixture
def tools_cluster(tmp_path: Path) -> DevCluster:
    """A dev cluster whose node also maps `tools:1`: ENTRYPOINT sh -c, a CMD, an env and a WORKDIR."""
    tools = NodeImage(paths=(), env={"PATH": "/usr/bin:/bin", "GREETING": "from-image", "SHARED": "image"},
                      entrypoint=("sh", "-c"), cmd=('echo "cmd $GREETING $SHARED $(pwd)"',), working_dir="/srv/app")
    return DevCluster(node=dataclasses.replace(FAST, images={**default_images(), "tools:1": tools}))


def test_command_overrides_entrypoint_args_override_cmd_and_env_overrides_the_images(
    tools_cluster: DevCluster,
) -> None:
    cases = {
        "both-default": ({}, "cmd from-image pod /srv/app"),  # ENTRYPOINT + CMD
        "args": ({"args": ['echo "args $GREETING"']}, "args from-image"),  # ENTRYPOINT + args
        "command": ({"command": ["echo", "command-only"]}, "command-only"),  # command alone: no CMD
        "command-args": ({"command": ["sh", "-c"], "args": ["echo both $0", "x"]}, "both x"),
        "workdir": ({"command": ["pwd"], "workingDir": "/elsewhere"}, "/elsewhere"),
    }
    with tools_cluster as dev:
        client = api_client_for(dev)
        core = kubernetes.client.CoreV1Api(client)
        try:
            for name, (fields, _) in cases.items():
                container = {"name": "c", "image": "tools:1", "env": [{"name": "SHARED", "value": "pod"}], **fields}
                core.create_namespaced_pod("default", {"metadata": {"name": name}, "spec": {
                    "restartPolicy": "Never", "containers": [container]}})
            for name, (_, want) in cases.items():
                wait_phase(core, name, ("Succeeded", "Failed"))
                assert logs(core, name).strip() == want, name
            # an image the node does not map keeps the old rule: a command is required
            core.create_namespaced_pod("default", {"metadata": {"name": "unknown"}, "spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "args": ["true"]}]}})

            def waiting_message() -> str:
                statuses = core.read_namespaced_pod("unknown", "default").status.container_statuses or []
                waiting = statuses[0].state.waiting if statuses else None
                return waiting.message if waiting and waiting.reason == "CreateContainerError" else ""

            message = wait_for(waiting_message, 15, "CreateContainerError")
            assert "'busybox'" in message and DEV_IMAGE in message and "tools:1" in message
        finally:
            client.close()


def test_dev_cluster_image_option_is_checked_before_the_server_starts(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tfcontroller", "dev-cluster", "--kubeconfig",
                           str(tmp_path / "kc"), "--image", f"tools=relative/dir:{tmp_path}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "'relative/dir' is not an absolute path" in done.stderr, done.stderr
    assert not (tmp_path / "kc").exists()
