"""One run of one container: the sandboxed process (sandbox.py), its memory cgroup, its log writer,
stopping it (SIGTERM to its process group, SIGKILL after the grace period) and how it ended.

The memory limit is a cgroup v1 memory cgroup per run (the kernel's OOM killer ends the container with
SIGKILL → exit 137, reason OOMKilled, read from `memory.oom_control`). Where cgroups cannot be written
the run falls back to RLIMIT_AS through util-linux's `prlimit` (allocations fail instead; an exit
status 137 is then the only sign) and the node logs that once.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tfcontroller.dev.cluster.node.logs import LogWriter
from tfcontroller.dev.cluster.node.sandbox import MemoryCgroup, SandboxSpec, bwrap_argv, env_args

log = logging.getLogger(__name__)
_CGROUPS: bool | None = None


def cgroups_usable() -> bool:
    global _CGROUPS
    if _CGROUPS is None:
        _CGROUPS = MemoryCgroup.usable()
        if not _CGROUPS:
            log.warning("memory cgroups are not writable: memory limits fall back to RLIMIT_AS")
    return _CGROUPS


@dataclass(frozen=True)
class Exit:
    exit_code: int
    reason: str  # Completed | Error | OOMKilled
    signal: int = 0


def exit_reason(code: int, oom: bool) -> str:
    """The kubelet's terminated reason for an exit status."""
    if oom:
        return "OOMKilled"
    return "Completed" if code == 0 else "Error"


class ContainerRun:
    def __init__(self, spec: SandboxSpec, log_file: Path, memory_limit: int | None, cgroup_name: str) -> None:
        self.spec = spec
        self.log_file = log_file
        self.memory_limit = memory_limit
        self.cgroup = MemoryCgroup(cgroup_name, memory_limit) if memory_limit else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.child_pid = 0  # host pid of the container's PID 1
        self.writer: LogWriter | None = None
        self.exit: Exit | None = None
        self.killed = False

    def start(self) -> None:
        read_fd, write_fd = os.pipe()
        env_fd = os.memfd_create("container-env", 0)  # not inheritable until pass_fds says so
        os.write(env_fd, env_args(self.spec.env))
        os.lseek(env_fd, 0, os.SEEK_SET)
        argv = bwrap_argv(self.spec, info_fd=write_fd, env_fd=env_fd)
        if self.cgroup is not None and cgroups_usable():
            self.cgroup.create()
            argv = ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.cgroup.path), *argv]
        elif self.memory_limit:
            self.cgroup = None
            argv = ["prlimit", f"--as={self.memory_limit}", "--", *argv]
        mount_fds = tuple(m.fd for m in self.spec.mounts if m.fd is not None)
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, pass_fds=(write_fd, env_fd, *mount_fds),
                                         start_new_session=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        finally:
            os.close(write_fd)
            os.close(env_fd)
        assert self.proc.stdout is not None
        self.writer = LogWriter(self.proc.stdout, self.log_file)
        self.writer.start()
        self.child_pid = _read_child_pid(read_fd)

    def poll(self) -> Exit | None:
        if self.exit is not None:
            return self.exit
        if self.proc is None or self.proc.poll() is None:
            return None
        code = self.proc.returncode
        if code < 0:  # the outer bwrap itself was signalled
            code = 128 - code
        oom = self.cgroup is not None and self.cgroup.oom_killed()
        if self.writer is not None:
            self.writer.join(2)
        if self.cgroup is not None:
            self.cgroup.remove()
        self.exit = Exit(137 if oom else code, exit_reason(code, oom))
        return self.exit

    def terminate(self, grace: float) -> Exit:
        """SIGTERM to the container's process group, SIGKILL to the whole sandbox after `grace` seconds."""
        self.killed = True
        if self.poll() is not None:
            return self.exit  # type: ignore[return-value]
        if self.child_pid:
            _signal_group(self.child_pid, signal.SIGTERM)
        deadline = time.monotonic() + max(grace, 0)
        while time.monotonic() < deadline and self.poll() is None:
            time.sleep(0.02)
        if self.poll() is None:
            self.kill()
        assert self.proc is not None
        self.proc.wait()
        result = self.poll()
        assert result is not None
        return result

    def kill(self) -> None:
        """SIGKILL the container's PID 1 (the kernel then kills its whole PID namespace) and bwrap."""
        for pid in (self.child_pid, self.proc.pid if self.proc else 0):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _read_child_pid(fd: int) -> int:
    data = b""
    try:
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    try:
        return int(json.loads(data.decode())["child-pid"])
    except (ValueError, KeyError):
        return 0  # bwrap failed before starting the container; its message is in the log
