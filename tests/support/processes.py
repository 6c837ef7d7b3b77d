"""Stopping a process a test started, as its pod would be stopped: SIGTERM (or the signal given), a grace
period, then SIGKILL; its log file closed. Shared by the controller and dashboard process helpers."""

from __future__ import annotations

import signal
import subprocess
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
