"""Start and stop what the demo needs: each service is a context manager that stops what it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the clone: tfcontroller/dev/demo/services.py -> its root


class DemoError(Exception):
    """A step of the demo did not have the expected outcome."""


def _wait_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise DemoError(f"process exited with {proc.returncode} before printing {needle!r}")
            continue
        if needle in line:
            return line.strip()
    raise DemoError(f"timed out waiting for {needle!r}")


@dataclass
class Process:
    """A child process in its own process group, stopped with SIGTERM then SIGKILL."""

    argv: list[str]
    log_path: Path | None = None
    env: dict[str, str] | None = None
    proc: subprocess.Popen[str] | None = field(default=None, init=False)

    def start(self, ready_line: str | None = None, timeout: float = 60) -> str:
        if ready_line:
            self.proc = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                start_new_session=True, env=self.env,
            )
            line = _wait_line(self.proc, ready_line, timeout)
            # keep draining output into the log so the child never blocks on a full pipe
            log = open(self.log_path, "a") if self.log_path else open(os.devnull, "w")  # noqa: SIM115

            def drain() -> None:
                assert self.proc and self.proc.stdout
                for out in self.proc.stdout:
                    log.write(out)
                    log.flush()

            import threading

            threading.Thread(target=drain, daemon=True).start()
            return line
        log = open(self.log_path or os.devnull, "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=self.env
        )
        return ""

    def stop(self, grace: float = 15) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass


def tfcontroller_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tfcontroller", *args]


def run(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise DemoError(f"{' '.join(argv[:3])}… failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return proc


@dataclass
class Emulator:
    endpoint: str
    name: str


def start_emulator(port: int) -> Emulator:
    env = {**os.environ, "LOCALSTACK_PORT": str(port), "TFC_VENV": str(Path(sys.executable).parents[1])}
    proc = run(["bash", str(ROOT / "localstack" / "up.sh")], env=env, timeout=900)
    fields = dict(part.split("=", 1) for part in proc.stdout.split() if "=" in part)
    return Emulator(endpoint=fields.get("endpoint", f"http://127.0.0.1:{port}"), name=fields.get("emulator", "?"))


def stop_emulator(port: int) -> None:
    env = {**os.environ, "LOCALSTACK_PORT": str(port)}
    run(["bash", str(ROOT / "localstack" / "down.sh")], env=env, check=False, timeout=60)
