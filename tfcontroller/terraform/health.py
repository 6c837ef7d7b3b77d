"""Probes of `spec.healthChecks` (issue 20): does what a module applied answer?

`run_checks` renders each check's template from the outputs (api/healthchecks.py), then probes them in
parallel (at most `MAX_PARALLEL` at once), each for up to its `timeout`: a TCP connect, or an HTTP GET whose
status must equal `expectedStatus` (any 2xx when unset). A probe that fails is tried again every second
until its timeout, so a resource that has just been created gets that long to come up.

A probe is the controller reaching out on behalf of whoever may create a Terraform (review of issue 20,
finding 3), so it gives them as little as it can:
- *where*: the target's name is resolved once per attempt, every address is checked against the deny list
  (`ProbePolicy.deny`: loopback, link-local, the cloud metadata addresses, the controller's own addresses
  and the API server's — `controller_networks` — plus the controller's `--health-check-deny-cidrs`, less
  the exceptions of `--health-check-allow-cidrs`), and the connection goes to a checked address — never
  through a second resolution that could answer differently. A denied address makes the check *invalid*: no retry helps,
  the target (or the flag) must change. HTTP keeps the name for the `Host` header and TLS (SNI and the
  certificate check), so pinning the address changes nothing for a real service.
- *how*: one GET written and its status line read by hand on the pinned socket (no urllib, no
  http.client's unbounded reads): no proxy (the controller's `HTTP(S)_PROXY` and its
  `Proxy-Authorization` never reach a probe), no redirect followed (a 3xx is the answer: set
  `expectedStatus` to it), no cookie, no credential; the body is never read.
- *how long*: a probe has one absolute deadline (the check's timeout, at most the budget's end) that the
  connect, the TLS handshake, the send and every read shrink to, and reads at most `MAX_HEADER_BYTES` of
  response head, so a server dripping a byte at a time cannot hold it (review s19, finding 2). All checks
  of one reconcile share `ProbePolicy.budget` (60s, the longest one check may take) on daemon threads;
  when it ends (or the controller stops) every probe socket is shut down, so no probe thread outlives it
  by more than a moment and none delays the process's exit.

Every message shows the target with sensitive outputs masked, with sensitive values scrubbed from error
texts as well (design.md §4.7). A check whose template cannot be rendered (the module lost an output) or
renders no valid target is *invalid* too.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from tfcontroller.api.healthchecks import (
    ALLOW_CIDRS_FLAG,
    DEFAULT_DENY,
    DENY_CIDRS_FLAG,
    MAX_TIMEOUT,
    TCP,
    HealthCheck,
    IPNetwork,
    denied_network,
    host_networks,
    http_target_problem,
    render,
    tcp_target,
)
from tfcontroller.api.redact import scrub

RETRY_EVERY = 1.0
MAX_PARALLEL = 8  # probe threads of one reconcile
MAX_HEADER_BYTES = 64 * 1024  # the most of a response head a probe reads (1xx heads included)
COLLECT_SLACK = 0.5  # how long after the budget's end run_checks still takes a result that ends at it
PASSED, FAILED, INVALID = "Passed", "Failed", "Invalid"
USER_AGENT = "tfcontroller-health-check"
POD_IP_ENV, POD_IPS_ENV = "POD_IP", "POD_IPS"  # the downward API's status.podIP / status.podIPs

Address = tuple[int, tuple[Any, ...]]  # (socket family, sockaddr) of one checked address


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: str  # PASSED | FAILED | INVALID
    target: str  # as shown: sensitive outputs masked
    detail: str = ""  # why it failed (scrubbed)

    def describe(self) -> str:
        """`name (target): detail` for a condition message."""
        return f"{self.name} ({self.target}): {self.detail}" if self.detail else f"{self.name} ({self.target})"


@dataclass(frozen=True)
class ProbePolicy:
    """What the controller lets health checks do: the networks no probe may connect to (empty: none), the
    exceptions carved out of them (`--health-check-allow-cidrs`), and the time all checks of one reconcile
    may take together, in seconds."""

    deny: tuple[IPNetwork, ...] = DEFAULT_DENY
    budget: float = MAX_TIMEOUT
    allow: tuple[IPNetwork, ...] = ()


class AddressDenied(Exception):
    """The target resolves to an address the deny list covers: the check is invalid, not failing."""


class BadResponse(Exception):
    """The server's answer is no HTTP response head we read: its text says what (never the body)."""


