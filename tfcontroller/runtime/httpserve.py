"""A tiny HTTP server for /healthz, /readyz and /metrics (stdlib, one thread per request).

Kept separate from the artifact server: probes must answer even when artifact serving is busy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tfcontroller.api.addresses import parse_addr

__all__ = ["HttpEndpoints", "Route", "parse_addr"]  # parse_addr: its old home, kept for importers

log = logging.getLogger(__name__)

Route = Callable[[], tuple[int, str, bytes]]  # -> (status, content type, body)


class HttpEndpoints:
    def __init__(self, addr: str, routes: dict[str, Route]) -> None:
        self.routes = routes
        routes_ref = routes

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                route = routes_ref.get(self.path.split("?", 1)[0])
                if route is None:
                    status, ctype, body = 404, "text/plain", b"not found\n"
                else:
                    try:
                        status, ctype, body = route()
                    except Exception:  # noqa: BLE001
                        log.exception("endpoint %s failed", self.path)
                        status, ctype, body = 500, "text/plain", b"error\n"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(parse_addr(addr), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"http-{addr}", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
