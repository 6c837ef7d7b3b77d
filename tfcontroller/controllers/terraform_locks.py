"""Telling a state lock left by a dead run of ours from one held by a live run (design.md §4.4).

Terraform's lock info says only `Who = user@host`, which a user's own `terraform apply` on the same
machine shares. So before a run that may take the lock, the controller records a *run record* in the
object's status (`status.run`: controller instance id, pid, host, a random marker, start time); the
final status patch of every reconcile removes it. A record that survives means the reconcile that wrote
it never finished. The marker is also put into the Terraform process's environment
(`TFCONTROLLER_RUN`), so on the same host `/proc` tells whether any process of that run (an orphaned
`terraform apply` outliving a killed controller) is still running.

A lock is released automatically only when all of these hold (`is_dead_run_lock`, pure):
the record exists and is not this process's own run in flight, the lock was created after the record's
start on the record's host, and the run is gone (same host: neither the controller pid nor
any process carrying the marker is alive; another host: only with leader election, which guarantees
the old instance no longer works).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfcontroller.api.conditions import rfc3339
from tfcontroller.terraform.errors import LockInfo

RUN_ENV = "TFCONTROLLER_RUN"
STATUS_FIELD = "run"


@dataclass(frozen=True)
class RunRecord:
    instance: str
    pid: int
    host: str
    marker: str
    started_at: str
    operation: str = ""

    @classmethod
    def new(cls, instance: str, operation: str) -> RunRecord:
        return cls(instance, os.getpid(), socket.gethostname(), secrets.token_hex(8), rfc3339(), operation)

    def to_status(self) -> dict[str, Any]:
        return {"instance": self.instance, "pid": self.pid, "host": self.host, "marker": self.marker,
                "startedAt": self.started_at, "operation": self.operation}

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> RunRecord | None:
        run = status.get(STATUS_FIELD)
        if not isinstance(run, Mapping) or not run.get("marker"):
            return None
        return cls(str(run.get("instance", "")), int(run.get("pid") or 0), str(run.get("host", "")),
                   str(run["marker"]), str(run.get("startedAt", "")), str(run.get("operation", "")))


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1].split()[0] != "Z"  # a zombie is dead
    except (OSError, IndexError):
        return True


def marker_alive(marker: str, proc: Path = Path("/proc")) -> bool:
    """Whether any process visible to us carries `TFCONTROLLER_RUN=<marker>` in its environment."""
    needle = f"{RUN_ENV}={marker}".encode()
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0") and pid_alive(int(entry.name)):
            return True
    return False


def _parse_time(text: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        # Terraform writes Go's time.String()-like RFC 3339 with nanoseconds; keep to seconds
        try:
            value = dt.datetime.fromisoformat(text[:19] + "+00:00")
        except ValueError:
            return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def is_dead_run_lock(
    record: RunRecord | None,
    lock: LockInfo,
    *,
    own_instance: str,
    own_host: str,
    in_flight_markers: set[str],
    run_alive: bool,
    leader_elected: bool,
) -> bool:
    """Pure decision: may this lock be released as left behind by a dead run of ours?"""
    if record is None or record.marker in in_flight_markers:
        return False
    if lock.who and lock.who.rpartition("@")[2] != record.host:
        return False  # taken on another machine than our run's
    created, started = _parse_time(lock.created), _parse_time(record.started_at)
    if created is not None and started is not None and created < started - dt.timedelta(seconds=2):
        return False  # the lock predates our run: someone else's
    if record.host == own_host:
        return not run_alive
    return leader_elected and record.instance != own_instance
