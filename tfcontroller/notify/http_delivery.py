"""POSTing a notification over HTTP(S), and classifying what came back, for every chat and webhook
provider.

Why a module of its own: the outbox decides *when* to try again; this decides *whether* it can help,
from the answer alone, as data (`DeliveryResult`), the way kopf's client maps statuses to typed errors:
- 2xx: delivered;
- 408, 429, 5xx, a timeout, a refused or reset connection, a TLS or proxy failure: retryable, after the
  server's `Retry-After` (seconds or an HTTP-date) when it sent one, else the outbox's backoff;
- 400, 413, 422 (this payload is malformed or too large): permanent and *message-level*
  (`message_level=True`): sending this message again cannot succeed, but another message may, so one
  refused message must not block the provider for good (the outbox parks it after a second refusal);
- any other status (401/403 a revoked token, 404/410 a deleted webhook, a redirect: a misconfigured
  address): permanent and provider-level: no message can succeed until someone fixes the provider.
Either permanent answer reports the provider not Ready with the status and the first line of the body.
The messages never name the URL's path or query (Slack's, Discord's and Teams' webhook URLs *are* the
secret), only scheme, host and port, and every text is scrubbed (api/redact.py) with the provider's
secrets.

Transport: urllib3 (what the kubernetes client already uses), one pool per target, certificates always
verified (system store plus the provider's CA bundle, never switched off), an optional HTTP(S) proxy,
no redirects followed (a webhook that redirects is misconfigured, and following one would re-POST the
body to wherever it points).
"""

from __future__ import annotations

import email.utils
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

import urllib3

from tfcontroller.api.redact import scrub

Outcome = Literal["delivered", "retryable", "permanent"]

DEFAULT_TIMEOUT = 10.0
MAX_RETRY_AFTER = timedelta(hours=1)  # a server asking for longer is capped: the outbox looks again then
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=30)
_FIRST_LINE = 200
RETRYABLE_STATUSES = frozenset({408, 425})  # the server gave up waiting / asks to try later: not about us
MESSAGE_LEVEL_STATUSES = frozenset({400, 413, 422})  # this payload is refused; the provider works
MAX_BODY_READ = 8192


@dataclass(frozen=True)
class HTTPTarget:
    """Where to POST: the URL (holding a token, for most chat services), an optional proxy URL and CA
    bundle file, and the timeout for connecting and for reading the answer."""

    url: str = field(repr=False)
    proxy: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"notification address must be an http(s) URL with a host, not {where(self.url)!r}")
        if self.proxy and urlsplit(self.proxy).scheme not in ("http", "https"):
            raise ValueError("proxy must be an http(s) URL")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

    @property
    def where(self) -> str:
        return where(self.url)


@dataclass(frozen=True)
class DeliveryResult:
    """What one attempt came to. `reason` is CamelCase (condition and Event reason); `message` is safe
    for status (no URL path, no secret); `retry_after` is the server's requested delay, when it gave one."""

    outcome: Outcome
    reason: str
    message: str
    status: int | None = None
    retry_after: timedelta | None = None
    # a permanent answer about this message (400/413/422), not about the provider: other messages may pass
    message_level: bool = False

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"


def where(url: str) -> str:
    """`scheme://host:port` of a URL: what messages may name (the path and query may be the token)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def url_secrets(url: str) -> list[str]:
    """The parts of a provider URL to keep out of messages: the URL, its query, and its path unless it is
    short ("/", "/hook"): the path of a Slack, Discord or Teams webhook *is* its token."""
    parts = urlsplit(url)
    return [v for v in (url, parts.query, parts.path if len(parts.path) > 8 else "") if v]


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """`Retry-After` as a delay: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None when absent or
    unreadable; a date in the past is no delay; capped at MAX_RETRY_AFTER."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        delay = timedelta(seconds=int(text))
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = max(timedelta(0), when - now)
    return min(delay, MAX_RETRY_AFTER)


