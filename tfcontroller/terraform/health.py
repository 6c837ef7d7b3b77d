"""Probes of `spec.healthChecks` (issue 20): does what a module applied answer?

`run_checks` renders each check's template from the outputs (api/healthchecks.py), then probes them in
parallel (at most `MAX_PARALLEL` at once), each for up to its `timeout`: a TCP connect, or an HTTP GET whose
status must equal `expectedStatus` (any 2xx when unset). A probe that fails is tried again every second
until its timeout, so a resource that has just been created gets that long to come up.

A probe is the controller reaching out on behalf of whoever may create a Terraform (review of issue 20,
finding 3), so it gives them as little as it can:
- *where*: the target's name is resolved once per attempt, every address is checked against the deny list
  (`ProbePolicy.deny`, the controller's `--health-check-deny-cidrs`: loopback, link-local and the cloud
  metadata addresses by default), and the connection goes to a checked address — never through a second
  resolution that could answer differently. A denied address makes the check *invalid*: no retry helps,
  the target (or the flag) must change. HTTP keeps the name for the `Host` header and TLS (SNI and the
  certificate check), so pinning the address changes nothing for a real service.
- *how*: `http.client` directly, not urllib: no proxy (the controller's `HTTP(S)_PROXY` and its
  `Proxy-Authorization` never reach a probe), no redirect followed (a 3xx is the answer: set
  `expectedStatus` to it), no cookie, no credential; the body is never read.
- *how long*: all checks of one reconcile share `ProbePolicy.budget` (60s, the longest one check may
  take), so failing checks cannot hold a reconcile worker for minutes; a check not finished within it
  fails with a reason saying so.

Every message shows the target with sensitive outputs masked, with sensitive values scrubbed from error
texts as well (design.md §4.7). A check whose template cannot be rendered (the module lost an output) or
renders no valid target is *invalid* too.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tfcontroller.api.healthchecks import (
    DEFAULT_DENY,
    DENY_CIDRS_FLAG,
    MAX_TIMEOUT,
    TCP,
    HealthCheck,
    IPNetwork,
    denied_network,
    http_target_problem,
    render,
    tcp_target,
)
from tfcontroller.api.redact import scrub

RETRY_EVERY = 1.0
MAX_PARALLEL = 8  # probe threads of one reconcile
PASSED, FAILED, INVALID = "Passed", "Failed", "Invalid"
USER_AGENT = "tfcontroller-health-check"

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
    """What the controller lets health checks do: the networks no probe may connect to (empty: none), and
    the time all checks of one reconcile may take together, in seconds."""

    deny: tuple[IPNetwork, ...] = DEFAULT_DENY
    budget: float = MAX_TIMEOUT


class AddressDenied(Exception):
    """The target resolves to an address the deny list covers: the check is invalid, not failing."""


def resolve(host: str, port: int, deny: tuple[IPNetwork, ...]) -> list[Address]:
    """The addresses to connect to for `host:port`, each checked against `deny`: AddressDenied when any of
    them is denied (a name that resolves to a public and a denied address is refused: which one a
    connection would use is not ours to choose); OSError (socket.gaierror) when the name does not resolve."""
    seen: list[Address] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = str(sockaddr[0])
        if (net := denied_network(ip, deny)) is not None:
            shown = f"{ip} is in {net}" if ip == host else f"{host} resolves to {ip}, in {net}"
            raise AddressDenied(
                f"{shown}, which health checks may not reach (the controller's {DENY_CIDRS_FLAG}): "
                "point the check at the service's own address, or have the controller's operator change the flag")
        if (family, sockaddr) not in seen:
            seen.append((family, sockaddr))
    if not seen:
        raise OSError(f"{host} has no IPv4 or IPv6 address")
    return seen


def connect(addresses: Sequence[Address], timeout: float) -> socket.socket:
    """A TCP connection to the first of `addresses` that accepts within what is left of `timeout`; the
    last OSError when none does."""
    deadline = time.monotonic() + timeout
    error: OSError = OSError("no address to connect to")
    for family, sockaddr in addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(left)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to a checked address; `host` (the name) stays the Host header."""

    def __init__(self, host: str, port: int, addresses: Sequence[Address], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = connect(self._addresses, float(self.timeout or MAX_TIMEOUT))


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address; `host` (the name) is the SNI, the name the certificate is
    verified for and the Host header."""

    def __init__(self, host: str, port: int, addresses: Sequence[Address], timeout: float) -> None:
        self._tls = ssl.create_default_context()  # verifies the certificate for `host`; SSL_CERT_FILE honoured
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._addresses = addresses

    def connect(self) -> None:
        sock = connect(self._addresses, float(self.timeout or MAX_TIMEOUT))
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def probe_tcp(address: str, timeout: float, deny: tuple[IPNetwork, ...] = DEFAULT_DENY) -> str:
    """"" when a TCP connection to `address` opens within `timeout`, else why not (a bad address, a
    ValueError or UnicodeError, is a reason too). AddressDenied when it resolves to a denied address."""
    try:
        host, port = tcp_target(address)
        with connect(resolve(host, port, deny), timeout):
            return ""
    except OSError as exc:
        return _os_error(exc)
    except ValueError as exc:  # UnicodeError of a host name IDNA cannot encode, a bad port
        return f"invalid address: {exc}"


def probe_http(url: str, expected: int | None, timeout: float, deny: tuple[IPNetwork, ...] = DEFAULT_DENY) -> str:
    """"" when GET `url` answers `expected` (any 2xx when None) within `timeout`, else why not (a bad URL,
    a ValueError or UnicodeError, is a reason too). AddressDenied when its host resolves to a denied
    address. No proxy, no redirect, no body read."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port if parts.port is not None else _default_port(parts.scheme)
        status = get_status(url, resolve(host, port, deny), timeout)
    except OSError as exc:  # ssl.SSLError and socket.gaierror included
        return _os_error(exc)
    except http.client.HTTPException as exc:
        return f"{type(exc).__name__}: {exc}"
    except ValueError as exc:  # UnicodeError of a host IDNA cannot encode, a non-ASCII path, a bad port
        return f"invalid URL: {type(exc).__name__}: {exc}"
    if (status == expected) if expected is not None else 200 <= status < 300:
        return ""
    return f"HTTP status {status}, expected {expected if expected is not None else '2xx'}"


def get_status(url: str, addresses: Sequence[Address], timeout: float) -> int:
    """The status of GET `url` from a connection to one of `addresses` (already checked: the URL's host is
    not looked up again), the host keeping its part as Host header and TLS name; the body is not read."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    connection = (_PinnedHTTPS if https else _PinnedHTTP)(
        parts.hostname or "", parts.port if parts.port is not None else _default_port(parts.scheme), addresses,
        timeout)
    try:
        connection.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                           headers={"User-Agent": USER_AGENT})
        return int(connection.getresponse().status)
    finally:
        connection.close()


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _os_error(exc: OSError) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return exc.strerror or str(exc) or type(exc).__name__


def run_checks(checks: Sequence[HealthCheck], outputs: Mapping[str, Any],
               stop: threading.Event | None = None, policy: ProbePolicy = ProbePolicy(),
               clock: Callable[[], float] = time.monotonic) -> list[CheckResult]:
    """Every check's result, in spec order, probed in parallel within `policy.budget` in all: a check
    cut short by the budget ends with what its last attempt said, one not started (or stuck, e.g. in a
    name lookup) fails with a reason naming the budget. Returns by the budget's end even then: the
    worker is not held for the stuck probe, which ends on its own."""
    if not checks:
        return []
    budget_end = clock() + policy.budget
    stop = stop or threading.Event()
    pool = ThreadPoolExecutor(max_workers=min(len(checks), MAX_PARALLEL), thread_name_prefix="health-check")
    try:  # each probe ends by budget_end (its deadline); the wait's slack covers the last socket timeout
        futures = [pool.submit(_budgeted, check, outputs, stop, policy.deny, budget_end, clock)
                   for check in checks]
        wait_futures(futures, timeout=max(0.0, budget_end - clock()) + RETRY_EVERY)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [_result_of(future, check, outputs, policy.budget) for future, check in zip(futures, checks, strict=True)]


def _budgeted(check: HealthCheck, outputs: Mapping[str, Any], stop: threading.Event,
              deny: tuple[IPNetwork, ...], budget_end: float, clock: Callable[[], float]) -> CheckResult | None:
    """`run_check` within what is left of the budget; None when nothing is left to start it with."""
    if stop.is_set() or budget_end - clock() <= 0:
        return None
    return run_check(check, outputs, stop, clock, deny=deny, not_after=budget_end)


def _result_of(future: Future[CheckResult | None], check: HealthCheck, outputs: Mapping[str, Any],
               budget: float) -> CheckResult:
    result = future.result() if future.done() and not future.cancelled() else None
    if result is not None:
        return result
    return CheckResult(check.name, FAILED, _shown(check, outputs),
                       f"not run to the end: the health checks of one reconcile may take {budget:.0f}s in all "
                       f"({MAX_PARALLEL} at a time); shorten the timeouts of failing checks or check less")


def _shown(check: HealthCheck, outputs: Mapping[str, Any]) -> str:
    """The check's target as messages show it (sensitive outputs masked), without probing."""
    try:
        return scrub(render(check.target, outputs)[1])
    except ValueError:
        return scrub(check.target)


def run_check(check: HealthCheck, outputs: Mapping[str, Any], stop: threading.Event | None = None,
              clock: Callable[[], float] = time.monotonic, *, deny: tuple[IPNetwork, ...] = DEFAULT_DENY,
              not_after: float | None = None) -> CheckResult:
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
            why = probe_tcp(target, left, deny) if check.type == TCP else \
                probe_http(target, check.expected_status, left, deny)
        except AddressDenied as exc:
            return CheckResult(check.name, INVALID, shown, scrub(f"{check.field}: {exc}", secrets))
        if not why:
            return CheckResult(check.name, PASSED, shown)
        wait = min(RETRY_EVERY, deadline - clock())
        if wait <= 0 or stop.wait(wait):
            return CheckResult(check.name, FAILED, shown, scrub(why, secrets))


def _probeable(check: HealthCheck, target: str) -> bool:
    if check.type != TCP:
        return not http_target_problem(target)
    try:
        tcp_target(target)
    except ValueError:
        return False
    return True
