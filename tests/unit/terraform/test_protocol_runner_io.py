"""What the controller reads from a local run's outbox, which the module's code can write
(terraform/protocol_runner.py): `read_untrusted` never follows a link, never blocks (a FIFO would hold a
worker in open(2) forever), takes only a regular file within its bound; `hand_over_allowed` hands a held
runner its apply only while the plan is fresh and the run's token outlives the apply's bound. Pure or
plain file-system: no runner started here (tests/integration/runner/test_held_runner.py does)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tfcontroller.terraform.config import Timeouts
from tfcontroller.terraform.protocol_runner import (
    TOKEN_MARGIN,
    UntrustedFileError,
    apply_seconds,
    hand_over_allowed,
    read_untrusted,
)


def test_a_regular_file_within_its_bound_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(b"x" * 3000)
    assert read_untrusted(path, 3000) == b"x" * 3000


@pytest.mark.parametrize("kind", ["fifo", "fifo-with-writer", "symlink", "symlink-to-fifo", "directory", "too-large",
                                  "missing", "dangling-symlink"])
def test_anything_else_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "result.json"
    target = tmp_path / "elsewhere"
    target.write_text('{"secret": "of the controller"}')
    holder = None
    if kind.startswith("fifo"):
        os.mkfifo(path)
        if kind == "fifo-with-writer":
            holder = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    elif kind == "symlink":
        path.symlink_to(target)
    elif kind == "symlink-to-fifo":
        os.mkfifo(tmp_path / "fifo")
        path.symlink_to(tmp_path / "fifo")
    elif kind == "dangling-symlink":
        path.symlink_to(tmp_path / "nothing")
    elif kind == "directory":
        path.mkdir()
    elif kind == "too-large":
        path.write_bytes(b"x" * 1001)
    outcome: list[BaseException | bytes] = []

    def read() -> None:
        try:
            outcome.append(read_untrusted(path, 1000))
        except (OSError, ValueError) as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)  # the bound of the test only: read_untrusted never blocks
    if holder is not None:
        os.close(holder)
    assert not reader.is_alive(), f"reading a {kind} blocked"
    assert len(outcome) == 1 and isinstance(outcome[0], (OSError, UntrustedFileError)), outcome
    if kind in ("fifo", "fifo-with-writer", "directory", "too-large"):
        assert isinstance(outcome[0], UntrustedFileError)


TIMEOUTS = Timeouts(init=300, plan=300, apply=300, short=120, grace=30)
APPLY = apply_seconds(TIMEOUTS)


def test_the_apply_bound_covers_the_apply_its_output_fallback_and_their_graces() -> None:
    assert APPLY == 300 + 120 + 2 * 30


@pytest.mark.parametrize(("now", "token_seconds", "allowed"), [
    (10.0, None, True),  # no expiry (the controller's own credential)
    (10.0, 3000.0, True),  # plenty left
    (50.0, 3000.0, False),  # the plan is older than the hand-over window
    (10.0, APPLY + TOKEN_MARGIN + 10.0 - 1, False),  # a second short: a fresh apply run, with a fresh token
    (10.0, APPLY + TOKEN_MARGIN + 10.0, True),  # exactly enough
    (10.0, 500.0, False),  # a short token, a long apply: not enough
])
def test_a_held_runner_is_handed_its_apply_only_while_fresh_and_its_token_outlives_the_apply(
    now: float, token_seconds: float | None, allowed: bool
) -> None:
    assert hand_over_allowed(now=now, result_at=0.0, within=45.0, token_at=0.0, token_seconds=token_seconds,
                             apply_seconds=APPLY) is allowed


def test_a_run_that_spent_its_token_on_init_and_plan_gets_a_fresh_apply_run() -> None:
    """The scenario of the review: a slow init and plan (each near spec.timeout) on a token sized for one
    run (credentials.token_seconds: 3 × (T + grace) + 60): the apply would outlive the token."""
    from tfcontroller.controllers.terraform.credentials import token_seconds

    timeouts = Timeouts().bounded_by(1200)
    seconds = token_seconds(1200, timeouts.grace)
    spent = 2 * (1200 + timeouts.grace) + 40  # init, plan, show and the controller's steps
    assert not hand_over_allowed(now=spent, result_at=spent - 5, within=45.0, token_at=0.0,
                                 token_seconds=seconds, apply_seconds=apply_seconds(timeouts))
    assert hand_over_allowed(now=60, result_at=55, within=45.0, token_at=0.0, token_seconds=seconds,
                             apply_seconds=apply_seconds(timeouts))


def test_a_run_is_bounded_by_its_commands_bounds_and_a_start_margin() -> None:
    from tfcontroller.terraform.protocol_runner import RUN_START_MARGIN, run_bound

    assert run_bound(TIMEOUTS) == 300 + 300 + 2 * 120 + 4 * 30 + RUN_START_MARGIN
    longer = Timeouts(init=300, plan=300, apply=900, short=120, grace=30)
    assert run_bound(longer) == run_bound(TIMEOUTS) + 600  # the longer of plan and apply


def test_a_held_plans_result_must_be_the_one_its_runner_announced(tmp_path: Path) -> None:
    """The runner announces the sha256 of its result on its status pipe (a channel the module cannot write);
    a result.json with other bytes (the module's) is refused, the announced one is read."""
    import hashlib
    import json

    from tfcontroller.api import run_protocol as rp
    from tfcontroller.terraform.protocol_runner import _read_result

    genuine = json.dumps(rp.RunResult("run-1", rp.PLAN, rp.SUCCEEDED, "PlanGenerated").to_dict()).encode()
    path = tmp_path / "result.json"
    path.write_bytes(genuine)
    assert isinstance(_read_result(path, hashlib.sha256(genuine).hexdigest()), rp.RunResult)
    forged = genuine.replace(b"run-1", b"run-1 ")
    path.write_bytes(forged)
    refused = _read_result(path, hashlib.sha256(genuine).hexdigest())
    assert isinstance(refused, UntrustedFileError) and "announced" in str(refused)
