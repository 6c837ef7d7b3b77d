"""Reading container logs as `kubectl logs` shows them: tail, since, timestamps, partial lines, follow."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from tfcontroller.dev.cluster.node import logs


def _write(path: Path) -> None:
    path.write_bytes(b"2026-01-01T00:00:00.000000001Z stdout F one\n"
                     b"2026-01-01T00:00:05.000000001Z stdout F two\n"
                     b"2026-01-01T00:00:09.000000001Z stdout P three\n")


def test_read_log_tail_since_timestamps_and_partial_lines(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    _write(path)
    assert logs.read_log(path) == b"one\ntwo\nthree"
    assert logs.read_log(path, tail=2) == b"two\nthree"
    assert logs.read_log(path, tail=0) == b""
    assert logs.read_log(path, since=datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)) == b"two\nthree"
    assert logs.read_log(path, tail=1, timestamps=True) == b"2026-01-01T00:00:09.000000001Z three"
    assert logs.read_log(tmp_path / "missing.log") == b""


def test_writer_stamps_lines_and_marks_a_last_partial_one(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    writer = logs.LogWriter(io.BytesIO(b"a\nb\nno-newline"), path)
    writer.start()
    writer.join(5)
    lines = path.read_bytes().splitlines()
    assert [line.split(b" ", 3)[2:] for line in lines] == [[b"F", b"a"], [b"F", b"b"], [b"P", b"no-newline"]]
    assert logs.read_log(path) == b"a\nb\nno-newline"


def test_follow_yields_what_exists_then_new_lines_until_finished(tmp_path: Path) -> None:
    path = tmp_path / "2.log"
    _write(path)
    state = {"done": False}
    stream = logs.follow_log(path, lambda: state["done"], lambda: False, interval=0.001)
    assert next(stream) == b"one\ntwo\nthree"
    with open(path, "ab") as fh:
        fh.write(b"2026-01-01T00:00:10.000000001Z stdout F four\n")
    state["done"] = True
    assert b"".join(stream) == b"four\n"
