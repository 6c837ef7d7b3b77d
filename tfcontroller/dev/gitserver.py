"""Serve bare repositories over git's smart HTTP protocol (`git http-backend` as CGI) with basic auth.

The demo uses it so that the controller fetches from a real HTTP git server, as it would from GitHub or
GitLab, with credentials from a Secret. The tests' `git_http_server` fixture uses it too, with an
optional bearer token and the auth log (`auth_seen`: the scheme of each request, never its credentials).
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


class GitHTTPServer:
    """`with GitHTTPServer(root, "user", "secret") as srv: srv.url_for("repo.git")`."""

    def __init__(
        self,
        project_root: Path,
        username: str,
        password: str,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ):
        self.project_root = Path(project_root)
        self.username = username
        self.password = password
        self.token = token
        # The scheme ("Basic", "Bearer", "none") of every request's Authorization header, in order:
        # lets a test check which credentials a client sent without the server keeping any of them.
        self.auth_seen: list[str] = []
        accepted = {"Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}
        if token:
            accepted.add("Bearer " + token)
        self._httpd = ThreadingHTTPServer((host, port), self._handler(frozenset(accepted)))
        self._httpd.daemon_threads = True
        self.url = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    def url_for(self, repo: str) -> str:
        return f"{self.url}/{repo}"

    def start(self) -> GitHTTPServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="git-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> GitHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self, accepted: frozenset[str]) -> type[BaseHTTPRequestHandler]:
        root, username, auth_seen = self.project_root, self.username, self.auth_seen

        class Handler(BaseHTTPRequestHandler):
            def _authorised(self) -> bool:
                header = self.headers.get("Authorization", "")
                auth_seen.append(header.split(" ", 1)[0] if header else "none")
                return header in accepted

            def _handle(self) -> None:
                body = _read_body(self) if self.command == "POST" else b""
                if not self._authorised():
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "GIT_PROJECT_ROOT": str(root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_USER": username,
                    "REMOTE_ADDR": self.client_address[0],
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                    "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_CONFIG_GLOBAL": os.devnull,
                }
                done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120)
                head, _, payload = done.stdout.partition(b"\r\n\r\n")
                status, headers = 200, []
                for line in head.decode("latin-1").split("\r\n"):
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif key:
                        headers.append((key, value.strip()))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle  # noqa: N815 - BaseHTTPRequestHandler hook names
            do_POST = _handle  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler
