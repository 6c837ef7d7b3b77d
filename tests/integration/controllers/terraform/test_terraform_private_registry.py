"""Private registries (issue 20, spec.cliConfigSecretRef and TF_TOKEN_* through env): a root module calls a
module from a private module registry — a small HTTPS registry on loopback (service discovery, versions,
download; its package URL, like a signed one, needs none), which answers 401 to any API request without the
team's token — with real terraform and the dev
cluster. Without credentials init fails; a CLI configuration fragment with a `credentials` block brings the
token to `terraform init` (the registry saw it) and the object applies; a fragment that sets
`provider_installation` is refused before any run, a missing Secret is named, (Stalled CliConfigInvalid, naming the setting); and a
`TF_TOKEN_<host>` variable from a Secret through `spec.env` works too. The token never appears in status,
Events or logs."""

from __future__ import annotations

import io
import json
import logging
import random
import secrets
import ssl
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.terraform_helpers import NS, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.terraform.run_api_tls import make_ca, make_serving

MODULE = """
variable "name" { type = string }
resource "terraform_data" "this" { input = var.name }
output "id" { value = "${var.name}-from-registry" }
"""


@dataclass
class Registry:
    host: str  # host[:port] as a module source names it
    token: str
    ca_file: Path
    seen: list[str] = field(default_factory=list)  # "<path> <scheme>" of each request, never a credential

    def source(self) -> str:
        return f"{self.host}/team/net/local"


def _archive() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        data = MODULE.encode()
        info = tarfile.TarInfo("main.tf")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _serve(address: str, port: int, tmp: Path) -> tuple[ThreadingHTTPServer, Registry]:
    now = datetime.now(UTC)
    ca_pem, ca_key = make_ca(now)
    cert_pem, key_pem = make_serving(ca_pem, ca_key, [address], now)
    (tmp / "ca.pem").write_text(ca_pem)
    (tmp / "cert.pem").write_text(cert_pem + ca_pem)
    (tmp / "key.pem").write_text(key_pem)
    archive = _archive()
    server = ThreadingHTTPServer((address, port), BaseHTTPRequestHandler)
    host = address if port == 443 else f"{address}:{server.server_address[1]}"
    registry = Registry(host, secrets.token_hex(16), tmp / "ca.pem")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            auth = self.headers.get("Authorization", "")
            registry.seen.append(f"{self.path} {auth.split(' ', 1)[0] if auth else 'none'}")
            if self.path == "/.well-known/terraform.json":
                return self._send(200, {"modules.v1": "/v1/modules/"})
            if self.path == "/archive/net.tar.gz":  # a package URL is fetched without registry credentials
                self.send_response(200)
                self.send_header("Content-Length", str(len(archive)))
                self.end_headers()
                self.wfile.write(archive)
                return None
            if auth != f"Bearer {registry.token}":
                return self._send(401, {"errors": ["unauthorized"]})
            if self.path == "/v1/modules/team/net/local/versions":
                return self._send(200, {"modules": [{"versions": [{"version": "1.0.0"}]}]})
            if self.path == "/v1/modules/team/net/local/1.0.0/download":
                self.send_response(204)
                self.send_header("X-Terraform-Get", f"https://{registry.host}/archive/net.tar.gz")
                self.end_headers()
                return None
            return self._send(404, {"errors": ["not found"]})

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, registry


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """On a random 127.x address, port 443: TF_TOKEN_<host> cannot name a port."""
    address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    server, reg = _serve(address, 443, tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(reg.ca_file))  # the run trusts the registry's CA (allowlisted)
    try:
        yield reg
    finally:
        server.shutdown()
        server.server_close()


def _root(registry: Registry) -> str:
    return (f'module "net" {{\n  source  = "{registry.source()}"\n  version = "1.0.0"\n  name = "net"\n}}\n'
            'output "net" { value = module.net.id }\n')


@pytest.mark.slow
def test_private_registry_credentials_reach_init(harness: Harness, git_file_remote, registry: Registry,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    kube = harness.kube
    infra = git_file_remote("infra")
    harness.publish("src", infra.bare, infra.commit({"main.tf": _root(registry)}))

    harness.create("app", writeOutputsToSecret={"name": "app-outputs"})
    obj = harness.reconcile("app")
    assert condition(obj, c.READY).status == "False"
    assert "/v1/modules/team/net/local/versions none" in registry.seen

    # A Secret that does not exist (yet) is named with the field; retried, since it may be created.
    harness.patch("app", {"spec": {"cliConfigSecretRef": {"name": "registry-rc"}}})
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/VarsGenerationFailed"
    assert "spec.cliConfigSecretRef: Secret default/registry-rc not found" in condition(obj, c.READY).message

    # A fragment that would change where providers come from: refused before any run, naming the setting.
    kube.upsert_secret(NS, "registry-rc", {"terraform.tfrc": (
        f'credentials "{registry.host}" {{\n  token = "{registry.token}"\n}}\n'
        'provider_installation {\n  direct {}\n}\n').encode()})
    seen = len(registry.seen)
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/CliConfigInvalid"
    assert condition(obj, c.STALLED) is not None and "provider_installation" in condition(obj, c.READY).message
    assert "once the Secret is fixed: `tfcontroller reconcile terraform app -n default`" in condition(obj, c.READY).message
    assert len(registry.seen) == seen  # no run

    # Credentials only: the token reaches init, the module is installed, planned and applied.
    kube.upsert_secret(NS, "registry-rc", {"terraform.tfrc": (
        f'credentials "{registry.host}" {{\n  token = "{registry.token}"\n}}\n').encode()})
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    assert "/v1/modules/team/net/local/versions Bearer" in registry.seen
    assert harness.secret("app-outputs") == {"net": "net-from-registry"}
    visible = json.dumps(obj) + json.dumps(harness.events("app")) + caplog.text
    assert registry.token not in visible

    # TF_TOKEN_<host> through env (from a Secret) is the other way in.
    registry.seen.clear()
    kube.upsert_secret(NS, "registry-token", {"token": registry.token.encode()})
    variable = "TF_TOKEN_" + registry.host.replace(".", "_")
    harness.create("app2", env=[{"name": variable,
                                 "valueFrom": {"secretKeyRef": {"name": "registry-token", "key": "token"}}}],
                   backendConfig={"secretSuffix": "app-two"})
    harness.reconcile_until("app2", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    assert "/v1/modules/team/net/local/versions Bearer" in registry.seen
