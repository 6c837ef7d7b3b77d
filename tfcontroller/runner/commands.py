"""The controller's word to a local runner over its stdin (issue 21: one runner process per reconcile).

In local mode the runner's stdin is a pipe that only the controller holds. Its end — the controller
closed it, or died — stops the run gracefully (`--stop-on-stdin-eof`, as before). With `--await-apply
SECONDS`, a plan run that planned changes does not end: it delivers its result (`result.json`) and waits,
workspace initialised, for the line `apply <plan sha256> <request sha256>` (`run_protocol.hand_over_line`),
after which the run's inbox (read-only in the sandbox) holds the apply's request and `plan.in`; it then
applies in the same workspace and writes the apply's result, as an apply run would. Anything else —
stdin's end, the time running out, another line, a line that came before the plan's result was written,
a request or plan whose digest is not the line's, a plan that is not the one this runner made, a request
that is no apply of this run — ends the runner without applying: nothing can apply without the
controller's word, and a controller that dies between plan and apply leaves nothing running.

The module's code runs with the runner's uid in its PID namespace: `make_undumpable` keeps it from opening
`/proc/<runner>/fd/0` (a write end of the controller's pipe) and so from speaking for the controller.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tfcontroller.api import run_protocol as rp

_PR_SET_DUMPABLE = 4


def make_undumpable() -> bool:
    """prctl(PR_SET_DUMPABLE, 0) for this process: code of the same uid without CAP_SYS_PTRACE (a module's,
    in the sandbox, which drops every capability) can then not open `/proc/<runner>/fd/*` or its memory.
    Children that exec (Terraform) are dumpable again, which is fine: they hold no end of the pipe
    (Terraform is started with stdin from /dev/null and close_fds). False where the call is unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def dumpable() -> bool:
    """Whether this process is dumpable (for the runner's self-check and tests)."""
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(3, 0, 0, 0, 0)) == 1  # PR_GET_DUMPABLE


class StdinCommands:
    """The lines of fd 0, read by a daemon thread (raw reads: a buffered reader in a daemon thread aborts
    the interpreter at exit); at its end `on_eof` is called (it stops the run in flight). `ignore_received`
    drops every line received so far: a hand-over line is only valid after the plan's result is written."""

    def __init__(self, on_eof: Callable[[], None], fd: int = 0) -> None:
        self._lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
        self._on_eof = on_eof
        self._fd = fd
        self._received = 0
        self._floor = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="stdin-commands", daemon=True).start()

    def _read(self) -> None:
        pending = b""
        try:
            while chunk := os.read(self._fd, 4096):
                pending += chunk
                while b"\n" in pending:
                    line, _, pending = pending.partition(b"\n")
                    self._put(line.decode(errors="replace").strip())
        except OSError:
            pass
        self._put(None)
        self._on_eof()

    def _put(self, line: str | None) -> None:
        with self._lock:
            self._lines.put((self._received, line))
            self._received += 1

    def ignore_received(self) -> None:
        """Lines received up to now are dropped (stdin's end is kept: it still ends the run)."""
        with self._lock:
            self._floor = self._received

    def next(self, timeout: float) -> str | None:
        """The next line; None at stdin's end or when `timeout` seconds pass without one."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                seq, line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if line is None or seq >= self._floor:
                return line


class AwaitApply:
    """`execute`'s `follow`: deliver the plan's result, then wait up to `seconds` for the controller to hand
    over the apply of this run's plan; the apply's request, or None (the runner then ends). `inbox` is where
    the controller writes the apply's request and plan (read-only to the sandboxed module)."""

    def __init__(self, inbox: Path, plan: rp.RunRequest, commands: StdinCommands, seconds: float,
                 deliver: Callable[[rp.RunResult], None], say: Callable[[str], None]) -> None:
        self.inbox = inbox
        self.plan = plan
        self.commands = commands
        self.seconds = seconds
        self.deliver = deliver
        self.say = say
        self.delivered: rp.RunResult | None = None  # the result already written (not to be written again)

    def __call__(self, result: rp.RunResult) -> rp.RunRequest | None:
        self.commands.ignore_received()  # a line before the result exists is no controller's
        self.deliver(result)
        self.delivered = result
        line = self.commands.next(self.seconds)
        digests = rp.hand_over_digests(line) if line is not None else None
        if digests is None:
            self.say("no apply handed over: ending" if line is None else f"unknown command {line[:40]!r}: ending")
            return None
        refused = self._refused(result, *digests)
        if isinstance(refused, str):
            self.say(f"the handed-over apply is refused ({refused}): ending")
            return None
        return refused

    def _refused(self, result: rp.RunResult, plan_sha: str, request_sha: str) -> rp.RunRequest | str:
        """The handed-over request, or why it is refused."""
        own = result.plan.digest if result.plan is not None else ""
        if own != f"sha256:{plan_sha}":
            return "its plan is not the plan this runner made"
        try:
            data = (self.inbox / rp.REQUEST_FILE).read_bytes()
            if _sha256(data) != request_sha:
                return "the request is not the one the hand-over names"
            if _sha256((self.inbox / rp.PLAN_IN_FILE).read_bytes()) != plan_sha:
                return "plan.in is not the plan the hand-over names"
            request = rp.RunRequest.from_dict(json.loads(data))
        except (OSError, ValueError, rp.RequestInvalid) as exc:
            return f"the request cannot be read: {exc}"
        if request.operation != rp.APPLY or request.run_id != self.plan.run_id:
            return f"a {request.operation} of run {request.run_id}, not an apply of run {self.plan.run_id}"
        return request


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
