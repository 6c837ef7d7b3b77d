"""Probes of `spec.healthChecks` (issue 20): does what a module applied answer?

`run_checks` renders each check's template from the outputs (api/healthchecks.py), then probes all of
them at once, each for up to its `timeout`: a TCP connect, or an HTTP GET whose status must equal
`expectedStatus` (any 2xx when unset). A probe that fails is tried again every second until its timeout,
so a resource that has just been created gets that long to come up; the whole run takes about the
longest timeout, not their sum.

What the probe reports is the outcome only: the HTTP body is never read, redirects are not followed (a
3xx is the answer: set `expectedStatus` to it), and every message shows the target with sensitive
outputs masked, with sensitive values scrubbed from error texts as well (design.md §4.7). A check whose
template cannot be rendered (the module lost an output) or renders no valid target is *invalid*: no
probe can pass until the module or the spec changes.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.healthchecks import (
    TCP,
    HealthCheck,
    http_target_problem,
    render,
    tcp_target,
)
from tfcontroller.api.redact import scrub

RETRY_EVERY = 1.0
PASSED, FAILED, INVALID = "Passed", "Failed", "Invalid"


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: str  # PASSED | FAILED | INVALID
    target: str  # as shown: sensitive outputs masked
    detail: str = ""  # why it failed (scrubbed)

    def describe(self) -> str:
        """`name (target): detail` for a condition message."""
        return f"{self.name} ({self.target}): {self.detail}" if self.detail else f"{self.name} ({self.target})"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer, not something to follow to a host the check did not name."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def probe_tcp(address: str, timeout: float) -> str:
    """"" when a TCP connection to `address` opens within `timeout`, else why not (never raises on a bad
    address: a ValueError, UnicodeError included, is a reason too)."""
    try:
        host, port = tcp_target(address)
        with socket.create_connection((host, port), timeout=timeout):
            return ""
    except OSError as exc:
        return _os_error(exc)
    except ValueError as exc:  # UnicodeError of a host name IDNA cannot encode, a bad port
        return f"invalid address: {exc}"


def probe_http(url: str, expected: int | None, timeout: float) -> str:
    """"" when GET `url` answers `expected` (any 2xx when None) within `timeout`, else why not (never raises
    on a bad URL: a ValueError, UnicodeError included, is a reason too)."""
    try:
        request = urllib.request.Request(url, method="GET", headers={"User-Agent": "tfcontroller-health-check"})
        with _OPENER.open(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
        exc.close()
    except urllib.error.URLError as exc:
        reason = exc.reason
        return _os_error(reason) if isinstance(reason, OSError) else str(reason)
    except (OSError, http.client.HTTPException) as exc:
        return _os_error(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
    except ValueError as exc:  # UnicodeError of a host IDNA cannot encode, a non-ASCII path, a bad port
        return f"invalid URL: {type(exc).__name__}: {exc}"
    if (status == expected) if expected is not None else 200 <= status < 300:
        return ""
    return f"HTTP status {status}, expected {expected if expected is not None else '2xx'}"


def _os_error(exc: OSError) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return exc.strerror or str(exc) or type(exc).__name__


def run_checks(checks: Sequence[HealthCheck], outputs: Mapping[str, Any],
               stop: threading.Event | None = None) -> list[CheckResult]:
    """Every check's result, in spec order (probed in parallel)."""
    if not checks:
        return []
    with ThreadPoolExecutor(max_workers=min(len(checks), 8), thread_name_prefix="health-check") as pool:
        return list(pool.map(lambda check: run_check(check, outputs, stop), checks))


def run_check(check: HealthCheck, outputs: Mapping[str, Any], stop: threading.Event | None = None,
              clock: Callable[[], float] = time.monotonic) -> CheckResult:
    """Render, then probe until it passes or `check.timeout` has passed (or `stop` is set)."""
    try:
        target, shown, secrets = render(check.target, outputs)
    except ValueError as exc:  # TemplateError (a missing output or key), or a template the parse let through
        return CheckResult(check.name, INVALID, scrub(check.target), f"{check.field}: {exc}")
    shown = scrub(shown)  # a URL's userinfo (`https://user:***@host`) is a secret too
    if not _probeable(check, target):  # the message shows the masked form only, never the rendered one
        want = "host:port" if check.type == TCP else "an absolute http:// or https:// URL without credentials"
        return CheckResult(check.name, INVALID, shown, f"{check.field}: renders {shown!r}, which is not {want}")
    stop = stop or threading.Event()
    deadline = clock() + check.timeout
    while True:
        left = max(0.1, deadline - clock())
        why = probe_tcp(target, left) if check.type == TCP else probe_http(target, check.expected_status, left)
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