class Sockets:
    """The probe sockets of one `run_checks`: `shut_all` at the budget's end (or the controller's stop)
    wakes every probe blocked on one, and refuses any socket opened later (a probe whose name lookup hung
    past the budget), so no probe thread outlives the budget by more than a moment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.closed = False

    def open(self, family: int) -> socket.socket:
        """A new TCP socket, tracked; TimeoutError once `shut_all` has run."""
        sock = socket.socket(family, socket.SOCK_STREAM)
        with self._lock:
            if not self.closed:
                self._open.add(sock)
                return sock
        sock.close()
        raise TimeoutError("timed out")

    def swap(self, old: socket.socket, new: socket.socket) -> None:
        """Track `new` (a TLS socket wrapping `old`'s descriptor) instead of `old`."""
        with self._lock:
            self._open.discard(old)
            self._open.add(new)
        if self.closed:
            _shutdown(new)

    def forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    def shut_all(self) -> None:
        """Shut every open socket down (its owner's blocked call returns, with an error; the owner closes
        it): shutting down rather than closing under the owner's feet, which would not wake it."""
        with self._lock:
            self.closed = True
            socks = list(self._open)
        for sock in socks:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:  # the plain socket's method, also for a TLS one: SSLSocket.shutdown drops its SSL object mid-read
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def resolve(host: str, port: int, deny: tuple[IPNetwork, ...], allow: tuple[IPNetwork, ...] = ()) -> list[Address]:
    """The addresses to connect to for `host:port`, each checked against `deny` less `allow`: AddressDenied
    when any of them is denied (a name that resolves to a public and a denied address is refused: which one
    a connection would use is not ours to choose); OSError (socket.gaierror) when the name does not
    resolve."""
    seen: list[Address] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = str(sockaddr[0])
        if (net := denied_network(ip, deny, allow)) is not None:
            shown = f"{ip} is in {net}" if ip == host else f"{host} resolves to {ip}, in {net}"
            raise AddressDenied(
                f"{shown}, which health checks may not reach (the controller's own and the API server's "
                f"addresses, loopback, link-local and metadata addresses, and its {DENY_CIDRS_FLAG}): point "
                f"the check at the service's own address, or have the controller's operator allow it "
                f"({ALLOW_CIDRS_FLAG})")
        if (family, sockaddr) not in seen:
            seen.append((family, sockaddr))
    if not seen:
        raise OSError(f"{host} has no IPv4 or IPv6 address")
    return seen


def _left(deadline: float) -> float:
    """The time left until `deadline`; TimeoutError when none is."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def connect(addresses: Sequence[Address], deadline: float, sockets: Sockets | None = None) -> socket.socket:
    """A TCP connection to the first of `addresses` that accepts before `deadline` (time.monotonic); the
    last OSError when none does."""
    sockets = sockets or Sockets()
    error: OSError = OSError("no address to connect to")
    for family, sockaddr in addresses:
        sock = sockets.open(family)
        try:
            sock.settimeout(_left(deadline))
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sockets.forget(sock)
            sock.close()
            error = exc
    raise error


def probe_tcp(address: str, timeout: float, deny: tuple[IPNetwork, ...] = DEFAULT_DENY, *,
              allow: tuple[IPNetwork, ...] = (), sockets: Sockets | None = None) -> str:
    """"" when a TCP connection to `address` opens within `timeout`, else why not (a bad address, a
    ValueError or UnicodeError, is a reason too). AddressDenied when it resolves to a denied address."""
    deadline = time.monotonic() + timeout
    sockets = sockets or Sockets()
    try:
        host, port = tcp_target(address)
        sock = connect(resolve(host, port, deny, allow), deadline, sockets)
        sockets.forget(sock)
        sock.close()
        return ""
    except OSError as exc:
        return _os_error(exc)
    except ValueError as exc:  # UnicodeError of a host name IDNA cannot encode, a bad port
        return f"invalid address: {exc}"


def probe_http(url: str, expected: int | None, timeout: float, deny: tuple[IPNetwork, ...] = DEFAULT_DENY, *,
               allow: tuple[IPNetwork, ...] = (), sockets: Sockets | None = None) -> str:
    """"" when GET `url` answers `expected` (any 2xx when None) within `timeout`, else why not (a bad URL,
    a ValueError or UnicodeError, is a reason too). AddressDenied when its host resolves to a denied
    address. No proxy, no redirect, no body read."""
    deadline = time.monotonic() + timeout
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port if parts.port is not None else _default_port(parts.scheme)
        status = get_status(url, resolve(host, port, deny, allow), max(0.0, deadline - time.monotonic()), sockets)
    except OSError as exc:  # ssl.SSLError and socket.gaierror included
        return _os_error(exc)
    except BadResponse as exc:
        return str(exc)
    except ValueError as exc:  # UnicodeError of a host IDNA cannot encode, a non-ASCII path, a bad port
        return f"invalid URL: {type(exc).__name__}: {exc}"
    if (status == expected) if expected is not None else 200 <= status < 300:
        return ""
    return f"HTTP status {status}, expected {expected if expected is not None else '2xx'}"


def get_status(url: str, addresses: Sequence[Address], timeout: float, sockets: Sockets | None = None) -> int:
    """The status of GET `url` from a connection to one of `addresses` (already checked: the URL's host is
    not looked up again), the host keeping its part as Host header and TLS name (SNI, the certificate's
    name); all within `timeout` in all, whatever the server's pace. The body is not read."""
    deadline = time.monotonic() + timeout
    sockets = sockets or Sockets()
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port if parts.port is not None else _default_port(parts.scheme)
    request = _request(parts, host, port)  # a path that is no ASCII fails here, before any connection
    sock = connect(addresses, deadline, sockets)
    try:
        if parts.scheme == "https":
            sock = _tls(sock, host, deadline, sockets)
        sock.settimeout(_left(deadline))
        sock.sendall(request)  # sendall's timeout bounds the whole send
        status = _read_status(sock, deadline)
        if sockets.closed:  # our shut_all ended the read: an end of the connection that is no answer
            raise TimeoutError("timed out")
        return status
    finally:
        sockets.forget(sock)
        sock.close()


def _tls(sock: socket.socket, host: str, deadline: float, sockets: Sockets) -> ssl.SSLSocket:
    """`sock` wrapped in TLS for `host`, the handshake done before `deadline` (one call: CPython bounds a
    blocking handshake by one deadline, not per read)."""
    context = ssl.create_default_context()  # verifies the certificate for `host`; SSL_CERT_FILE honoured
    tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    sockets.swap(sock, tls)
    try:
        tls.settimeout(_left(deadline))
        tls.do_handshake()
    except BaseException:
        sockets.forget(tls)
        tls.close()
        raise
    return tls


def _request(parts: SplitResult, host: str, port: int) -> bytes:
    """The GET, as http.client would write it (Host without the scheme's default port), asking the server to
    close the connection: only its status line matters."""
    name = f"[{host}]" if ":" in host else host.encode("idna").decode("ascii")
    host_header = name if port == _default_port(parts.scheme) else f"{name}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Accept-Encoding: identity\r\nConnection: close\r\n\r\n").encode("ascii")


