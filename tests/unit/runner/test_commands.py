"""The controller's word to a held local runner (runner/commands.py, issue 21): only the line `apply` and a
readable apply request of the same run hand an apply over; stdin's end, a timeout, another line, another
run's or operation's request all end the runner without applying. The plan's result is delivered first."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tfcontroller.api import run_protocol as rp
from tfcontroller.runner.commands import AwaitApply, StdinCommands

DIGEST = "sha256:" + "a" * 64
PLAN = rp.RunRequest(run_id="run-1", operation=rp.PLAN, namespace="ns", name="web", artifact_url="file:///a",
                     artifact_digest=DIGEST)
PLANNED = rp.RunResult("run-1", rp.PLAN, rp.SUCCEEDED, "PlanGenerated", plan=rp.PlanSummary(True, 1))


class Pipe:
    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.eof = threading.Event()
        self.commands = StdinCommands(self.eof.set, fd=self.read_fd)

    def send(self, data: bytes) -> None:
        os.write(self.write_fd, data)

    def close(self) -> None:
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    p = Pipe()
    yield p
    p.close()


def _await(exchange: Path, pipe: Pipe, seconds: float = 5.0) -> tuple[AwaitApply, list[rp.RunResult], list[str]]:
    delivered: list[rp.RunResult] = []
    said: list[str] = []
    return AwaitApply(exchange, PLAN, pipe.commands, seconds, delivered.append, said.append), delivered, said


def _write_request(exchange: Path, **fields: object) -> rp.RunRequest:
    base: dict[str, object] = {"operation": rp.APPLY, "plan_id": "plan-1"}
    base.update(fields)
    request = rp.RunRequest(**{**PLAN.__dict__, **base})  # type: ignore[arg-type]
    (exchange / rp.REQUEST_FILE).write_text(json.dumps(request.to_dict()))
    return request


def test_lines_are_read_whole_and_the_end_stops_the_run(pipe: Pipe) -> None:
    pipe.send(b"ap")
    pipe.send(b"ply\nsecond\n")
    assert pipe.commands.next(5) == "apply"
    assert pipe.commands.next(5) == "second"
    assert pipe.commands.next(0.05) is None and not pipe.eof.is_set()  # a timeout is no end
    pipe.close()
    assert pipe.commands.next(5) is None
    assert pipe.eof.wait(5), "stdin's end stops the run in flight"


def test_the_apply_of_the_same_run_is_handed_over_after_the_plans_result(tmp_path: Path, pipe: Pipe) -> None:
    follow, delivered, _ = _await(tmp_path, pipe)
    want = _write_request(tmp_path)
    pipe.send(b"apply\n")
    assert follow(PLANNED) == want
    assert delivered == [PLANNED] and follow.delivered is PLANNED


@pytest.mark.parametrize("case", ["eof", "timeout", "other-line", "no-request", "bad-request", "other-run",
                                  "not-an-apply"])
def test_anything_else_ends_the_runner_without_applying(tmp_path: Path, pipe: Pipe, case: str) -> None:
    follow, delivered, said = _await(tmp_path, pipe, seconds=0.2 if case == "timeout" else 5.0)
    if case == "other-run":
        _write_request(tmp_path, run_id="run-2")
    elif case == "not-an-apply":
        _write_request(tmp_path, operation=rp.FORCE_UNLOCK, lock_id="l", plan_id="")
    elif case == "bad-request":
        (tmp_path / rp.REQUEST_FILE).write_text("{not json")
    elif case != "no-request":
        _write_request(tmp_path)
    if case == "eof":
        pipe.close()
    elif case == "other-line":
        pipe.send(b"destroy\n")
    elif case != "timeout":
        pipe.send(b"apply\n")
    assert follow(PLANNED) is None
    assert delivered == [PLANNED], "the plan's result is delivered whatever follows"
    assert said and said[-1].endswith("ending")
