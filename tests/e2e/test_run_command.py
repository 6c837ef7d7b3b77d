"""`tfcontroller run` as operators start it: bad flags give one clear line and exit code 2 before
anything starts; a good start answers /healthz, /readyz and /metrics (with the reconcile and git
counters) and SIGTERM shuts it down gracefully with exit code 0."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.devcluster import install_crds
from tests.support.controllers import ControllerProcess
from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient

ROOT = REPO_ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tfcontroller", *args], capture_output=True, text=True,
                          timeout=60, cwd=str(ROOT))


@pytest.mark.parametrize("args, needle", [
    (["run", "--metrics-addr", "localhost"], "--metrics-addr: 'localhost' is not HOST:PORT"),
    (["run", "--artifact-addr", "127.0.0.1:http"], "--artifact-addr"),
    (["run", "--health-addr", "127.0.0.1:70000"], "port must be 0-65535"),
    (["run", "--concurrent", "0"], "--concurrent: '0' must be at least 1"),
    (["run", "--kubeconfig", "/no/such/kubeconfig"], "no such file"),
    (["run", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    # the removed mode (issue 15) and a typo: what to use instead
    (["run", "--runner", "inprocess"], "'inprocess': Terraform no longer runs as a child of the controller"),
    (["run", "--runner=podd"], "use --runner=local (a sandboxed runner process of the controller) or --runner=pod"),
])
def test_bad_flags_exit_2_with_one_line(args: list[str], needle: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tfcontroller") and ": error: " in lines[0] and needle in lines[0]


def test_starts_serves_endpoints_and_stops_on_sigterm(tmp_path: Path) -> None:
    with DevCluster() as cluster:
        kube = KubeClient.load(cluster.kubeconfig)
        try:
            install_crds(kube)
        finally:
            kube.close()
        proc = ControllerProcess(cluster.kubeconfig, tmp_path / "artifacts", tmp_path / "controller.log")
        try:
            proc.wait_ready()
            assert proc.get("/healthz") == (200, "ok\n")
            metrics = proc.get("/metrics")
            assert metrics is not None and metrics[0] == 200
            assert 'tfcontroller_workqueue_depth{controller="gitrepository"}' in metrics[1]
            assert "tfcontroller_git_fetches_total 0.0" in metrics[1]
            assert proc.stop(signal.SIGTERM) == 0
        finally:
            proc.stop(timeout=5)
        log = (tmp_path / "controller.log").read_text()
        assert "received signal 15; shutting down" in log
        assert wait_for(lambda: proc.get("/healthz") is None, 5, "endpoints closed")