_STATUS_LINE = re.compile(rb"HTTP/\d\.\d ([1-9]\d\d)(?:[ \t][^\r\n]*)?\r?\n")
_HEAD_END = re.compile(rb"\r?\n\r?\n")


def _read_status(sock: socket.socket, deadline: float) -> int:
    """The status of the final response head read from `sock` (1xx heads skipped, except 101), every read
    bounded by what is left before `deadline`, at most MAX_HEADER_BYTES in all: BadResponse when the
    server answers something else or too much, TimeoutError when it is too slow, whatever its pace."""
    data, total = b"", 0
    while True:
        if b"\n" in data:
            status = parse_status_line(data)
            if (end := _HEAD_END.search(data)) is not None:
                if not (100 <= status < 200 and status != 101):
                    return status
                data = data[end.end():]
                continue
        if total > MAX_HEADER_BYTES:
            raise BadResponse(f"response head longer than {MAX_HEADER_BYTES // 1024} KiB")
        sock.settimeout(_left(deadline))
        chunk = sock.recv(8192)
        if not chunk:  # a head ended by the connection's end is a head (http.client reads it so too)
            if b"\n" in data and not 100 <= (status := parse_status_line(data)) < 200:
                return status
            raise BadResponse("the server closed the connection without a complete HTTP response head")
        data, total = data + chunk, total + len(chunk)


def parse_status_line(data: bytes) -> int:
    """The status code of a response head starting `data` (its first line complete); BadResponse when it
    is no HTTP/1.x status line (shown cut short, never more than its first 40 characters)."""
    match = _STATUS_LINE.match(data)
    if match is None:
        line = data.split(b"\n", 1)[0][:40].decode("ascii", "replace").strip()
        raise BadResponse(f"not an HTTP response: {line!r}")
    return int(match.group(1))


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _os_error(exc: OSError) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return exc.strerror or str(exc) or type(exc).__name__


