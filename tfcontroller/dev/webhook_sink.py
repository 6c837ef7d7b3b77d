"""A webhook receiver on loopback: records every POST, checks the webhook signature, and shows what arrived.

Why it exists: `make demo` points a `webhook` NotificationProvider at it, so a person sees the pending-plan
and drift notifications the controller sends (`describe`: one readable block per notification, the
signature checked with the provider's HMAC key); and the tests use the same server as the stand-in for
Slack, Teams, Discord, a webhook receiver or Flux's event API (tests/fixtures/http_receiver.py wraps it in
pytest fixtures), so there is one receiver, not two.

What it does, all on 127.0.0.1 (a free port unless told one):
- records each POST after reading its body (method, path, headers, body, its arrival time, the status it
  answered, and the signature check: `verified`, `mismatch`, `missing`, or "" without a key), optionally
  saving each body as a `.json` file; `on_request` is called with each record (the demo prints a line);
- answers 200 unless told otherwise: `fail_next(n, status, headers=..., body=...)` answers the next `n`
  requests with `status` (500, 429 with `Retry-After`, 400 …), `delay_next(n, seconds)` holds answers;
- `stop()` / `start()` take it down and up on the same port (a receiver that is down, then up);
- optional TLS (`tls`: any object with `cert_file` and `key_file`).

The signature is the webhook format's own (notify/formats/webhook.py: `X-Tfcontroller-Signature:
sha256=<hex>` of the body bytes), checked with its `verify` (constant-time), so the receiver checks exactly
what the product signs. Development tool: the product never imports tfcontroller.dev (.importlinter).
"""

from __future__ import annotations

import itertools
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from tfcontroller.api.plan_counts import counts_text
from tfcontroller.notify.formats import webhook

HOST = "127.0.0.1"
MAX_DIFF_SHOWN = 15  # diff lines `describe` prints (the rest is counted): the block stays readable in a console
VERIFIED, MISMATCH, MISSING = "verified", "mismatch", "missing"


class TLSLike(Protocol):
    """A server certificate and its key (tests/fixtures/smtp.TLSFiles fits)."""

    @property
    def cert_file(self) -> str: ...
    @property
    def key_file(self) -> str: ...


@dataclass(frozen=True)
class Recorded:
    """One request as it arrived, with what the receiver answered and the signature check."""

    method: str
    path: str  # as sent: an absolute URL when the receiver is used as a proxy
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    signature: str = ""  # verified | mismatch | missing; "" when the receiver has no key
    at: float = 0.0  # time.monotonic() when its body was read, in the server's thread (gaps between requests)

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300


def signature_state(body: bytes, headers: Mapping[str, str], key: str | bytes | None) -> str:
    """The signature check of one request: "" without a key; `missing` when the header is absent;
    `verified` when it is the HMAC-SHA256 of `body` with `key`; `mismatch` otherwise (a wrong key, or a
    body changed on the way)."""
    if not key:
        return ""
    sent = next((v for k, v in headers.items() if k.lower() == webhook.SIGNATURE_HEADER.lower()), None)
    if sent is None:
        return MISSING
    return VERIFIED if webhook.verify(body, key, sent) else MISMATCH


