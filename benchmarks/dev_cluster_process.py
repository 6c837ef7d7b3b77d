"""The development API server as a subprocess, for benchmarks that measure clients beside it (a separate
process, so that its work is not counted in the client's time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_dev_cluster(tmp: Path, *flags: str) -> tuple[subprocess.Popen[str], str]:
    """(process, kubeconfig path) once the server printed its ready line; `flags` go to `dev-cluster`.
    Raises SystemExit when it does not start (the benchmark cannot run)."""
    kubeconfig = tmp / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfcontroller", "dev-cluster", "--kubeconfig", str(kubeconfig), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise SystemExit(f"dev-cluster did not start: {line!r}")
    return proc, str(kubeconfig)
