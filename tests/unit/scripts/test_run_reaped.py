"""`.ci/run` stops exactly what its run left behind: scripts/run_reaped.py, run as a real process, stops
a daemon that escaped into its own session and a plain background child, passes the exit code through,
and leaves alone a process with the same command line that it did not start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for

SCRIPT = REPO_ROOT / "scripts" / "run_reaped.py"


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def test_leftovers_are_stopped_by_pid_and_a_bystander_survives(tmp_path):
    bystander = subprocess.Popen(["sleep", "3001"])  # same name as what the run leaves behind
    pids = tmp_path / "pids"
    try:
        script = f"sleep 3001 & echo $! > {pids}; setsid sleep 3001 & echo $! >> {pids}; exit 7"
        done = subprocess.run([sys.executable, str(SCRIPT), "--grace", "5", "--", "bash", "-c", script],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 7
        left = [int(p) for p in pids.read_text().split()]
        assert len(left) == 2
        wait_for(lambda: not any(alive(p) for p in left), 10, "leftovers stopped")
        assert "stopped 2 leftover process(es)" in done.stderr and ":sleep" in done.stderr
        assert alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()


def test_nothing_left_nothing_said():
    done = subprocess.run([sys.executable, str(SCRIPT), "--", "true"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""


def test_an_orphan_that_exits_during_the_run_is_reaped_at_once(tmp_path):
    """As the orphans' subreaper it stands in for init: an orphan that exits while the command still runs
    is collected then, not left a zombie until the end (and not reported as a leftover)."""
    done_file = tmp_path / "orphan-done"
    script = f"(sh -c 'touch {done_file}' &); while [ ! -e {done_file} ]; do sleep 0.05; done; sleep 0.5"
    done = subprocess.run([sys.executable, str(SCRIPT), "--", "bash", "-c", script],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "leftover" not in done.stderr, done.stderr
