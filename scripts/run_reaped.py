#!/usr/bin/env python3
"""Run a command, then stop exactly the processes it left behind — by PID, never by name.

Why: `.ci/run` must not leave servers running (a crashed fixture's dev cluster, LocalStack, git or SSH
server), and must not touch processes it did not start (a developer's own dev cluster beside the tests).
This process makes itself a child subreaper (Linux `PR_SET_CHILD_SUBREAPER`, prctl(2)), so every
descendant that is orphaned — including daemons that double-fork or start their own session — is
re-parented to it instead of to init. When the command ends, the descendants still alive are found by
walking `/proc/*/stat` parent links down from this PID, sent SIGTERM, and SIGKILL after a grace period.

Usage: run_reaped.py [--grace SECONDS] -- COMMAND [ARG...]; exits with the command's exit code.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def make_subreaper() -> bool:
    """Ask the kernel to re-parent orphaned descendants to us (False where prctl is unavailable)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def parents() -> dict[int, int]:
    """pid -> parent pid of every visible process (the 4th field of /proc/PID/stat, after the comm)."""
    found: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1:
            found[int(entry)] = int(fields[1])
    return found


def descendants(root: int) -> list[int]:
    """Every live descendant of `root` (children first found, then theirs)."""
    tree: dict[int, list[int]] = {}
    for pid, ppid in parents().items():
        tree.setdefault(ppid, []).append(pid)
    out: list[int] = []
    todo = list(tree.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def command_name(pid: int) -> str:
    """The process's command name (/proc/PID/comm), for the report; "" when it is gone."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def wait_reaping(child: subprocess.Popen[bytes]) -> int:
    """Wait for `child`'s exit code while reaping every other descendant that exits meanwhile: as their
    subreaper we stand in for init, and an orphan that exits must not stay a zombie until the end."""
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child.pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return child.returncode


def reap_zombies() -> None:
    """Collect exited children (orphans re-parented to us become our children)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop_leftovers(grace: float) -> list[int]:
    """SIGTERM every descendant, SIGKILL those still there after `grace` seconds; returns the PIDs."""
    me = os.getpid()
    left = descendants(me)
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap_zombies()
        if not descendants(me):
            return left
        time.sleep(0.2)
    for pid in descendants(me):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.2)
    reap_zombies()
    return left


def main(argv: list[str]) -> int:
    grace = 10.0
    if argv[:1] == ["--grace"]:
        grace, argv = float(argv[1]), argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: run_reaped.py [--grace SECONDS] -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    if not make_subreaper():
        print("run_reaped: PR_SET_CHILD_SUBREAPER unavailable; only direct descendants are stopped",
              file=sys.stderr)
    child = subprocess.Popen(argv)
    # Forward the signals a CI runner sends, so the command can shut down cleanly first.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
    rc = wait_reaping(child)
    names = {pid: command_name(pid) for pid in descendants(os.getpid())}
    left = stop_leftovers(grace)
    if left:
        listed = " ".join(f"{pid}:{names.get(pid) or '?'}" for pid in sorted(left))
        print(f"run_reaped: stopped {len(left)} leftover process(es): {listed}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
