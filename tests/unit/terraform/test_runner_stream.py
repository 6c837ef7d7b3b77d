"""The live side of Terraform's runner (terraform/runner.py): the output file read on while the command
writes it (complete lines only, the last partial line at the end, the child's file offset untouched), and
a listener that fails without stopping the command."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from tfcontroller.terraform.runner import _Guarded, _StreamReader


class Heard:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.events: list[tuple[Any, ...]] = []

    def started(self, command: str) -> None:
        self.events.append(("started", command))

    def message(self, command: str, message: dict[str, Any]) -> None:
        if self.fail:
            raise BrokenPipeError("stdout is gone")
        self.events.append(("message", command, message["@message"]))

    def ended(self, command: str, returncode: int, seconds: float) -> None:
        self.events.append(("ended", command, returncode))


def _line(text: str) -> bytes:
    return (json.dumps({"@message": text, "type": "log"}) + "\n").encode()


def test_complete_lines_are_heard_as_they_are_written_and_the_partial_one_at_the_end() -> None:
    heard = Heard()
    with tempfile.TemporaryFile() as out:
        reader = _StreamReader(out.fileno(), "apply", heard)
        reader.pump()
        assert heard.events == []
        first, second = _line("one"), _line("two")
        out.write(first + second[:10])  # as the child writes: the shared offset moves with it
        out.flush()
        reader.pump()
        assert heard.events == [("message", "apply", "one")]
        out.write(second[10:] + b"not json\n" + _line("three").rstrip(b"\n"))
        out.flush()
        reader.pump()
        assert heard.events == [("message", "apply", "one"), ("message", "apply", "two")]
        assert out.tell() == len(first) + len(second) + len(b"not json\n") + len(_line("three")) - 1, \
            "reading moved the writer's offset"
        reader.pump(final=True)
        assert heard.events[-1] == ("message", "apply", "three")
        assert os.pread(out.fileno(), 1, 0) == b"{"


def test_a_failing_listener_goes_quiet_instead_of_failing_the_command() -> None:
    heard = Heard(fail=True)
    guarded = _Guarded(heard, {})
    guarded.started("plan")
    guarded.message("plan", {"@message": "x"})  # raises inside: swallowed, logged once
    guarded.ended("plan", 0, 1.0)
    assert heard.events == [("started", "plan")] and guarded.broken