@dataclass
class _Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class WebhookSink:
    """The receiver (see the module docstring). Thread-safe: the server answers on its own threads."""

    def __init__(self, *, key: str | bytes | None = None, tls: TLSLike | None = None, host: str = HOST,
                 port: int = 0, outdir: Path | None = None,
                 on_request: Callable[[Recorded], None] | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)  # fixed now, so that stop() then start() keeps the URL
        self.tls = tls
        self.key = key
        self.outdir = Path(outdir) if outdir else None
        if self.outdir:
            self.outdir.mkdir(parents=True, exist_ok=True)
        self.on_request = on_request
        self._cond = threading.Condition()
        self._requests: list[Recorded] = []
        self._answers: list[_Answer] = []
        self._numbers = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def requests(self) -> list[Recorded]:
        with self._cond:
            return list(self._requests)

    def delivered(self) -> list[Recorded]:
        """The requests answered 2xx."""
        return [r for r in self.requests if r.delivered]

    def fail_next(self, n: int, status: int, *, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        with self._cond:
            self._answers.extend(_Answer(status, dict(headers or {}), body) for _ in range(n))

    def delay_next(self, n: int, seconds: float) -> None:
        with self._cond:
            self._answers.extend(_Answer(200, delay=seconds) for _ in range(n))

    def wait_until(self, match: Callable[[Recorded], bool], timeout: float) -> Recorded | None:
        """The first recorded request `match` accepts, waiting up to `timeout` seconds for it (None then)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = next((r for r in self._requests if match(r)), None)
                left = deadline - time.monotonic()
                if found is not None or left <= 0:
                    return found
                self._cond.wait(left)

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> WebhookSink:
        server = ThreadingHTTPServer((self.host, self.port), self._handler())
        server.daemon_threads = True
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls.cert_file, self.tls.key_file)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="webhook-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # ---------------------------------------------------------------- the server's side
    def _next_answer(self) -> _Answer:
        with self._cond:
            return self._answers.pop(0) if self._answers else _Answer(200, body=b"ok")

    def _record(self, rec: Recorded) -> None:
        """Save, announce, then record: whoever waits for this request (`wait_until`) wakes after the
        announcement, so the demo's "received" line comes before what the tour prints about it."""
        if self.outdir is not None and rec.delivered:
            (self.outdir / f"{next(self._numbers):03d}-{_file_label(rec)}.json").write_bytes(rec.body)
        if self.on_request is not None:
            self.on_request(rec)
        with self._cond:
            self._requests.append(rec)
            self._cond.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                at = time.monotonic()
                answer = sink._next_answer()
                if answer.delay:
                    time.sleep(answer.delay)
                headers = dict(self.headers.items())
                sink._record(Recorded("POST", self.path, headers, body, answer.status,
                                      signature_state(body, headers, sink.key), at))
                try:
                    self.send_response(answer.status)
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout): what it sent is recorded

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def _file_label(rec: Recorded) -> str:
    """`<type>-<name>` of a webhook document, for the saved file's name ("request" for anything else)."""
    try:
        doc = rec.json()
        label = f"{doc['type']}-{doc['involvedObject']['name']}"
    except (ValueError, KeyError, TypeError):
        return "request"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[:80]


# -------------------------------------------------------------------- showing what arrived
def notification_of(rec: Recorded) -> dict[str, Any] | None:
    """The webhook document a request carried, or None when it is not one (another format, not JSON)."""
    try:
        doc = rec.json()
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("kind") != webhook.KIND or "type" not in doc:
        return None
    return doc


def signature_text(state: str) -> str:
    return {VERIFIED: "signature verified", MISMATCH: "SIGNATURE MISMATCH", MISSING: "NOT SIGNED"}.get(
        state, "signature not checked")


def headline(rec: Recorded) -> str:
    """One line per request: the event type, the object and the signature check (the demo's live line)."""
    doc = notification_of(rec)
    if doc is None:
        return f"{rec.method} {rec.path} ({len(rec.body)} bytes, not a tfcontroller notification)"
    obj = doc.get("involvedObject") or {}
    return (f"{doc['type']} {obj.get('kind', '?')} {obj.get('namespace', '?')}/{obj.get('name', '?')} "
            f"({signature_text(rec.signature)})")


def describe(rec: Recorded, max_diff: int = MAX_DIFF_SHOWN) -> str:
    """One readable block for a received notification: the headline, the message, then what the document
    carries of a plan (id, counts, diff lines — at most `max_diff`, the rest counted —, policy, the approve
    commands, the plan's page) and of drift (resources)."""
    doc = notification_of(rec)
    if doc is None:
        return headline(rec)
    out = [f"WEBHOOK  {headline(rec)}", f"  {doc.get('title', '')}", f"  {doc.get('message', '')}"]
    plan = doc.get("plan")
    if isinstance(plan, dict):
        out += _plan_lines(plan, max_diff)
    drift = doc.get("drift")
    if isinstance(drift, dict) and drift.get("resources"):
        out.append(f"  drift:    {', '.join(drift['resources'])}")
    return "\n".join(out)


def _plan_lines(plan: Mapping[str, Any], max_diff: int) -> list[str]:
    counts = plan.get("counts") or {}
    text = counts_text(*(int(counts.get(k) or 0) for k in ("add", "change", "destroy", "import", "move")))
    out = [f"  plan:     {plan.get('id', '')} ({text})"]
    diff = [ln for ln in plan.get("diff") or [] if isinstance(ln, dict)]
    if diff:
        out.append("  diff:")
        out += ["    " + "  " * int(ln.get("indent") or 0) + str(ln.get("text", "")) for ln in diff[:max_diff]]
        left = len(diff) - len(diff[:max_diff]) + int(plan.get("diffOmitted") or 0)
        if left:
            out.append(f"    … {left} more line{'s' if left != 1 else ''} (`tfcontroller plan show` shows them)")
    policy = plan.get("policy")
    if isinstance(policy, dict) and policy.get("result"):
        out.append(f"  policy:   {policy['result']}")
    commands = [str(plan[k]) for k in ("cliApproveCommand", "approveCommand") if plan.get(k)]
    out += [f"  {'approve:' if i == 0 else '':9} {c}" for i, c in enumerate(commands)]
    if plan.get("url"):
        out.append(f"  page:     {plan['url']}")
    return out
