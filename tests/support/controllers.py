"""Helpers of the controller tests on the dev cluster: options for an in-process manager, builders and
status readers for GitRepository objects (with a wait on their Ready reason that checks every observed
object with `assert_kstatus`), and `tfcontroller run` as a process (`ControllerProcess`). The fixtures
that use them (`crds_installed`, `start_manager`, `controller_process`, `harness`) live in
tests/fixtures/controllers.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tests.support.kstatus import assert_kstatus
from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tests.support.processes import stop_process
from tfcontroller.api import conditions as c
from tfcontroller.controllers.gitrepository import GitRepositoryOptions
from tfcontroller.controllers.setup import ControllerManager, ControllerOptions, build_manager
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, SECRETS

ROOT = REPO_ROOT


def test_options(tmp_path: Path, **overrides: Any) -> ControllerOptions:
    """Options for an in-process manager: loopback servers on free ports, fast retries."""
    opts = ControllerOptions(
        namespace="default", concurrent=2, artifact_dir=str(tmp_path / "artifacts"),
        artifact_addr="127.0.0.1:0", metrics_addr="127.0.0.1:0", health_addr="127.0.0.1:0",
        retry_base=0.2, retry_cap=2.0, shutdown_grace=10.0,
        gitrepository=GitRepositoryOptions(ls_remote_ttl=0.5),
    )
    return dataclasses.replace(opts, **overrides)  # an unknown option is a TypeError, never ignored


test_options.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def start_synced(options: ControllerOptions, kube: KubeClient, started: list[ControllerManager]) -> ControllerManager:
    """`build_manager(options, kube)`, appended to `started` (the caller stops those at teardown, also
    when this one fails to sync), started, its informers synced."""
    mgr = build_manager(options, kube)
    started.append(mgr)
    mgr.start()
    assert mgr.wait_synced(10), "informers did not sync"
    return mgr


# ---------------------------------------------------------------- GitRepository helpers


def gitrepo(name: str, url: str, ref: dict[str, str] | None = None, interval: str = "1s",
            **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, "interval": interval, **spec}
    if ref is not None:
        body["ref"] = ref
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository",
            "metadata": {"name": name, "namespace": "default"}, "spec": body}


def secret(name: str, data: dict[str, bytes | str]) -> dict[str, Any]:
    import base64

    encoded = {k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
            "data": encoded}


def create_secret(kube: KubeClient, name: str, data: dict[str, bytes | str]) -> None:
    kube.create(SECRETS, secret(name, data))


def status_of(kube: KubeClient, name: str) -> dict[str, Any]:
    obj = kube.get_or_none(GITREPOSITORIES, name, "default")
    assert_kstatus(obj)
    return (obj or {}).get("status") or {}


def ready_condition(kube: KubeClient, name: str) -> c.Condition | None:
    return c.find(status_of(kube, name).get("conditions"), c.READY)


def revision_of(kube: KubeClient, name: str) -> str | None:
    return (status_of(kube, name).get("artifact") or {}).get("revision")


def wait_ready_reason(kube: KubeClient, name: str, status: str, reason: str, timeout: float = 20.0) -> c.Condition:
    def check() -> c.Condition | None:
        cond = ready_condition(kube, name)
        return cond if cond is not None and cond.status == status and cond.reason == reason else None

    try:
        return wait_for(check, timeout, f"{name} Ready={status} reason={reason}")
    except AssertionError:
        raise AssertionError(f"{name}: Ready is {ready_condition(kube, name)}") from None


# ---------------------------------------------------------------- `tfcontroller run` as a process


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ControllerProcess:
    """`python -m tfcontroller run ...` on loopback ports of its own; output goes to a log file."""

    def __init__(self, kubeconfig: str, artifact_dir: Path, log_path: Path, *extra: str) -> None:
        import subprocess
        import sys

        self.metrics_port, self.health_port, self.artifact_port = free_port(), free_port(), free_port()
        self.log_path = log_path
        self.args = [
            sys.executable, "-m", "tfcontroller", "--log-level", "debug", "run", "--kubeconfig", kubeconfig,
            "--namespace", "default", "--artifact-dir", str(artifact_dir),
            "--artifact-addr", f"127.0.0.1:{self.artifact_port}",
            "--metrics-addr", f"127.0.0.1:{self.metrics_port}",
            "--health-addr", f"127.0.0.1:{self.health_port}",
            "--retry-base", "0.2", "--retry-cap", "2", *extra,
        ]
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(ROOT))

    def url(self, path: str) -> str:
        port = self.metrics_port if path == "/metrics" else self.health_port
        return f"http://127.0.0.1:{port}{path}"

    def get(self, path: str) -> tuple[int, str] | None:
        """Status and body of an endpoint, None while nothing answers."""
        import requests

        try:
            resp = requests.get(self.url(path), timeout=2)
        except requests.ConnectionError:
            return None
        return resp.status_code, resp.text

    def metric(self, name: str) -> float | None:
        """The value of an unlabelled sample (e.g. `tfcontroller_git_fetches_total`)."""
        got = self.get("/metrics")
        if got is None:
            return None
        for line in got[1].splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"controller exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            got = self.get("/readyz")
            return got is not None and got[0] == 200

        wait_for(ready, timeout, "the controller's /readyz")

    def stop(self, sig: int | None = None, timeout: float = 20.0) -> int:
        return stop_process(self.proc, self._log, sig, timeout)
