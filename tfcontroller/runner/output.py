"""What a runner prints of a run: Terraform's human-readable messages, live, scrubbed (issue 15, "Logs").

The runner's stdout is the run's log: `kubectl logs` / `tfcontroller logs` of the runner Pod in pod mode,
the controller's log lines for the object in local mode. It carries, as Terraform writes them, the
`@message` of each message of a command's `-json` stream and, for a diagnostic, its address, source
position and detail (the snippet's expression values are left out: they are module values); one line when
each command starts and one when it ends (exit code, seconds). Never Terraform's raw stdout or stderr
(`show -json` and `output -json` hold every value of the plan and state).

Every line goes through `RunEnvironment.line`, i.e. `api.redact.scrub` of the values the runner read
from Secrets, the sealed values and the values of `sensitive` variables, longest first. The formatting is
pure (`message_lines`, `started_line`, `ended_line`) and unit-tested; `RunOutput` is the listener the
Terraform runner calls (tfcontroller.terraform.runner.CommandListener).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def started_line(command: str) -> str:
    return f"terraform {command}: started"


def ended_line(command: str, returncode: int, seconds: float) -> str:
    how = f"killed by signal {-returncode}" if returncode < 0 else f"exit {returncode}"
    return f"terraform {command}: {how} after {seconds:.1f}s"


def message_lines(command: str, message: dict[str, Any]) -> list[str]:
    """The lines one message of a `-json` stream prints, each prefixed by the command. Pure."""
    text = message.get("@message")
    lines = _split(text) if isinstance(text, str) else []
    if message.get("type") == "diagnostic" and isinstance(message.get("diagnostic"), dict):
        lines = _diagnostic_lines(message["diagnostic"], lines)
    return [f"{command}: {line}" for line in lines]


def _diagnostic_lines(diagnostic: dict[str, Any], head: list[str]) -> list[str]:
    if not head:
        severity = str(diagnostic.get("severity") or "error").capitalize()
        head = [f"{severity}: {diagnostic.get('summary') or ''}"]
    where = _where(diagnostic)
    detail = diagnostic.get("detail")
    return [*head, *([f"  {where}"] if where else []),
            *(f"  {line}" for line in (_split(detail) if isinstance(detail, str) else []))]


def _where(diagnostic: dict[str, Any]) -> str:
    """`on main.tf line 3, in terraform_data.x`, as Terraform's human output says it."""
    parts = []
    rng = diagnostic.get("range")
    if isinstance(rng, dict) and rng.get("filename"):
        start = rng.get("start")
        line = f" line {start['line']}" if isinstance(start, dict) and start.get("line") is not None else ""
        parts.append(f"on {rng['filename']}{line}")
    if diagnostic.get("address"):
        parts.append(f"in {diagnostic['address']}")
    return ", ".join(parts)


def _split(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


class RunOutput:
    """A CommandListener printing through `line` (which scrubs); Terraform's runner calls it from the thread
    that runs the command, as the messages arrive."""

    def __init__(self, line: Callable[[str], None]) -> None:
        self.line = line

    def started(self, command: str) -> None:
        self.line(started_line(command))

    def message(self, command: str, message: dict[str, Any]) -> None:
        for text in message_lines(command, message):
            self.line(text)

    def ended(self, command: str, returncode: int, seconds: float) -> None:
        self.line(ended_line(command, returncode, seconds))
