"""Container logs: one file per container run in the CRI format a kubelet keeps
(`<RFC3339Nano> stdout F <line>`), and their reading for the `pods/log` subresource (tailLines,
sinceSeconds/sinceTime, timestamps, follow).

The files live in the node's state directory (mode 0700, never bound into a sandbox), so they survive
the container's exit (`kubectl logs --previous` reads the run before the last restart) and are removed
with the Pod.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO


def _stamp() -> str:
    now = time.time_ns()
    seconds, nanos = divmod(now, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


class LogWriter:
    """Copies a container's output pipe into its log file, line by line with a timestamp."""

    def __init__(self, pipe: IO[bytes], path: Path) -> None:
        self.pipe = pipe
        self.path = path
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"log-{path.parent.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            with open(self.path, "ab", buffering=0) as out:
                for line in iter(self.pipe.readline, b""):
                    full = line.endswith(b"\n")
                    text = line[:-1] if full else line
                    tag = "F" if full else "P"  # a partial line (no newline at the end) is shown without one
                    out.write(f"{_stamp()} stdout {tag} ".encode() + text + b"\n")
        except (OSError, ValueError):
            pass
        finally:
            try:
                self.pipe.close()
            except OSError:
                pass
            self.done.set()


def _parse(raw: bytes) -> tuple[str, bytes]:
    """(timestamp, content with its newline unless the line was partial) of one stored line."""
    parts = raw.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 4:
        return "", raw.rstrip(b"\n") + b"\n"
    return parts[0].decode(), parts[3] + (b"" if parts[2] == b"P" else b"\n")


def _since_ok(stamp: str, since: datetime | None) -> bool:
    if since is None or not stamp:
        return True
    try:
        when = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return True
    return when >= since.replace(microsecond=0)


def _render(stamp: str, content: bytes, timestamps: bool) -> bytes:
    return (stamp.encode() + b" " if timestamps else b"") + content


def read_log(path: Path, tail: int | None = None, since: datetime | None = None, timestamps: bool = False) -> bytes:
    """The log as `kubectl logs` shows it (without following)."""
    if not path.exists():
        return b""
    return render(path.read_bytes(), tail, since, timestamps)


def render(data: bytes, tail: int | None = None, since: datetime | None = None, timestamps: bool = False) -> bytes:
    """Stored log lines as `kubectl logs` shows them."""
    lines = [_parse(raw) for raw in data.splitlines(keepends=True)]
    lines = [(s, c) for s, c in lines if _since_ok(s, since)]
    if tail is not None and tail >= 0:
        lines = lines[-tail:] if tail else []
    return b"".join(_render(s, c, timestamps) for s, c in lines)


def follow_log(path: Path, finished: Callable[[], bool], stop: Callable[[], bool], tail: int | None = None,
               since: datetime | None = None, timestamps: bool = False, interval: float = 0.05) -> Iterator[bytes]:
    """The log so far, then new lines as the container writes them, until it has finished (and
    everything written is sent) or the server stops."""
    data = path.read_bytes() if path.exists() else b""
    offset = len(data)  # taken with the same read, so that nothing written meanwhile is lost
    first = render(data, tail, since, timestamps)
    if first:
        yield first
    pending = b""
    while True:
        done = finished()  # read after checking, so the last lines are never missed
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            offset += len(chunk)
            pending += chunk
            complete, _, pending = pending.rpartition(b"\n")
            if complete:
                lines = [_parse(raw) for raw in (complete + b"\n").splitlines(keepends=True)]
                yield b"".join(_render(s, c, timestamps) for s, c in lines if _since_ok(s, since))
        if (done and not chunk) or stop():
            return
        time.sleep(interval)


def log_path(root: Path, container: str, restart_count: int) -> Path:
    """The file of one run of a container: `<pod dir>/logs/<container>/<restartCount>.log`."""
    directory = root / "logs" / container
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    return directory / f"{restart_count}.log"
