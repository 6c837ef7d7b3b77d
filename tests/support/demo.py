"""Run the demo (`python -m tfcontroller.dev.demo`, what `make demo` runs) as a person would: started in a
process group of its own, followed through its output, stopped with SIGINT, and checked for leftovers.

The demo's work dir must be short (Terraform's provider plugins put their sockets under it), so it lives
under /tmp and is removed by `Demo.cleanup`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for

_COUNTER = itertools.count()


def demo_workdir() -> Path:
    return Path("/tmp") / f"tfc-demo-{os.getpid()}-{next(_COUNTER)}"


def unreachable_endpoint() -> str:
    """An AWS endpoint nothing answers on: for runs that are stopped before Terraform needs AWS."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def leftovers(workdir: Path) -> list[str]:
    """Processes of the demo still alive: their command line or working directory names the work dir (the
    dev cluster, the controller, Terraform runs and their plugins). `pid:command` for the failure message."""
    root = str(workdir)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (root in cmd or cwd == root or cwd.startswith(root + "/")):
            found.append(f"{entry.name}:{cmd[:120]}")
    return found


def kill_leftovers(workdir: Path) -> None:
    """After a failed test: SIGKILL, by pid, what the demo of `workdir` left running (nothing else)."""
    for entry in leftovers(workdir):
        try:
            os.kill(int(entry.split(":", 1)[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class Demo:
    """One run of the demo module, output in `log`."""

    workdir: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.workdir.with_name(self.workdir.name + ".log")

    def start(self) -> Demo:
        env = {**os.environ, **self.env}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tfcontroller.dev.demo", "--workdir", str(self.workdir), *self.args],
                cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_output(self, text: str, timeout: float) -> None:
        def seen() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None and text not in self.output():
                raise AssertionError(f"the demo exited ({self.proc.returncode}) before printing {text!r}:\n"
                                     f"{self.output()[-4000:]}")
            return text in self.output()

        wait_for(seen, timeout=timeout, what=f"the demo to print {text!r}", interval=0.2)

    def interrupt(self, timeout: float = 90) -> int:
        """SIGINT to the demo's process group, as Ctrl-C in its terminal; returns the exit status."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout)

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        kill_leftovers(self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.log.unlink(missing_ok=True)