def run_checks(checks: Sequence[HealthCheck], outputs: Mapping[str, Any],
               stop: threading.Event | None = None, policy: ProbePolicy = ProbePolicy(),
               clock: Callable[[], float] = time.monotonic) -> list[CheckResult]:
    """Every check's result, in spec order, probed on up to MAX_PARALLEL daemon threads within
    `policy.budget` in all. Returns by the budget's end (and a moment's slack), or as soon as `stop` is
    set, and then shuts every probe socket down, so the threads end with it (one stuck in a name lookup,
    which nothing can interrupt, ends with the lookup and opens no connection): a check cut short ends
    with what its last attempt said, one not started or not ended fails with a reason saying which."""
    if not checks:
        return []
    run = _Run(checks, outputs, stop or threading.Event(), policy, clock() + policy.budget, clock)
    for n in range(min(len(checks), MAX_PARALLEL)):
        threading.Thread(target=run.work, name=f"health-check-{n}", daemon=True).start()
    run.wait()
    run.sockets.shut_all()
    return [run.result(i) for i in range(len(checks))]


class _Run:
    """One `run_checks`: the checks, a shared cursor into them, their results as they come."""

    def __init__(self, checks: Sequence[HealthCheck], outputs: Mapping[str, Any], stop: threading.Event,
                 policy: ProbePolicy, budget_end: float, clock: Callable[[], float]) -> None:
        self.checks, self.outputs, self.stop, self.policy = checks, outputs, stop, policy
        self.budget_end, self.clock = budget_end, clock
        self.sockets = Sockets()
        self._lock = threading.Lock()
        self._next = 0
        self._started = [False] * len(checks)
        self._results: list[CheckResult | None] = [None] * len(checks)
        self._finished = 0
        self._done = threading.Event()

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= len(self.checks) or self.sockets.closed or self.stop.is_set() or \
                    self.clock() >= self.budget_end:
                return None
            self._next += 1
            self._started[self._next - 1] = True
            return self._next - 1

    def work(self) -> None:
        """A probe thread: checks in turn until none is left, the budget has ended or the run is over."""
        while (i := self._take()) is not None:
            check = self.checks[i]
            try:
                result = run_check(check, self.outputs, self.stop, self.clock, deny=self.policy.deny,
                                   allow=self.policy.allow, not_after=self.budget_end, sockets=self.sockets)
            except Exception as exc:  # noqa: BLE001 - a probe's own fault fails its check, not the reconcile
                result = CheckResult(check.name, FAILED, _shown(check, self.outputs),
                                     f"probe error: {type(exc).__name__}")
            with self._lock:
                self._results[i] = result
                self._finished += 1
                if self._finished == len(self.checks):
                    self._done.set()

    def wait(self) -> None:
        """Until every check has a result, the budget (and its slack) has ended, or `stop` is set."""
        while not self.stop.is_set():
            left = self.budget_end + COLLECT_SLACK - self.clock()
            if left <= 0 or self._done.wait(min(left, RETRY_EVERY)):
                return

    def result(self, i: int) -> CheckResult:
        with self._lock:
            result, started = self._results[i], self._started[i]
        if result is not None:
            return result
        check = self.checks[i]
        why = "its probe did not end in time (a name lookup that hangs?)" if started else \
            "it had not started when the checks before it had used the time up: shorten the timeouts of " \
            "failing checks or check less"
        if self.stop.is_set():
            why = "the controller is stopping"
        return CheckResult(check.name, FAILED, _shown(check, self.outputs),
                           f"not run to the end: the health checks of one reconcile may take "
                           f"{self.policy.budget:.0f}s in all ({MAX_PARALLEL} at a time); {why}")


def _shown(check: HealthCheck, outputs: Mapping[str, Any]) -> str:
    """The check's target as messages show it (sensitive outputs masked), without probing."""
    try:
        return scrub(render(check.target, outputs)[1])
    except ValueError:
        return scrub(check.target)


