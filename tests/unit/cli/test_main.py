"""The CLI's contract with operators: bad flags give one clear line and exit code 2."""

import subprocess
import sys


def test_unknown_flag_exits_2_with_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tfcontroller", "--no-such-flag"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("tfcontroller: error:")
    assert "Traceback" not in proc.stderr
