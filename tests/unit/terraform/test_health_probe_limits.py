"""What a health check may do from the controller's network position (review of issue 20, finding 3),
against real loopback servers and the real resolver:
- *where*: a target is refused (Invalid, naming the flag, nothing connected) when any address it resolves
  to is denied — literal addresses of each default range, their other spellings that the resolver turns
  into them (`127.1`, `2130706433`, `0x7f.1`, `169.254.43518`, `localhost`, `0`), IPv6 forms and
  IPv4-mapped ones; the same target passes once the deny list (`--health-check-deny-cidrs`) allows it;
- *how*: never through the controller's proxy (a recording proxy in HTTP(S)_PROXY sees nothing, not even a
  `user:pass@` one), no credential or cookie sent; the connection goes to the checked address while Host
  and TLS (SNI, the certificate's name) keep the URL's name;
- *how long*: all checks of one reconcile share a budget; what does not finish within it fails saying so.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fixtures.smtp import TLSFiles, make_tls_files
from tfcontroller.api.healthchecks import DEFAULT_DENY, DENY_CIDRS_FLAG, HealthCheck, parse_deny_cidrs
from tfcontroller.terraform.health import (
    FAILED,
    INVALID,
    MAX_PARALLEL,
    PASSED,
    AddressDenied,
    ProbePolicy,
    controller_networks,
    get_status,
    interface_addresses,
    ipv6_of_if_inet6,
    local_ipv4_of_fib_trie,
    probe_http,
    probe_tcp,
    resolve,
    run_check,
    run_checks,
)

# the default list without loopback: what the test suite's controllers use to reach their loopback servers
LOOPBACK_ALLOWED = parse_deny_cidrs("169.254.0.0/16,fe80::/10,fd00:ec2::254,0.0.0.0/8,::/128")


@dataclass
class Seen:
    """What a loopback server was sent: one dict of headers per request, and the TLS server names."""

    requests: list[dict[str, str]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)


def _server(seen: Seen, status: int, tls: TLSFiles | None = None) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _record(self) -> None:
            seen.requests.append({"method": self.command, "path": self.path, **dict(self.headers.items())})
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_CONNECT = do_POST = _record  # noqa: N815 - http.server's names

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.cert_file, tls.key_file)
        context.sni_callback = lambda sock, name, ctx: seen.server_names.append(name)  # type: ignore[assignment,misc]
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def web() -> Iterator[tuple[int, Seen]]:
    seen = Seen()
    server = _server(seen, 200)
    yield int(server.server_address[1]), seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy() -> Iterator[tuple[int, Seen]]:
    """A proxy that records every request (GET of an absolute URL, CONNECT) and refuses it."""
    seen = Seen()
    server = _server(seen, 502)
    yield int(server.server_address[1]), seen
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("health-tls"))  # a CA, and a certificate for localhost


@pytest.fixture
def tls_web(tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, Seen]]:
    monkeypatch.setenv("SSL_CERT_FILE", tls_files.ca_file)  # the probe trusts the test CA as a system CA
    seen = Seen()
    server = _server(seen, 200, tls_files)
    yield int(server.server_address[1]), seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, int]]:
    """A loopback TCP listener; `_connected(sock)` says whether anything connected to it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock, int(sock.getsockname()[1])
    sock.close()


def _connected(sock: socket.socket) -> bool:
    try:
        sock.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def http_check(url: str, timeout: float = 0.5) -> HealthCheck:
    return HealthCheck("web", "http", url, None, timeout, "spec.healthChecks[0].url")


def tcp_check(address: str, timeout: float = 0.5) -> HealthCheck:
    return HealthCheck("db", "tcp", address, None, timeout, "spec.healthChecks[0].address")


# ---- where: the deny list on every resolved address ----------------------------------------------------------

LOOPBACK_SPELLINGS = ["127.0.0.1", "127.1", "2130706433", "0x7f.1", "017700000001", "localhost", "127.9.9.9"]
OTHER_DENIED = ["169.254.169.254", "169.254.43518", "169.254.1.1", "0", "0.0.0.0", "[::1]", "[::]",
                "[::ffff:127.0.0.1]", "[::ffff:169.254.169.254]", "[0:0:0:0:0:ffff:a9fe:a9fe]", "[fe80::1]",
                "[febf::1]", "[fd00:ec2::254]"]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS + OTHER_DENIED)
