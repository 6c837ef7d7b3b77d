"""Stopping a process a test started, as its pod would be stopped: SIGTERM (or the signal given), a grace
period, then SIGKILL; its log file closed. Shared by the controller and dashboard process helpers. And
SIGKILL for processes found by listing /proc, any of which may end between the listing and the kill."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterable
from typing import IO


def stop_process(proc: subprocess.Popen[bytes], log: IO[bytes], sig: int | None = None,
                 timeout: float = 20.0) -> int:
    """The process's exit code after `sig` (default SIGTERM) and at most `timeout` seconds, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(sig if sig is not None else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    log.close()
    return int(proc.returncode)


def kill_all(pids: Iterable[int]) -> None:
    """SIGKILL each pid; one that has already ended is not an error (it ended on its own, as asked)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
