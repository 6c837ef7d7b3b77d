"""The controller's word to a local runner over its stdin (issue 21: one runner process per reconcile).

In local mode the runner's stdin is a pipe that only the controller holds. Its end — the controller
closed it, or died — stops the run gracefully (`--stop-on-stdin-eof`, as before). With `--await-apply
SECONDS`, a plan run that planned changes does not end: it delivers its result (`result.json`) and waits,
workspace initialised, for the line `apply` (`run_protocol.HAND_OVER_APPLY`), after which the exchange
directory holds the apply's request and `plan.in`; it then applies in the same workspace and writes the
apply's result, as an apply run would. Anything else — stdin's end, the time running out, another line, a
request that is no apply of this run — ends the runner without applying: nothing can apply without the
controller's word, and a controller that dies between plan and apply leaves nothing running.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from tfcontroller.api import run_protocol as rp


class StdinCommands:
    """The lines of fd 0, read by a daemon thread (raw reads: a buffered reader in a daemon thread aborts
    the interpreter at exit); at its end `on_eof` is called (it stops the run in flight)."""

    def __init__(self, on_eof: Callable[[], None], fd: int = 0) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._on_eof = on_eof
        self._fd = fd
        threading.Thread(target=self._read, name="stdin-commands", daemon=True).start()

    def _read(self) -> None:
        pending = b""
        try:
            while chunk := os.read(self._fd, 4096):
                pending += chunk
                while b"\n" in pending:
                    line, _, pending = pending.partition(b"\n")
                    self._lines.put(line.decode(errors="replace").strip())
        except OSError:
            pass
        self._lines.put(None)
        self._on_eof()

    def next(self, timeout: float) -> str | None:
        """The next line; None at stdin's end or when `timeout` seconds pass without one."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None


class AwaitApply:
    """`execute`'s `follow`: deliver the plan's result, then wait up to `seconds` for the controller to hand
    over the apply of this run's plan; the apply's request, or None (the runner then ends)."""

    def __init__(self, exchange: Path, plan: rp.RunRequest, commands: StdinCommands, seconds: float,
                 deliver: Callable[[rp.RunResult], None], say: Callable[[str], None]) -> None:
        self.exchange = exchange
        self.plan = plan
        self.commands = commands
        self.seconds = seconds
        self.deliver = deliver
        self.say = say
        self.delivered: rp.RunResult | None = None  # the result already written (not to be written again)

    def __call__(self, result: rp.RunResult) -> rp.RunRequest | None:
        self.deliver(result)
        self.delivered = result
        line = self.commands.next(self.seconds)
        if line != rp.HAND_OVER_APPLY:
            self.say("no apply handed over: ending" if line is None else f"unknown command {line[:40]!r}: ending")
            return None
        try:
            request = rp.RunRequest.from_dict(json.loads((self.exchange / rp.REQUEST_FILE).read_text()))
        except (OSError, ValueError, rp.RequestInvalid) as exc:
            self.say(f"the handed-over request cannot be read ({exc}): ending")
            return None
        if request.operation != rp.APPLY or request.run_id != self.plan.run_id:
            self.say(f"the handed-over request is a {request.operation} of run {request.run_id}, not an apply of "
                     f"run {self.plan.run_id}: ending")
            return None
        return request
