"""The socket side: HTTP/1.1 with keep-alive, optional TLS, and chunked streaming for watches.

A thread per connection (ThreadingHTTPServer). Open connections are tracked so that `close()` can
cut them, which ends keep-alive readers and watch streams promptly instead of leaking threads.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tfcontroller.dev.cluster.router import (
    Request,
    Response,
    Router,
    StreamResponse,
    WatchResponse,
    request_headers,
)

log = logging.getLogger(__name__)


class ApiHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], router: Router, tls: ssl.SSLContext | None) -> None:
        self.router = router
        self.tls = tls
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        raw = request
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every response, which real API servers do not have.
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self._conns_lock:
            self._conns.add(raw)
        try:
            if self.tls is not None:
                try:
                    request = self.tls.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    self.shutdown_request(request)
                    return
                # wrap_socket detaches `raw` (its fd moves to the TLS socket): track the TLS socket, or
                # close_connections() could not cut this connection and a stopped server would keep serving it.
                with self._conns_lock:
                    self._conns.discard(raw)
                    self._conns.add(request)
            super().process_request_thread(request, client_address)
        finally:
            with self._conns_lock:
                self._conns.discard(raw)
                self._conns.discard(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._read_body()
        first, repeated = request_headers(self.headers.items())
        result = self.server.router.handle(Request(self.command, self.path, first, body, repeated))
        try:
            if isinstance(result, WatchResponse):
                self._stream(result)
            elif isinstance(result, StreamResponse):
                self._stream_text(result)
            else:
                self._send(result)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def _send(self, resp: Response) -> None:
        payload = resp.encoded()
        self.send_response(resp.code)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _stream(self, resp: WatchResponse) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        try:
            for event in resp.events:
                data = (event if isinstance(event, bytes) else json.dumps(event, separators=(",", ":")).encode()) + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        finally:
            close = getattr(resp.events, "close", None)
            if close is not None:
                close()

    def _stream_text(self, resp: StreamResponse) -> None:
        self.send_response(200)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        try:
            for data in resp.chunks:
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        finally:
            close = getattr(resp.chunks, "close", None)
            if close is not None:
                close()
