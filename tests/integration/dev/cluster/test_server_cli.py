"""`tfcontroller dev-cluster` as a process: prints `ready`, writes a working kubeconfig, persists to
--state-file, stops cleanly on SIGTERM; `--help` warns it is not for production."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

pytestmark = pytest.mark.timeout(60)


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfcontroller", "dev-cluster", "--port", "0",
         "--kubeconfig", str(tmp_path / "kubeconfig"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "ready" in line, proc.stderr.read() if proc.stderr else line
    return proc


def test_help_says_not_for_production() -> None:
    out = subprocess.run([sys.executable, "-m", "tfcontroller", "dev-cluster", "--help"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "not for production" in out.stdout.lower()


def test_serves_until_sigterm_and_keeps_state(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    proc = _start(tmp_path, "--state-file", str(state), "--tls")
    try:
        api = config.new_client_from_config(config_file=str(tmp_path / "kubeconfig"))
        client.CoreV1Api(api).create_namespaced_config_map("default", {"metadata": {"name": "persisted"}})
        api.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    proc = _start(tmp_path, "--state-file", str(state))
    try:
        api = config.new_client_from_config(config_file=str(tmp_path / "kubeconfig"))
        assert client.CoreV1Api(api).read_namespaced_config_map("persisted", "default").metadata.name == "persisted"
        api.close()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
