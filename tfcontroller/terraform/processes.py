"""The processes of a Terraform run, found through /proc by the run marker in their environment.

Every Terraform process the controller starts carries `TFCONTROLLER_RUN=<marker>` in its environment,
and so do its provider plugins and provisioner commands, which inherit it. Terraform itself is the one
that leads the session the runner starts for it (`start_new_session`): plugins and provisioners are
members of that session, not its leader. So:

- a run is *alive* when its Terraform process is: a process carrying the marker that leads its own
  session. Orphaned provider plugins (their Terraform killed) carry the marker too, but keep nothing
  alive: they hold no state lock and will never write state (design.md §4.4, the field report of
  plugins outliving their Terraform for 37 minutes);
- what is *left* of a dead run is every process carrying its marker; `stop_run` stops them by pid,
  after re-reading each one's environment through a pidfd, so that a recycled pid is never signalled.

A process is identified across time by (pid, start time in clock ticks since boot), and a boot by the
kernel's boot id: a record from before a reboot describes no process alive now.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

RUN_ENV = "TFCONTROLLER_RUN"
PROC = Path("/proc")
_POLL = 0.1


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str
    ppid: int
    pgid: int
    sid: int
    start: int  # clock ticks since boot

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")


def parse_stat(text: str) -> ProcStat | None:
    """`/proc/<pid>/stat`; the command name may hold spaces and parentheses, so split at the last ')'."""
    head, sep, tail = text.rpartition(") ")
    if not sep:
        return None
    fields = tail.split()
    try:
        return ProcStat(int(head.split(" (", 1)[0]), fields[0], int(fields[1]), int(fields[2]), int(fields[3]),
                        int(fields[19]))
    except (IndexError, ValueError):
        return None


def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except OSError:
        return None


def boot_id(proc: Path = PROC) -> str:
    try:
        return (proc / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def own_start(proc: Path = PROC) -> int:
    """This process's start time (clock ticks since boot); 0 when /proc cannot tell."""
    stat = read_stat(os.getpid(), proc)
    return stat.start if stat else 0


def process_alive(pid: int, start: int = 0, proc: Path = PROC) -> bool:
    """Whether `pid` runs (not a zombie) and, when `start` is known, is the process that started then."""
    if pid <= 0:
        return False
    stat = read_stat(pid, proc)
    if stat is None:
        return False
    return not stat.zombie and (not start or stat.start == start)


def carries_marker(environ: bytes, marker: str) -> bool:
    return bool(marker) and f"{RUN_ENV}={marker}".encode() in environ.split(b"\0")


def _environ(pid: int, proc: Path) -> bytes:
    try:
        return (proc / str(pid) / "environ").read_bytes()
    except OSError:
        return b""


def run_processes(marker: str, proc: Path = PROC) -> list[ProcStat]:
    """Live processes visible to us whose environment carries the run marker."""
    found = []
    for pid in _pids(proc):
        if not carries_marker(_environ(pid, proc), marker):
            continue
        stat = read_stat(pid, proc)
        if stat is not None and not stat.zombie:
            found.append(stat)
    return found


def terraform_processes(marker: str, proc: Path = PROC) -> list[ProcStat]:
    """The run's Terraform processes: carrying the marker and leading their own session."""
    return [p for p in run_processes(marker, proc) if p.pid == p.sid]


def run_alive(marker: str, proc: Path = PROC) -> bool:
    """Liveness of a run means its Terraform process, not plugins or provisioners it left behind."""
    return bool(terraform_processes(marker, proc))


def _pids(proc: Path) -> Iterator[int]:
    try:
        entries = list(proc.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.isdigit():
            yield int(entry.name)


@dataclass(frozen=True)
class StopReport:
    interrupted: int = 0  # Terraform processes sent SIGINT by us
    waited: float = 0.0  # seconds spent waiting for Terraform to stop gracefully
    killed: int = 0  # processes of the run sent SIGKILL (Terraform after the grace, plugins, provisioners)

    @property
    def anything(self) -> bool:
        return bool(self.interrupted or self.killed)


def stop_run(marker: str, grace: float, *, interrupt: bool, proc: Path = PROC) -> StopReport:
    """Stop what is left of a dead run: its Terraform gets `grace` seconds to stop gracefully (it saves
    the state it has and releases its lock on SIGINT; `interrupt=False` when it was already sent SIGINT,
    e.g. by the kernel as its parent-death signal: a second SIGINT would make Terraform exit at once
    without saving), then every process still carrying the marker is killed."""
    started = time.monotonic()
    interrupted = 0
    if interrupt:
        for p in terraform_processes(marker, proc):
            interrupted += _signal_verified(p, marker, signal.SIGINT, proc)
    deadline = started + max(0.0, grace)
    while terraform_processes(marker, proc) and time.monotonic() < deadline:
        time.sleep(_POLL)
    waited = time.monotonic() - started
    killed = 0
    for _ in range(3):  # a plugin might be forked while we kill: look again
        left = run_processes(marker, proc)
        if not left:
            break
        for p in left:
            killed += _signal_verified(p, marker, signal.SIGKILL, proc)
        _wait_gone(marker, 5.0, proc)
    return StopReport(interrupted, waited, killed)


def _wait_gone(marker: str, timeout: float, proc: Path) -> None:
    deadline = time.monotonic() + timeout
    while run_processes(marker, proc) and time.monotonic() < deadline:
        time.sleep(_POLL)


def _signal_verified(p: ProcStat, marker: str, sig: signal.Signals, proc: Path) -> int:
    """Signal `p` only if it is still the process we found (same start time) and carries the marker:
    the pid is pinned with a pidfd first where the kernel has them, so it cannot be recycled between
    the check and the signal."""
    pidfd = -1
    try:
        if hasattr(os, "pidfd_open"):
            pidfd = os.pidfd_open(p.pid)
        stat = read_stat(p.pid, proc)
        if stat is None or stat.start != p.start or stat.zombie or not carries_marker(_environ(p.pid, proc), marker):
            return 0
        if pidfd >= 0:
            signal.pidfd_send_signal(pidfd, sig)
        else:
            os.kill(p.pid, sig)
        return 1
    except (ProcessLookupError, PermissionError):
        return 0
    except OSError:
        return 0
    finally:
        if pidfd >= 0:
            os.close(pidfd)