def first_line(body: bytes | str) -> str:
    """The first non-empty line of a response body, shortened: enough to say why (Slack answers
    `invalid_payload`, Discord a JSON error) without copying a page of HTML into status."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= _FIRST_LINE else line[: _FIRST_LINE - 1] + "…"
    return ""


def classify(status: int, headers: Mapping[str, str], body: bytes | str, *, target: str, now: datetime,
             secrets: Iterable[str | None] = ()) -> DeliveryResult:
    """The outcome of an HTTP answer (see the module docstring). Pure."""
    values = list(secrets)
    line = scrub(first_line(body), values)
    said = f": {line}" if line else ""
    if 200 <= status < 300:
        return DeliveryResult("delivered", "Delivered", f"{target} accepted the notification ({status})", status)
    retry_after = parse_retry_after(_header(headers, "Retry-After"), now)
    if status == 429:
        wait = f", retry after {int(retry_after.total_seconds())}s" if retry_after is not None else ""
        return DeliveryResult("retryable", "RateLimited", f"{target} answered 429 Too Many Requests{wait}{said}",
                              status, retry_after)
    if status >= 500 or status in RETRYABLE_STATUSES:
        return DeliveryResult("retryable", "ServerError" if status >= 500 else "RequestTimeout",
                              f"{target} answered {status}{said}", status, retry_after)
    return DeliveryResult("permanent", "Rejected", f"{target} refused the notification with {status}{said}", status,
                          message_level=status in MESSAGE_LEVEL_STATUSES)


def next_attempt_delay(attempts: int, result: DeliveryResult,
                       base: timedelta = BACKOFF_BASE, cap: timedelta = BACKOFF_MAX) -> timedelta:
    """How long to wait after `attempts` failed attempts, the last of which is `result`: the server's
    Retry-After when it gave one (it knows best, even beyond our cap, up to MAX_RETRY_AFTER), else
    exponential backoff from `base` doubling up to `cap`. Pure."""
    if result.retry_after is not None:
        return result.retry_after
    if attempts <= 0:
        return timedelta(0)
    delay: timedelta = min(cap, base * (2 ** min(attempts - 1, 30)))
    return delay


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _pool(target: HTTPTarget) -> urllib3.PoolManager:
    ctx = ssl.create_default_context()
    if target.ca_file:
        ctx.load_verify_locations(cafile=target.ca_file)
    # `total` bounds connect + each read together; a server dripping bytes still resets each read, so the
    # caller (the controller's Deliverer) also puts a wall-clock deadline on the whole attempt
    timeout = urllib3.Timeout(total=target.timeout, connect=target.timeout, read=target.timeout)
    if target.proxy:
        return urllib3.ProxyManager(target.proxy, ssl_context=ctx, timeout=timeout, retries=False)
    return urllib3.PoolManager(ssl_context=ctx, timeout=timeout, retries=False)


def post(target: HTTPTarget, body: bytes, headers: Mapping[str, str], *, secrets: Iterable[str | None] = (),
         now: datetime | None = None) -> DeliveryResult:
    """POST `body` once and classify the answer; never raises for a network failure (it is a result)."""
    values = [*secrets, *url_secrets(target.url), target.proxy]
    loc = target.where
    try:
        with _pool(target) as pool:
            response = pool.request("POST", target.url, body=body, headers=dict(headers), redirect=False,
                                    preload_content=False)
            answer = response.read(MAX_BODY_READ)  # enough for the first line; a huge error page is not read
            response.release_conn()
    except urllib3.exceptions.NewConnectionError as exc:  # before TimeoutError: urllib3 derives it from that
        return DeliveryResult("retryable", "ConnectionFailed",
                              scrub(f"could not connect to {loc}: {_short(exc)}", values))
    except urllib3.exceptions.TimeoutError:
        return DeliveryResult("retryable", "Timeout", f"{loc} did not answer within {target.timeout:g}s")
    except urllib3.exceptions.SSLError as exc:
        return DeliveryResult("retryable", "TLSFailed", scrub(f"TLS with {loc} failed: {_short(exc)}", values))
    except urllib3.exceptions.ProxyError as exc:
        return DeliveryResult("retryable", "ProxyFailed",
                              scrub(f"the proxy for {loc} failed: {_short(exc)}", values))
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return DeliveryResult("retryable", "ConnectionFailed",
                              scrub(f"could not reach {loc}: {_short(exc)}", values))
    return classify(response.status, dict(response.headers), answer or b"", target=loc,
                    now=now or datetime.now(UTC), secrets=values)


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason or exc) or type(exc).__name__
    return text.replace("\n", " ")[:200]
