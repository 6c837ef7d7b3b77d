"""Processes of a run, with real processes in /proc (tfcontroller.terraform.processes): liveness is the
session-leading process carrying the marker, never what it left behind; `stop_run` interrupts (or
waits for) Terraform, then kills every process carrying the marker, and never signals a process that
only has a recycled pid."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.support.polling import wait_for
from tests.support.processes import kill_all
from tfcontroller.terraform import processes
from tfcontroller.terraform.processes import RUN_ENV, ProcStat, parse_stat


def _spawn(marker: str, script: str) -> subprocess.Popen[bytes]:
    """A stand-in for Terraform: a shell leading its own session, carrying the marker."""
    return subprocess.Popen(["sh", "-c", script], env={**os.environ, RUN_ENV: marker}, start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cleanup(marker: str) -> None:
    kill_all(p.pid for p in processes.run_processes(marker))


def test_parse_stat_with_odd_command_names() -> None:
    text = "123 (a) b (c)) S 1 123 123 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 98765 0 0"
    assert parse_stat(text) == ProcStat(123, "S", 1, 123, 123, 98765)
    assert parse_stat("garbage") is None
    own = processes.read_stat(os.getpid())
    assert own is not None and own.pid == os.getpid() and own.start == processes.own_start() > 0


def test_liveness_is_the_leader_not_its_leftovers() -> None:
    marker = f"t{os.getpid()}a"
    leader = _spawn(marker, "sleep 300 & wait")  # the child sleep is a "plugin": same session, not leader
    try:
        wait_for(lambda: len(processes.run_processes(marker)) == 2, 10, "leader and child")
        assert processes.run_alive(marker)
        assert [p.pid for p in processes.terraform_processes(marker)] == [leader.pid]
        leader.kill()  # Terraform dies alone (as by the OOM killer); its child lives on, orphaned
        leader.wait(10)
        wait_for(lambda: not processes.run_alive(marker), 10, "the run to count as dead")
        assert len(processes.run_processes(marker)) == 1  # the leftover still carries the marker
        report = processes.stop_run(marker, grace=0, interrupt=False)
        assert report.killed == 1 and processes.run_processes(marker) == []
    finally:
        _cleanup(marker)


def _spawn_trapping(marker: str, trap: str, ready: Path) -> subprocess.Popen[bytes]:
    """A stand-in that installs its SIGINT `trap`, then says so by creating `ready`: a signal sent before
    the trap is in place would meet the shell's default action (a race seen on a busy machine)."""
    return _spawn(marker, f"{trap}; touch {ready}; while :; do sleep 0.1; done")


def test_stop_run_interrupts_then_kills_after_the_grace(tmp_path: Path) -> None:
    marker = f"t{os.getpid()}b"
    polite = _spawn_trapping(marker, "trap 'exit 0' INT", tmp_path / "polite")
    try:
        wait_for(lambda: (tmp_path / "polite").exists() and processes.run_alive(marker), 10, "the run")
        report = processes.stop_run(marker, grace=20, interrupt=True)
        assert report.interrupted == 1 and report.waited < 15  # it stopped when asked, before the grace
        polite.wait(10)
    finally:
        _cleanup(marker)
    marker = f"t{os.getpid()}c"
    stubborn = _spawn_trapping(marker, "trap '' INT", tmp_path / "stubborn")
    try:
        wait_for(lambda: (tmp_path / "stubborn").exists() and processes.run_alive(marker), 10, "the run")
        report = processes.stop_run(marker, grace=0.5, interrupt=True)
        assert report.killed >= 1 and report.waited >= 0.5
        assert stubborn.wait(10) == -signal.SIGKILL
        assert processes.run_processes(marker) == []
    finally:
        _cleanup(marker)


def test_a_recycled_pid_is_never_signalled() -> None:
    marker = f"t{os.getpid()}d"
    proc = _spawn(marker, "sleep 300")
    try:
        wait_for(lambda: processes.run_alive(marker), 10, "the run")
        stat = processes.read_stat(proc.pid)
        assert stat is not None
        assert processes.process_alive(proc.pid, stat.start)
        assert not processes.process_alive(proc.pid, stat.start + 1)  # same pid, another process
        other = ProcStat(stat.pid, stat.state, stat.ppid, stat.pgid, stat.sid, stat.start + 1)
        assert processes._signal_verified(other, marker, signal.SIGKILL, processes.PROC) == 0
        assert processes._signal_verified(stat, "another-marker", signal.SIGKILL, processes.PROC) == 0
        assert proc.poll() is None
    finally:
        _cleanup(marker)
        proc.wait(10)
