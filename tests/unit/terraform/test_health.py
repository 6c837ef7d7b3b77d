"""Health-check probes (terraform/health.py) against real loopback servers: a TCP listener and a closed
port; an HTTP server answering 200, 204, 503 or a redirect (not followed), one that comes up only after a
few requests (retried within the timeout), templated targets with sensitive outputs masked and scrubbed,
checks that cannot render (missing output, not host:port) reported invalid, and a stop request ending
the retries."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tfcontroller.api.healthchecks import SENSITIVE_MASK, HealthCheck
from tfcontroller.terraform.health import (
    FAILED,
    INVALID,
    PASSED,
    ProbePolicy,
    probe_http,
    probe_tcp,
    run_check,
    run_checks,
)

# The servers of these tests listen on loopback, which the controller's default deny list refuses
# (test_health_probe_limits.py tests that): here every address is allowed, as `--health-check-deny-cidrs=`.
ALLOW: tuple[()] = ()
LOOPBACK_OK = ProbePolicy(deny=ALLOW)


class _Handler(http.server.BaseHTTPRequestHandler):
    """`/status/<code>` answers that code; `/moved` redirects; `/late/<n>` fails n times, then 200."""

    counts: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[0] == "status":
            self._answer(int(parts[1]))
        elif parts[0] == "moved":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts[0] == "late":
            seen = self.counts[self.path] = self.counts.get(self.path, 0) + 1
            self._answer(200 if seen > int(parts[1]) else 503)
        else:
            self._answer(404)

    def _answer(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_check(url: str, expected: int | None = None, timeout: float = 0.5) -> HealthCheck:
    return HealthCheck("web", "http", url, expected, timeout, "spec.healthChecks[0].url")


def tcp_check(address: str, timeout: float = 0.5) -> HealthCheck:
    return HealthCheck("db", "tcp", address, None, timeout, "spec.healthChecks[0].address")


def test_tcp_listener_passes_and_closed_port_fails(closed_port: int) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        ok = run_check(tcp_check("{{ .host }}:{{ .port }}"), {"host": {"value": "127.0.0.1"}, "port": {"value": port}},
                       deny=ALLOW)
    assert (ok.outcome, ok.target) == (PASSED, f"127.0.0.1:{port}")
    bad = run_check(tcp_check(f"127.0.0.1:{closed_port}", timeout=0.3), {}, deny=ALLOW)
    assert bad.outcome == FAILED
    assert "refused" in bad.detail.lower()


@pytest.mark.parametrize(("path", "expected", "outcome", "detail"), [
    ("/status/200", None, PASSED, ""),
    ("/status/204", None, PASSED, ""),
    ("/status/204", 204, PASSED, ""),
    ("/status/200", 204, FAILED, "HTTP status 200, expected 204"),
    ("/status/503", None, FAILED, "HTTP status 503, expected 2xx"),
    ("/status/503", 503, PASSED, ""),
    ("/status/404", None, FAILED, "HTTP status 404, expected 2xx"),
    ("/moved", None, FAILED, "HTTP status 302, expected 2xx"),  # not followed to the Location
    ("/moved", 302, PASSED, ""),
])
def test_http_statuses(web: str, path: str, expected: int | None, outcome: str, detail: str) -> None:
    result = run_check(http_check(web + path, expected, timeout=0.3), {}, deny=ALLOW)
    assert (result.outcome, result.detail) == (outcome, detail)


def test_http_check_is_retried_until_it_passes_within_its_timeout(web: str) -> None:
    result = run_check(http_check(web + "/late/2", timeout=30.0), {}, deny=ALLOW)
    assert result.outcome == PASSED
    assert _Handler.counts["/late/2"] == 3


def test_connection_refused_http_and_a_stop_request(closed_port: int) -> None:
    result = run_check(http_check(f"http://127.0.0.1:{closed_port}/", timeout=0.3), {}, deny=ALLOW)
    assert result.outcome == FAILED and "refused" in result.detail.lower()
    stop = threading.Event()
    stop.set()  # the controller stops: a failing check ends after one probe, not after its timeout
    assert run_check(http_check(f"http://127.0.0.1:{closed_port}/", timeout=60.0), {}, stop,
                     deny=ALLOW).outcome == FAILED


def test_sensitive_outputs_are_masked_in_what_is_shown(web: str) -> None:
    outputs = {"base": {"value": web, "sensitive": False},
               "token": {"value": "tok-0123456789abcdef", "sensitive": True}}
    result = run_check(http_check("{{ .base }}/status/500?token={{ .token }}", timeout=0.3), outputs, deny=ALLOW)
    assert result.outcome == FAILED
    assert result.target == f"{web}/status/500?token={SENSITIVE_MASK}"
    assert "tok-0123456789abcdef" not in result.describe()


def test_url_credentials_are_refused_and_not_shown(closed_port: int) -> None:
    result = run_check(http_check(f"http://probe:pass-{{{{ .pw }}}}@127.0.0.1:{closed_port}/", timeout=0.2),
                       {"pw": {"value": "word", "sensitive": False}})
    assert result.outcome == INVALID
    assert "without credentials" in result.detail
    assert "pass-" not in result.describe() and "word" not in result.describe()
    assert result.target == f"http://***@127.0.0.1:{closed_port}/"


@pytest.mark.parametrize(("check", "outputs", "words"), [
    (tcp_check("{{ .host }}:5432"), {"other": {"value": 1}}, "spec.healthChecks[0].address: the module has no output 'host'"),
    (tcp_check("{{ .host }}"), {"host": {"value": "db.internal"}}, "renders 'db.internal', which is not host:port"),
    (http_check("{{ .endpoint }}"), {"endpoint": {"value": "bucket.s3.local"}},
     "renders 'bucket.s3.local', which is not an absolute http:// or https:// URL"),
    (http_check("{{ .endpoint }}"), {"endpoint": {"value": "no-scheme-secret-value", "sensitive": True}},
     f"renders '{SENSITIVE_MASK}', which is not an absolute"),
])
def test_checks_that_cannot_render_are_invalid(check: HealthCheck, outputs: dict[str, Any], words: str) -> None:
    result = run_check(check, outputs)
    assert result.outcome == INVALID
    assert words in result.detail
    assert "no-scheme-secret-value" not in result.describe()


def test_run_checks_keeps_spec_order(web: str, closed_port: int) -> None:
    results = run_checks([http_check(web + "/status/200"), tcp_check(f"127.0.0.1:{closed_port}", timeout=0.2)], {},
                         policy=LOOPBACK_OK)
    assert [(r.name, r.outcome) for r in results] == [("web", PASSED), ("db", FAILED)]
    assert run_checks([], {}) == []


# ---- review of issue 20, finding 1: a bad target, literal or rendered, is a result, never an exception ------

@pytest.mark.parametrize("address", ["ex..ample.com:80", f"{'a' * 64}.example.com:80", "[::1:80", "[zz]:80",
                                     "db.example.com:99999", "db example.com:80"])
def test_probe_tcp_turns_a_bad_address_into_a_reason(address: str) -> None:
    assert probe_tcp(address, 0.2).startswith("invalid address")


@pytest.mark.parametrize("url", ["http://ex..ample.com/", f"http://{'a' * 64}.example.com/", "http://[::1/",
                                 "http://[zz]/", "http://127.0.0.1:1/p\u00e9"])
def test_probe_http_turns_a_bad_url_into_a_reason(url: str) -> None:
    assert probe_http(url, None, 0.2, ALLOW).startswith("invalid URL")


@pytest.mark.parametrize(("check", "value"), [
    (http_check("http://{{ .host }}/"), "[zz]"),
    (http_check("http://{{ .host }}/"), "[::1"),
    (http_check("http://{{ .host }}/"), "ex..ample.com"),
    (http_check("http://{{ .host }}/"), "a" * 64 + ".com"),
    (http_check("http://{{ .host }}/{{ .host }}"), "\u00e9x.example"),
    (http_check("{{ .host }}"), "http://exa mple.com/"),
    (tcp_check("{{ .host }}:80"), "ex..ample.com"),
    (tcp_check("{{ .host }}:80"), "[zz"),
    (tcp_check("{{ .host }}"), "db.example.com:70000"),
    (tcp_check("{{ .host }}:80"), "a\nb"),
])
def test_a_rendered_target_that_is_not_valid_is_invalid(check: HealthCheck, value: str) -> None:
    result = run_check(check, {"host": {"value": value, "sensitive": False}})
    assert result.outcome == INVALID
    assert check.field in result.detail


def test_run_checks_never_raises_on_bad_rendered_targets(closed_port: int) -> None:
    checks = [http_check("http://{{ .host }}/"), tcp_check("{{ .host }}:80"), http_check("{{ .missing }}")]
    results = run_checks(checks, {"host": {"value": "[zz]", "sensitive": True}})
    assert [r.outcome for r in results] == [INVALID, INVALID, INVALID]
    assert all("[zz]" not in r.describe() for r in results[:2])  # a sensitive value is never shown