def test_a_target_resolving_to_a_denied_address_is_invalid_and_names_the_flag(host: str) -> None:
    for check in (tcp_check(f"{host}:8080", timeout=60.0), http_check(f"http://{host}:8080/x", timeout=60.0),
                  http_check(f"https://{host}/", timeout=60.0)):
        result = run_check(check, {})  # the default list; a 60s timeout: no retry loop, an answer at once
        assert result.outcome == INVALID, (check.target, result)
        assert result.detail.startswith(check.field + ": ")
        assert "health checks may not reach" in result.detail and DENY_CIDRS_FLAG in result.detail


@pytest.mark.parametrize("host", [*LOOPBACK_SPELLINGS[:-1], "[::ffff:127.0.0.1]"])  # all name 127.0.0.1
def test_nothing_connects_to_a_denied_address_and_the_flag_allows_it(host: str, listener: tuple[socket.socket, int],
                                                                    web: tuple[int, Seen]) -> None:
    sock, port = listener
    web_port, seen = web
    assert run_check(tcp_check(f"{host}:{port}"), {}).outcome == INVALID
    assert run_check(http_check(f"http://{host}:{web_port}/"), {}).outcome == INVALID
    assert not _connected(sock) and seen.requests == []
    # the operator allows loopback (the default list without 127.0.0.0/8 and ::1): the same targets pass
    if host.startswith("[") and not _has_ipv6_mapped():
        pytest.skip("no IPv4-mapped IPv6 connections here")
    assert run_check(tcp_check(f"{host}:{port}"), {}, deny=LOOPBACK_ALLOWED).outcome == PASSED
    assert run_check(http_check(f"http://{host}:{web_port}/"), {}, deny=LOOPBACK_ALLOWED).outcome == PASSED
    assert _connected(sock) and len(seen.requests) == 1


def _has_ipv6_mapped() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::ffff:127.0.0.1", 0))
    except OSError:
        return False
    return True


def test_the_message_names_the_name_and_the_address_it_resolves_to() -> None:
    with pytest.raises(AddressDenied, match=r"^localhost resolves to (127\.0\.0\.1, in 127\.0\.0\.0/8|::1, in ::1/128), which "):
        resolve("localhost", 80, DEFAULT_DENY)
    with pytest.raises(AddressDenied, match=r"^169\.254\.169\.254 is in 169\.254\.0\.0/16, which health checks may "
                                            r"not reach \(.*--health-check-deny-cidrs\): .*"
                                            r"\(--health-check-allow-cidrs\)$"):
        resolve("169.254.169.254", 80, DEFAULT_DENY)


def test_a_sensitive_host_is_not_shown_in_the_denial() -> None:
    result = run_check(http_check("http://{{ .host }}:81/"), {"host": {"value": "127.0.0.1", "sensitive": True}})
    assert result.outcome == INVALID and "127.0.0.1" not in result.describe()


def test_a_name_that_does_not_resolve_fails_and_is_retried_like_any_other_failure() -> None:
    result = run_check(tcp_check("health-check.invalid:80", timeout=0.2), {})  # .invalid never resolves
    assert result.outcome == FAILED


def test_an_empty_deny_list_allows_everything_and_resolve_keeps_every_checked_address() -> None:
    addresses = resolve("localhost", 80, ())
    assert addresses and {a[1][0] for a in addresses} <= {"127.0.0.1", "::1"}
    assert len(addresses) == len(set(addresses))


# ---- how: no proxy, no credential, the name kept for Host and TLS ----------------------------------------------

