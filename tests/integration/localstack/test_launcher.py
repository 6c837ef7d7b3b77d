"""localstack/up.sh and down.sh fail clearly on bad input instead of hanging or half-starting, and
down.sh is a no-op when nothing runs. (Starting and stopping for real is covered by the aws_emulator
fixture in test_app_stack_plain.py.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.fixtures.aws import LAUNCHER_DIR


def _run(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "LOCALSTACK_RUN_DIR": str(tmp_path / "run"), "LOCALSTACK_PORT": "1", **env}
    return subprocess.run(["bash", str(LAUNCHER_DIR / script)], env=full, capture_output=True, text=True, timeout=60)


def test_unknown_emulator_is_refused(tmp_path: Path) -> None:
    proc = _run("up.sh", tmp_path, AWS_EMULATOR="floci")
    assert proc.returncode != 0
    assert "AWS_EMULATOR must be localstack or moto" in proc.stderr


def test_wrong_python_is_refused(tmp_path: Path) -> None:
    proc = _run("up.sh", tmp_path, AWS_EMULATOR="localstack", LOCALSTACK_MODE="host", LOCALSTACK_PYTHON="/bin/false")
    assert proc.returncode != 0
    assert "is not Python 3.12/3.13" in proc.stderr
    assert not (tmp_path / "run" / "emulator.pid").exists()


def test_missing_moto_server_is_reported(tmp_path: Path) -> None:
    proc = _run("up.sh", tmp_path, AWS_EMULATOR="moto", TFC_VENV=str(tmp_path / "no-venv"))
    assert proc.returncode != 0
    assert "moto_server not found" in proc.stderr


def test_down_without_a_running_emulator_is_a_no_op(tmp_path: Path) -> None:
    proc = _run("down.sh", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to stop" in proc.stderr
