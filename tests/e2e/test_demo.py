"""`make demo DEMO_EXIT=1`: the scripted tour runs end to end and exits 0 only when every step had its
expected outcome. The test runs the same entry point as the Makefile (`python -m tfcontroller.dev.demo --exit`)
in a temporary work dir, reusing the session's AWS emulator instead of starting a second LocalStack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(1200)
def test_demo_tour_passes(aws_emulator, tmp_path: Path) -> None:
    workdir = Path("/tmp") / f"tfc-demo-{os.getpid()}"  # short: provider plugin sockets live under it
    env = {**os.environ, "DEMO_AWS_ENDPOINT": aws_emulator.endpoint_url}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tfcontroller.dev.demo", "--exit", "--workdir", str(workdir)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1100,
        )
        out = proc.stdout + proc.stderr
        (tmp_path / "demo.log").write_text(out)
        assert proc.returncode == 0, out[-6000:]
        summary = out[out.index("Summary:"):]
        assert summary.count("[ok]") == 5 and "[FAILED]" not in summary
        assert list((workdir / "mail").glob("*.eml")), "the drift report was not saved as .eml"
    finally:
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
