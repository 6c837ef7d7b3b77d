"""`spec.backendConfig.customConfiguration` reaches REAL Terraform byte for byte (review of issue 20,
finding 9): the override file must not re-indent or blank lines, or a heredoc value changes. Terraform's
built-in `http` backend is pointed at a loopback server that records the basic-auth header of the state
read, so the password Terraform evaluated from the block is seen exactly: heredocs (`<<EOT`, `<<-EOT`),
whitespace-only and tab-indented lines inside them, and an escaped quoted string."""

from __future__ import annotations

import base64
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.workspace import CustomBackend, Workspace

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform not on PATH")


class _StateServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.passwords: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: _StateServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            self.server.passwords.append(base64.b64decode(auth[6:]).decode().split(":", 1)[1])
        self.send_response(404)  # no state yet: the http backend reads an empty one
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def state_server() -> Iterator[_StateServer]:
    server = _StateServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


CASES = [
    # (password attribute as written in the block, the value Terraform must see)
    ("  password = <<EOT\n  two leading spaces\n\tand a tab\nEOT\n", "  two leading spaces\n\tand a tab\n"),
    ("  password = <<-EOT\n    a\n      b\n    EOT\n", "a\n  b\n"),
    ("  password = <<EOT\nx\n   \ny\nEOT\n", "x\n   \ny\n"),  # a whitespace-only line is a value too
    ("    password = <<EOT\n    deep\nEOT\n", "    deep\n"),
    ('  password = "p\\n  q"\n', "p\n  q"),
]


@pytest.mark.parametrize(("attribute", "expected"), CASES)
def test_terraform_sees_the_value_as_written(attribute: str, expected: str, state_server: _StateServer,
                                             make_artifact, tf_config: TerraformConfig, tmp_path: Path) -> None:
    port = state_server.server_address[1]
    block = (f'backend "http" {{\n  address = "http://127.0.0.1:{port}/state"\n  username = "u"\n'
             f"{attribute}}}\n")
    art = make_artifact({"mod/main.tf": 'output "x" { value = 1 }\n'})
    ws = Workspace.create(tmp_path / "runs", art, "mod", config=tf_config, backend=CustomBackend(block))
    try:
        runner = ws.runner()
        runner.init()
        runner.plan(ws.plan_path)  # reads the state: at least one GET with the password
    finally:
        ws.cleanup(True)
    assert state_server.passwords and set(state_server.passwords) == {expected}