@pytest.mark.parametrize("proxy_url", ["http://127.0.0.1:{port}", "http://user:proxy-password@127.0.0.1:{port}"])
def test_probes_never_go_through_the_controllers_proxy(proxy_url: str, proxy: tuple[int, Seen],
                                                       web: tuple[int, Seen], tls_web: tuple[int, Seen],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    proxy_port, proxied = proxy
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy_url.format(port=proxy_port))
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    (web_port, seen), (tls_port, tls_seen) = web, tls_web
    assert probe_http(f"http://127.0.0.1:{web_port}/healthz", None, 5.0, LOOPBACK_ALLOWED) == ""
    assert probe_http(f"https://localhost:{tls_port}/healthz", None, 5.0, LOOPBACK_ALLOWED) == ""
    assert proxied.requests == []
    sent = seen.requests + tls_seen.requests
    assert len(sent) == 2
    for headers in sent:
        assert headers["method"] == "GET" and headers["path"] == "/healthz"
        assert not {"Proxy-Authorization", "Authorization", "Cookie"} & set(headers)


def test_the_connection_goes_to_the_checked_address_and_host_keeps_the_name(web: tuple[int, Seen]) -> None:
    port, seen = web
    # a name that resolves nowhere: only the checked address given is used, the name is not looked up again
    assert get_status(f"http://service.invalid:{port}/a?b=c", [(socket.AF_INET, ("127.0.0.1", port))], 5.0) == 200
    assert seen.requests[-1]["Host"] == f"service.invalid:{port}" and seen.requests[-1]["path"] == "/a?b=c"
    assert probe_http(f"http://localhost:{port}/", None, 5.0, LOOPBACK_ALLOWED) == ""
    assert seen.requests[-1]["Host"] == f"localhost:{port}"


def test_tls_uses_the_urls_name_for_sni_and_the_certificate(tls_web: tuple[int, Seen]) -> None:
    port, seen = tls_web
    pinned = [(socket.AF_INET, ("127.0.0.1", port))]
    assert get_status(f"https://localhost:{port}/", pinned, 5.0) == 200
    assert seen.server_names[-1] == "localhost" and seen.requests[-1]["Host"] == f"localhost:{port}"
    # the certificate is for localhost: the same address under another name is refused by verification
    with pytest.raises(ssl.SSLCertVerificationError):
        get_status(f"https://other.invalid:{port}/", pinned, 5.0)
    assert seen.server_names[-1] == "other.invalid"


# ---- how long: one budget for all checks of a reconcile -----------------------------------------------------

