"""Termination messages as the kubelet makes them: the file a container writes at
`terminationMessagePath` (default /dev/termination-log), or — with `terminationMessagePolicy:
FallbackToLogsOnError`, an empty file and a failed container — the tail of its log; then the status
manager's cap on the whole Pod. The limits are the kubelet's (pkg/kubelet/container/runtime.go and
status_manager.go's normalizeStatus):

- the file: its last 4096 bytes (MaxContainerTerminationMessageLength; the kubelet reads the tail);
- the log fallback: the last 80 lines (MaxContainerTerminationMessageLogLines), of which the last 2048
  bytes (MaxContainerTerminationMessageLogLength);
- the Pod: 12 KiB (MaxPodTerminationMessageLogLength) shared equally by its containers and init
  containers, each message cut to its first `12288 // n` bytes, in `state` and `lastState`.

Pure but for `read_message_file`; unit-tested in tests/unit/dev/cluster/node/test_termination.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

Obj = dict[str, Any]
DEFAULT_PATH = "/dev/termination-log"
FILE = "File"
FALLBACK_TO_LOGS = "FallbackToLogsOnError"
MAX_MESSAGE = 4096
MAX_LOG_BYTES = 2048
MAX_LOG_LINES = 80
MAX_POD_MESSAGES = 12 * 1024


def message_path(container: Obj) -> str:
    """Where the container writes its message (the API server's default when unset)."""
    return str(container.get("terminationMessagePath") or DEFAULT_PATH)


def read_message_file(path: Path) -> bytes:
    """The last MAX_MESSAGE bytes of the message file (b"" when it is missing)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - MAX_MESSAGE))
            return fh.read(MAX_MESSAGE)
    except OSError:
        return b""


def log_tail(rendered: bytes) -> bytes:
    """What the fallback takes from a log as `kubectl logs` renders it: the last 80 lines, then the
    last 2048 bytes of those."""
    lines = rendered.splitlines(keepends=True)[-MAX_LOG_LINES:]
    return b"".join(lines)[-MAX_LOG_BYTES:]


def termination_message(file_data: bytes, policy: str, exit_code: int, logs: bytes) -> str:
    """The message of a terminated container: the file's content; with FallbackToLogsOnError, when the
    file is empty and the container failed (exit code not 0), the log's tail (`logs`, already cut by
    `log_tail`) instead. Never the log on success, whatever the policy."""
    data = file_data[-MAX_MESSAGE:]
    if not data and policy == FALLBACK_TO_LOGS and exit_code != 0:
        data = logs[-MAX_LOG_BYTES:]
    return data.decode(errors="replace")


def cap_pod_messages(status: Obj, containers: int) -> Obj:
    """The status with every terminated message (state and lastState, containers and init containers)
    cut to its share of the Pod's 12 KiB: `12288 // containers` bytes each, as the status manager does.
    Returns a new dict; the input is not changed."""
    share = MAX_POD_MESSAGES // containers if containers > 0 else MAX_POD_MESSAGES
    out = dict(status)
    for key in ("containerStatuses", "initContainerStatuses"):
        if key in out:
            out[key] = [_cap_container(cs, share) for cs in out[key]]
    return out


def _cap_container(cs: Obj, share: int) -> Obj:
    cs = dict(cs)
    for key in ("state", "lastState"):
        terminated = (cs.get(key) or {}).get("terminated")
        if terminated and len(str(terminated.get("message", "")).encode()) > share:
            cut = str(terminated["message"]).encode()[:share].decode(errors="ignore")
            cs[key] = {"terminated": {**terminated, "message": cut}}
    return cs
