"""Coordination between a test and the Terraform runs it starts, over the host network.

A run is sandboxed (local mode: its own mount namespace, the test's directories invisible) or a Pod on the
dev node (host network, no host paths), so a module cannot touch a file of the test's to say "I hold the
lock now" and cannot see a file the test touches to say "go on". Both reach 127.0.0.1, so one small HTTP
server does it, for every test (fixture `holds`, tests/fixtures/terraform.py):

- a *hold* (`holds.new()`): the module `curl`s `<url>/started`, polls `<url>/release` until it answers 200,
  then `curl`s `<url>/done`; the test waits on `hold.started()`, calls `hold.release()`, reads `hold.done()`
  (how many runs completed) — HOLD_TF in terraform_helpers.py;
- a *counter* (`holds.counter()`): a wrapper around the real terraform posts each command's name, so a test
  can say "no `terraform init` ran" of a run in any mode (`CountingTerraform`). With `observe`, the server
  calls it before answering and keeps what it returned beside the name: the wrapper waits for the answer,
  so the observation is of the moment the command starts (what the cluster says then, read by the test's
  own client, which the run cannot reach).
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


class Hold:
    """One hold point: `url` goes into the module's `hold` variable."""

    def __init__(self, server: HoldServer, key: str) -> None:
        self._server = server
        self.key = key
        self.url = f"{server.url}/hold/{key}"

    def started(self) -> bool:
        return self._server.seen(self.key, "started") > 0

    def release(self) -> None:
        self._server.mark(self.key, "released")

    def done(self) -> int:
        """How many runs got past the hold (completed the provisioner)."""
        return self._server.seen(self.key, "done")

    def __str__(self) -> str:  # so `{"name": "hold", "value": str(hold)}` reads as before
        return self.url


class Counter:
    """The names a wrapper script posted, in order (`<url>/<name>`), with the observations made then."""

    def __init__(self, server: HoldServer, key: str) -> None:
        self._server = server
        self.key = key
        self.url = f"{server.url}/count/{key}"

    def names(self) -> list[str]:
        return [name for name, _ in self._server.records(self.key)]

    def records(self) -> list[tuple[str, Any]]:
        return self._server.records(self.key)


class _Server(ThreadingHTTPServer):
    """A listen backlog for a busy test worker: held modules poll `release` ten times a second, and with
    http.server's default backlog of 5 a GIL-starved accept loop let the kernel drop new connections, so a
    count or a `started` mark (sent once, with a time limit) could be lost under load (seen in CI
    rehearsals at load 7-14: Terraform commands missing from counts, holds never marked started)."""

    request_queue_size = 256


class HoldServer:
    """HTTP on 127.0.0.1, one per test session. GET `/hold/K/started|done` records, GET `/hold/K/release`
    answers 200 once released (404 before); POST or GET `/count/K/NAME` appends NAME."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marks: dict[tuple[str, str], int] = defaultdict(int)
        self._names: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        self._observers: dict[str, Callable[[], Any]] = {}
        self._ids = itertools.count(1)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self.send_response(owner.answer(self.path))
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        self._http = _Server(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, name="hold-server", daemon=True)
        self._thread.start()

    def new(self) -> Hold:
        return Hold(self, f"h{next(self._ids)}")

    def counter(self, observe: Callable[[], Any] | None = None) -> Counter:
        counter = Counter(self, f"c{next(self._ids)}")
        if observe is not None:
            self._observers[counter.key] = observe
        return counter

    def answer(self, path: str) -> int:
        parts = path.strip("/").split("/")
        with self._lock:
            if len(parts) == 3 and parts[0] == "hold":
                _, key, what = parts
                if what == "release":
                    return 200 if self._marks[(key, "released")] else 404
                self._marks[(key, what)] += 1
                return 200
            observe = self._observers.get(parts[1]) if len(parts) == 3 and parts[0] == "count" else None
        if len(parts) == 3 and parts[0] == "count":
            seen = observe() if observe is not None else None  # outside the lock: it may take a while
            with self._lock:
                self._names[parts[1]].append((unquote(parts[2]), seen))
            return 200
        return 400

    def mark(self, key: str, what: str) -> None:
        with self._lock:
            self._marks[(key, what)] += 1

    def seen(self, key: str, what: str) -> int:
        with self._lock:
            return self._marks[(key, what)]

    def records(self, key: str) -> list[tuple[str, Any]]:
        with self._lock:
            return list(self._names[key])

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