def test_all_checks_of_a_reconcile_share_one_budget(listener: tuple[socket.socket, int]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = int(s.getsockname()[1])
    checks = [tcp_check(f"127.0.0.1:{closed}", timeout=60.0) for _ in range(MAX_PARALLEL + 2)]
    checks = [HealthCheck(f"c{i}", c.type, c.target, None, c.timeout, c.field) for i, c in enumerate(checks)]
    started = time.monotonic()
    results = run_checks(checks, {}, policy=ProbePolicy(deny=(), budget=2.0))
    assert time.monotonic() - started < 30.0  # not 60s per check: the budget ended them (generous for a busy host)
    assert [r.name for r in results] == [c.name for c in checks] and all(r.outcome == FAILED for r in results)
    not_run = "not run to the end: the health checks of one reconcile may take 2s in all"
    # the first ones end with their last attempt's reason (a thread the busy host started only after the
    # budget's end counts as not run); the last ones never started: every worker was busy until then
    assert {r.detail if r.detail == "Connection refused" else r.detail[:len(not_run)]
            for r in results[:MAX_PARALLEL]} <= {"Connection refused", not_run}
    assert "Connection refused" in {r.detail for r in results}
    for late in results[MAX_PARALLEL:]:
        assert late.detail.startswith(not_run) and late.target == f"127.0.0.1:{closed}"


def test_a_passing_check_is_not_held_back_by_the_budget(web: tuple[int, Seen]) -> None:
    port, _ = web
    results = run_checks([http_check(f"http://127.0.0.1:{port}/", timeout=60.0)], {},
                         policy=ProbePolicy(deny=(), budget=60.0))
    assert results[0].outcome == PASSED


def test_tcp_probe_default_deny_list_refuses_loopback(listener: tuple[socket.socket, int]) -> None:
    sock, port = listener
    with pytest.raises(AddressDenied):
        probe_tcp(f"127.0.0.1:{port}", 1.0)
    assert probe_tcp(f"127.0.0.1:{port}", 1.0, ()) == "" and _connected(sock)



# ---- where, continued: the controller's own addresses and the API server's (review s19, finding 3) ---------

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     |-- 10.244.1.7
        /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.244.1.7
        /32 host LOCAL
"""
IF_INET6 = """00000000000000000000000000000001 01 80 10 80       lo
fd000010024400000000000000000007 04 40 00 82     eth0
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
"""


def test_proc_tables_give_the_local_addresses() -> None:
    assert local_ipv4_of_fib_trie(FIB_TRIE) == ["127.0.0.1", "10.244.1.7"]  # not the network or broadcast
    assert ipv6_of_if_inet6(IF_INET6) == ["::1", "fd00:10:244::7", "fe80::fc:ff:fe00:1"]
    assert local_ipv4_of_fib_trie("") == [] and ipv6_of_if_inet6("\nnot a table\n") == []


def test_controller_networks_are_its_pod_ips_interfaces_and_the_api_servers() -> None:
    env = {"POD_IP": "10.244.1.7", "POD_IPS": "10.244.1.7,fd00:10:244::7", "KUBERNETES_SERVICE_HOST": "10.96.0.1"}
    nets = {str(n) for n in controller_networks(env, "https://192.0.2.10:6443")}
    assert {"10.244.1.7/32", "fd00:10:244::7/128", "10.96.0.1/32", "192.0.2.10/32"} <= nets
    assert "127.0.0.1/32" in nets  # this host's interfaces are read too (the same as the Pod IPs in a Pod)
    assert {str(n) for n in controller_networks({}, "https://[2001:db8::1]:6443")} >= {"2001:db8::1/128"}
    assert "127.0.0.1/32" in {str(n) for n in controller_networks({}, "https://localhost:6443")}
    # a server name that does not resolve, or an env that is no address, adds nothing and breaks nothing
    assert controller_networks({"POD_IP": "", "KUBERNETES_SERVICE_HOST": "kubernetes"}, "https://api.invalid:443") \
        == controller_networks({}, None)


def _own_address() -> str | None:
    """This host's address towards a non-loopback destination (no packet is sent), as a Pod IP would be."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            address = str(s.getsockname()[0])
    except OSError:
        return None
    return address if not address.startswith("127.") else None


def test_the_controllers_own_non_loopback_address_is_denied_even_with_loopback_allowed() -> None:
    ip = _own_address()
    if ip is None or ip not in interface_addresses():
        pytest.skip("no non-loopback interface address here")
    with socket.socket() as srv:
        srv.bind(("0.0.0.0", 0))  # as the controller's metrics, health and run API listeners do
        srv.listen(1)
        srv.setblocking(False)
        port = int(srv.getsockname()[1])
        deny = DEFAULT_DENY + controller_networks({}, None)
        loopback = parse_deny_cidrs("127.0.0.0/8,::1")
        for check in (tcp_check(f"{ip}:{port}", timeout=60.0), http_check(f"http://{ip}:{port}/", timeout=60.0)):
            result = run_check(check, {}, deny=deny, allow=loopback)
            assert result.outcome == INVALID and f"{ip} is in {ip}/32" in result.detail, result
        assert not _connected(srv)
        assert run_check(tcp_check(f"{ip}:{port}"), {}, deny=deny, allow=parse_deny_cidrs(ip)).outcome == PASSED


def test_allow_opens_loopback_and_only_loopback(listener: tuple[socket.socket, int]) -> None:
    sock, port = listener
    loopback = parse_deny_cidrs("127.0.0.0/8,::1")
    assert run_check(tcp_check(f"127.0.0.1:{port}"), {}, deny=DEFAULT_DENY, allow=loopback).outcome == PASSED
    assert _connected(sock)
    for target in ("169.254.169.254:80", "[fd00:ec2::254]:80", "0.0.0.0:80", "[::ffff:169.254.169.254]:80"):
        assert run_check(tcp_check(target, timeout=60.0), {}, deny=DEFAULT_DENY, allow=loopback).outcome == INVALID
    results = run_checks([tcp_check(f"127.0.0.1:{port}")], {},
                         policy=ProbePolicy(deny=DEFAULT_DENY, allow=loopback, budget=10.0))
    assert results[0].outcome == PASSED