def run_check(check: HealthCheck, outputs: Mapping[str, Any], stop: threading.Event | None = None,
              clock: Callable[[], float] = time.monotonic, *, deny: tuple[IPNetwork, ...] = DEFAULT_DENY,
              allow: tuple[IPNetwork, ...] = (), not_after: float | None = None,
              sockets: Sockets | None = None) -> CheckResult:
    """Render, then probe until it passes or `check.timeout` has passed (or `stop` is set, or the clock
    reaches `not_after`: the reconcile's budget). Invalid, without a retry, when the target renders to
    nothing probeable or resolves to an address `deny` covers."""
    try:
        target, shown, secrets = render(check.target, outputs)
    except ValueError as exc:  # TemplateError (a missing output or key), or a template the parse let through
        return CheckResult(check.name, INVALID, scrub(check.target), f"{check.field}: {exc}")
    shown = scrub(shown)  # a URL's userinfo (`https://user:***@host`) is a secret too
    if not _probeable(check, target):  # the message shows the masked form only, never the rendered one
        want = "host:port" if check.type == TCP else "an absolute http:// or https:// URL without credentials"
        return CheckResult(check.name, INVALID, shown, f"{check.field}: renders {shown!r}, which is not {want}")
    stop = stop or threading.Event()
    deadline = clock() + check.timeout if not_after is None else min(clock() + check.timeout, not_after)
    while True:
        left = max(0.1, deadline - clock())
        try:
            why = probe_tcp(target, left, deny, allow=allow, sockets=sockets) if check.type == TCP else \
                probe_http(target, check.expected_status, left, deny, allow=allow, sockets=sockets)
        except AddressDenied as exc:
            return CheckResult(check.name, INVALID, shown, scrub(f"{check.field}: {exc}", secrets))
        if not why:
            return CheckResult(check.name, PASSED, shown)
        wait = min(RETRY_EVERY, deadline - clock())
        if wait <= 0 or stop.wait(wait) or (sockets is not None and sockets.closed):
            return CheckResult(check.name, FAILED, shown, scrub(why, secrets))


def _probeable(check: HealthCheck, target: str) -> bool:
    if check.type != TCP:
        return not http_target_problem(target)
    try:
        tcp_target(target)
    except ValueError:
        return False
    return True


def controller_policy(environ: Mapping[str, str] | None = None, api_server_url: str | None = None,
                      deny: tuple[IPNetwork, ...] = (), allow: tuple[IPNetwork, ...] = ()) -> ProbePolicy:
    """The policy of a controller (review s19, finding 3): DEFAULT_DENY, the controller's own and the API
    server's addresses and `deny` (`--health-check-deny-cidrs`, which adds) are all denied, less the
    exceptions of `allow` (`--health-check-allow-cidrs`). Also the default of a controller built in code."""
    own = controller_networks(os.environ if environ is None else environ, api_server_url)
    return ProbePolicy(deny=tuple(dict.fromkeys(DEFAULT_DENY + own + deny)), allow=allow)


def controller_networks(environ: Mapping[str, str], api_server_url: str | None = None) -> tuple[IPNetwork, ...]:
    """The controller's own addresses and the API server's, which probes may not reach by default (review
    s19, finding 3: the controller's metrics, health and run API ports listen on every interface, and the
    API server answers the controller's network position): the Pod IPs the downward API gives (`POD_IP`,
    `POD_IPS`) together with every address of the host's interfaces (the same in a Pod; more with
    hostNetwork or outside a cluster), and `KUBERNETES_SERVICE_HOST` and the kubeconfig server's host
    (resolved now, once; a name that does not resolve adds nothing)."""
    texts = [*environ.get(POD_IP_ENV, "").split(","), *environ.get(POD_IPS_ENV, "").split(","),
             *interface_addresses(), environ.get("KUBERNETES_SERVICE_HOST", "")]
    host = urlsplit(api_server_url).hostname if api_server_url else None
    if host:
        texts.extend(_addresses_of(host))
    return host_networks(texts)


def _addresses_of(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]
    except (OSError, UnicodeError):
        return []


def interface_addresses(proc: str = "/proc/net") -> list[str]:
    """Every address of this host's (or Pod's) interfaces: Linux's /proc tables, and what the host name
    resolves to (the Pod IP in a Pod's /etc/hosts) where they cannot be read."""
    found: list[str] = []
    for name, parse in (("fib_trie", local_ipv4_of_fib_trie), ("if_inet6", ipv6_of_if_inet6)):
        try:
            with open(f"{proc}/{name}", encoding="ascii", errors="replace") as f:
                found.extend(parse(f.read()))
        except OSError:
            pass
    return found + _addresses_of(socket.gethostname())


def local_ipv4_of_fib_trie(text: str) -> list[str]:
    """The local IPv4 addresses in /proc/net/fib_trie: each leaf `|-- a.b.c.d` followed by `/32 host LOCAL`."""
    found: list[str] = []
    leaf = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|-- "):
            leaf = stripped[4:].strip()
        elif stripped.startswith("/32 host LOCAL") and leaf and leaf not in found:
            found.append(leaf)
    return found


def ipv6_of_if_inet6(text: str) -> list[str]:
    """The IPv6 addresses in /proc/net/if_inet6 (32 hex digits first on each line)."""
    found: list[str] = []
    for line in text.splitlines():
        word = line.split(maxsplit=1)[0] if line.strip() else ""
        if len(word) == 32:
            try:
                found.append(str(ipaddress.IPv6Address(int(word, 16))))
            except ValueError:
                continue
    return found
