"""A loopback HTTP server that holds its callers until the test releases them: how a test makes a
Terraform provisioner or a Pod's script wait for it without host files (a sandboxed process sees none of
the test's) and without sleeping. `curl -sf URL` in the held process returns once `release()` is called."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

HOLD_LIMIT_SECONDS = 300  # a test that never releases still ends


class Hold:
    """`url` answers 200 once `release()` was called; `calls` counts the requests that arrived."""

    def __init__(self) -> None:
        released = self.released = threading.Event()
        arrived = self.arrived = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                arrived.set()
                released.wait(HOLD_LIMIT_SECONDS)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hold"
        threading.Thread(target=self.server.serve_forever, name="hold-server", daemon=True).start()

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
