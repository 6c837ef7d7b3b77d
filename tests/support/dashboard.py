"""`tfcontroller dashboard` as a process, for the browser tests and the demo's: started on a free loopback
port with its output in a log file, its URL read from what it prints (local mode: the URL with the one-time
login token, as a person copies it), stopped with SIGTERM (then SIGKILL) by its PID.

Also what a test needs to act beside the browser with the browser's own session: a `requests.Session`
carrying the browser's cookies (`session_of`), so that a forged POST is exactly what the viewer's browser
could send.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tests.support.processes import stop_process

SERVING = re.compile(r"Starting to serve on (https?://[^\s/]+)(/\S*)")  # what `tfcontroller dashboard` prints


class DashboardProcess:
    """`python -m tfcontroller dashboard --kubeconfig K --port 0 <extra>` (a free port, chosen by the
    server); `url` is the URL it prints ("Starting to serve on …": in local mode with the one-time login
    token), `base` the server's root URL without a path."""

    def __init__(self, kubeconfig: str, log_path: Path, *extra: str) -> None:
        self.log_path = log_path
        self.args = [sys.executable, "-m", "tfcontroller", "dashboard", "--kubeconfig", kubeconfig,
                     "--address", "127.0.0.1", "--port", "0", *extra]
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(REPO_ROOT))
        self.url = ""
        self.base = ""

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 60.0) -> str:
        """The URL it printed, once its server answers; fails with its output when it exits first."""

        def printed() -> re.Match[str] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"the dashboard exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            return SERVING.search(self.output())

        found = wait_for(printed, timeout, "the dashboard to print its URL", interval=0.1)
        self.base, self.url = found.group(1), found.group(1) + found.group(2)

        def answers() -> bool:
            try:
                requests.get(self.base + "/healthz", timeout=2)
            except requests.ConnectionError:
                return False
            return True

        wait_for(answers, timeout, "the dashboard to answer", interval=0.1)
        return self.url

    def stop(self, timeout: float = 15.0) -> int:
        return stop_process(self.proc, self._log, timeout=timeout)


def session_of(driver: Any, base: str) -> requests.Session:
    """A requests session holding the browser's cookies for `base` (the viewer's session, nothing more)."""
    session = requests.Session()
    session.trust_env = False
    host = urlsplit(base).hostname or "127.0.0.1"
    for cookie in driver.get_cookies():
        session.cookies.set(cookie["name"], cookie["value"], domain=cookie.get("domain") or host,
                            path=cookie.get("path") or "/")
    return session
