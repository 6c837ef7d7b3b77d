"""`make lint` as a test, so CI (which runs only `make test`) keeps main ruff-clean, the import layers
of docs/architecture.md intact and the package type-clean (mypy, configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
BIN = Path(sys.executable).parent
# Until the Terraform controller's restructuring lands, it still has type errors; the rest is clean.


def test_ruff_is_clean() -> None:
    proc = subprocess.run([str(BIN / "ruff"), "check", "tfcontroller", "tests", "benchmarks", "scripts"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_layers_are_kept() -> None:
    proc = subprocess.run([str(BIN / "lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "0 broken" in proc.stdout


def _mypy_errors() -> tuple[list[str], str]:
    """mypy over the package (pyproject.toml's `files`): the `error:` lines, and the whole output."""
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), output[-3000:]  # 2: mypy itself failed (bad config, crash)
    return [line for line in output.splitlines() if ": error:" in line], output


def test_mypy_is_clean() -> None:
    errors, output = _mypy_errors()
    assert not errors, output[-3000:]

