"""The controller's word to a held local runner (runner/commands.py, issue 21): only the line
`apply <plan sha256> <request sha256>`, received after the plan's result was written, whose digests are
those of the inbox's plan.in and request.json, whose plan is the plan this runner made, and a request
that is an apply of the same run hand an apply over. Stdin's end, a timeout, another line, a line that
came before the result, a swapped request or plan, a plan other than the runner's own, another run's or
operation's request all end the runner without applying. The plan's result is delivered first."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tfcontroller.api import run_protocol as rp
from tfcontroller.runner.commands import AwaitApply, StdinCommands

DIGEST = "sha256:" + "a" * 64
PLAN = rp.RunRequest(run_id="run-1", operation=rp.PLAN, namespace="ns", name="web", artifact_url="file:///a",
                     artifact_digest=DIGEST)
PLAN_BYTES = b"the runner's own plan"
OWN = hashlib.sha256(PLAN_BYTES).hexdigest()
PLANNED = rp.RunResult("run-1", rp.PLAN, rp.SUCCEEDED, "PlanGenerated",
                       plan=rp.PlanSummary(True, 1, digest=f"sha256:{OWN}"))


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


def _await(inbox: Path, pipe: Pipe, seconds: float = 5.0, then: Callable[[], None] = lambda: None,
           ) -> tuple[AwaitApply, list[rp.RunResult], list[str]]:
    """`then` runs once the result is delivered: what the controller (or anyone else) does after it."""
    delivered: list[rp.RunResult] = []
    said: list[str] = []

    def deliver(result: rp.RunResult) -> None:
        delivered.append(result)
        then()

    return AwaitApply(inbox, PLAN, pipe.commands, seconds, deliver, said.append), delivered, said


def _write_request(inbox: Path, plan: bytes = PLAN_BYTES, **fields: object) -> tuple[rp.RunRequest, bytes]:
    base: dict[str, object] = {"operation": rp.APPLY, "plan_id": "plan-1"}
    base.update(fields)
    request = rp.RunRequest(**{**PLAN.__dict__, **base})  # type: ignore[arg-type]
    data = json.dumps(request.to_dict()).encode()
    (inbox / rp.REQUEST_FILE).write_bytes(data)
    (inbox / rp.PLAN_IN_FILE).write_bytes(plan)
    return request, data


def _line(plan: bytes, request: bytes) -> bytes:
    return (rp.hand_over_line(hashlib.sha256(plan).hexdigest(), hashlib.sha256(request).hexdigest()) + "\n").encode()


def test_lines_are_read_whole_and_the_end_stops_the_run(pipe: Pipe) -> None:
    pipe.send(b"ap")
    pipe.send(b"ply\nsecond\n")
    assert pipe.commands.next(5) == "apply"
    assert pipe.commands.next(5) == "second"
    assert pipe.commands.next(0.05) is None and not pipe.eof.is_set()  # a timeout is no end
    pipe.close()
    assert pipe.commands.next(5) is None
    assert pipe.eof.wait(5), "stdin's end stops the run in flight"


def test_lines_received_before_ignore_received_are_dropped_but_not_the_end(pipe: Pipe) -> None:
    pipe.send(b"early\n")
    pipe.send(b"earlier\n")
    assert _received(pipe, 2)
    pipe.commands.ignore_received()
    pipe.send(b"late\n")
    assert pipe.commands.next(5) == "late"
    pipe.send(b"x\n")
    pipe.close()
    assert pipe.eof.wait(5)
    pipe.commands.ignore_received()  # "x" is dropped, the end is not
    assert pipe.commands.next(5) is None, "stdin's end is never dropped"


def _received(pipe: Pipe, count: int) -> bool:
    from tests.support.polling import wait_for

    wait_for(lambda: pipe.commands._received >= count, timeout=5, what="lines read")
    return True


def test_the_apply_of_the_same_run_is_handed_over_after_the_plans_result(tmp_path: Path, pipe: Pipe) -> None:
    want, data = _write_request(tmp_path)
    follow, delivered, _ = _await(tmp_path, pipe, then=lambda: pipe.send(_line(PLAN_BYTES, data)))
    assert follow(PLANNED) == want
    assert delivered == [PLANNED] and follow.delivered is PLANNED


@pytest.mark.parametrize("case", ["eof", "timeout", "other-line", "bare-apply", "no-request", "bad-request",
                                  "other-run", "not-an-apply", "early-line", "request-swapped", "plan-swapped",
                                  "not-own-plan", "line-names-other-plan"])
def test_anything_else_ends_the_runner_without_applying(tmp_path: Path, pipe: Pipe, case: str) -> None:
    plan, data = PLAN_BYTES, b""
    if case == "other-run":
        _, data = _write_request(tmp_path, run_id="run-2")
    elif case == "not-an-apply":
        _, data = _write_request(tmp_path, operation=rp.FORCE_UNLOCK, lock_id="l", plan_id="")
    elif case == "bad-request":
        data = b"{not json"
        (tmp_path / rp.REQUEST_FILE).write_bytes(data)
        (tmp_path / rp.PLAN_IN_FILE).write_bytes(plan)
    elif case == "not-own-plan":  # the controller's plan (and the line) are consistent, but not the runner's
        plan = b"a plan some other process made"
        _, data = _write_request(tmp_path, plan=plan)
    elif case != "no-request":
        _, data = _write_request(tmp_path)
    line = _line(plan, data)
    if case == "early-line":  # a forged line, queued before the plan's result existed
        pipe.send(line)
        assert _received(pipe, 1)
    then: Callable[[], None] = lambda: None  # noqa: E731
    if case == "eof":
        then = pipe.close
    elif case == "other-line":
        then = lambda: pipe.send(b"destroy\n")  # noqa: E731
    elif case == "bare-apply":
        then = lambda: pipe.send(b"apply\n")  # noqa: E731
    elif case == "request-swapped":  # after the controller wrote them, something else rewrote the request
        then = lambda: (pipe.send(line), (tmp_path / rp.REQUEST_FILE).write_bytes(data.replace(b"plan-1", b"plan-2")))  # noqa: E731
    elif case == "plan-swapped":
        then = lambda: (pipe.send(line), (tmp_path / rp.PLAN_IN_FILE).write_bytes(b"another plan"))  # noqa: E731
    elif case == "line-names-other-plan":
        then = lambda: pipe.send(_line(b"another plan", data))  # noqa: E731
    elif case not in ("timeout", "early-line"):
        then = lambda: pipe.send(line)  # noqa: E731
    follow, delivered, said = _await(tmp_path, pipe, seconds=0.2 if case in ("timeout", "early-line") else 5.0,
                                     then=then)
    assert follow(PLANNED) is None
    assert delivered == [PLANNED], "the plan's result is delivered whatever follows"
    assert said and said[-1].endswith("ending")


def test_hand_over_lines_parse_only_in_their_one_form() -> None:
    plan, request = "a" * 64, "b" * 64
    assert rp.hand_over_digests(rp.hand_over_line(plan, request)) == (plan, request)
    for line in ["apply", f"apply {plan}", f"apply {plan} {request} x", f"apply {plan.upper()} {request}",
                 f"destroy {plan} {request}", f"apply  {plan} {request}", f"apply {plan[:-1]} {request}"]:
        assert rp.hand_over_digests(line) is None, line


def test_the_runner_process_is_not_dumpable() -> None:
    """make_undumpable holds for the process (so /proc/<runner>/fd/0 is closed to same-uid code without
    CAP_SYS_PTRACE; tests/integration/runner/test_held_runner.py checks it inside the sandbox)."""
    code = ("from tfcontroller.runner.commands import dumpable, make_undumpable; "
            "before = dumpable(); print(before, make_undumpable(), dumpable())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ})
    assert done.stdout.split() == ["True", "True", "False"]
