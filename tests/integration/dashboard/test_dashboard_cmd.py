"""`tfcontroller dashboard` as a user runs it (a subprocess against the dev cluster): it prints where it
serves with a one-time login link, the link logs in once as the kubeconfig's user, SIGTERM and SIGINT end
it cleanly (exit 0); local mode refuses a non-loopback address before connecting, naming the fix."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.fixtures.dashboard import viewer_shown
from tests.support.paths import REPO_ROOT
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient

SERVING = re.compile(r"^Starting to serve on (http://127\.0\.0\.1:(\d+)/)\?token=([\w-]+)$")


def _start(cluster: DevCluster, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("KUBECONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "tfcontroller", "dashboard", "--kubeconfig", cluster.kubeconfig,
                             "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=REPO_ROOT)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_it_prints_a_one_time_link_serves_and_stops_cleanly(dash_cluster: DevCluster, dash_kube: KubeClient,
                                                           stop: signal.Signals) -> None:
    proc = _start(dash_cluster)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()  # blocks until it serves (or the process ends)
        found = SERVING.match(line)
        assert found, f"unexpected first line {line!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        url, token = found.group(1), found.group(3)
        browser = requests.Session()
        browser.trust_env = False
        page = browser.get(f"{url}?token={token}", timeout=30)
        assert page.status_code == 200 and viewer_shown(page.text) == "dev-cluster-admin"
        assert requests.get(f"{url}?token={token}", timeout=30).status_code == 401  # spent
        proc.send_signal(stop)
        assert proc.wait(timeout=30) == 0
        assert proc.stderr is not None and "Acting as dev-cluster-admin" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("address", ["0.0.0.0", "192.0.2.1"])
def test_local_mode_refuses_to_listen_beyond_loopback(dash_cluster: DevCluster, address: str) -> None:
    proc = _start(dash_cluster, "--address", address)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert "loopback only" in err and "--in-cluster" in err and "Starting" not in out


def test_session_secret_is_for_in_cluster_only(dash_cluster: DevCluster, tmp_path: Path) -> None:
    proc = _start(dash_cluster, "--session-secret", "x")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--session-secret is for --in-cluster" in err
