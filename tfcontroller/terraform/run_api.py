"""The run API: the HTTPS endpoint through which runner Pods and the controller exchange plans and results.

Why a channel to the controller and not a Secret in the tenant's namespace (docs/architecture.md, "How plans
travel and are stored"): the plan-encryption key never leaves the controller, so a plan run hands its plan
file to the controller (which stores it encrypted) and an apply run fetches it back, both over TLS, each
request authenticated as *the run's own Pod*:

- `GET /v1/runs/{run_id}/plan`: the plan the controller offered for the run (`offer_plan`), 200
  application/octet-stream, 404 when none;
- `GET /v1/runs/{run_id}/artifact`: the source artifact the controller offered for the run
  (`offer_artifact`: its cached copy, when the GitRepository's artifact server no longer has it — a destroy
  on deletion after the GitRepository is gone), 200 application/gzip, 404 when none;
- `PUT /v1/runs/{run_id}/result`: `{"result": RunResult.to_dict(), "plan": base64 | null}`, 204; a repeated
  PUT of a run already delivered is 204 and keeps the first (a runner retrying after a lost answer).

Every request carries `Authorization: Bearer <projected token of audience RUNNER_AUDIENCE>`; the API server's
TokenReview and the runner's Pod decide (`run_api_auth.py`): 401 without a valid Pod-bound token, 403 when
the Pod is not the run's runner; the body says why, the controller's log too (Warning), never the token.
Results and plans are kept in memory until `forget` (a plan is a few MB; a body over `max_body` is 413, and
deliveries beyond `max_held` bytes in all wait with 503 until others are forgotten) and handed to `wait`ers. The TLS material lives in the Secret `tfcontroller-run-api` (`run_api_tls.py`), so a
new leader serves a certificate the runners in flight already trust.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socket import socket
from typing import Any

from tfcontroller.api.addresses import parse_addr
from tfcontroller.api.run_protocol import RequestInvalid, RunResult
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, NotFound
from tfcontroller.kube.resources import PODS, TOKENREVIEWS
from tfcontroller.terraform.run_api_auth import (
    LABEL_RUN_ID,
    RUNNER_AUDIENCE,
    Refusal,
    RunExpectation,
    RunnerIdentity,
    authorise,
    identity_from_review,
)
from tfcontroller.terraform.run_api_tls import TlsMaterial, ensure_tls, serving_hosts

__all__ = ["LABEL_RUN_ID", "RUNNER_AUDIENCE", "Delivered", "RunApi", "RunExpectation"]

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024 * 1024
MAX_HELD = 1024 * 1024 * 1024  # deliveries held, not yet forgotten, all runs together
DRAIN_SECONDS = 30.0  # at most this long reading the body of a refused request
REQUEST_TIMEOUT = 60.0  # seconds a connection may stay silent (TLS handshake, headers, body)
_PATH = re.compile(r"^/v1/runs/(?P<run_id>[a-z0-9][a-z0-9-]{0,62})/(?P<what>plan|artifact|result)$")


@dataclass(frozen=True)
class Delivered:
    """What a runner reported: its result, and for a plan run the plan file."""

    result: RunResult
    plan: bytes | None


class _Answer(Exception):
    """An HTTP answer other than success, raised out of the request's checks."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class _RunStore:
    """Offered plans, delivered results and expectations, under one Condition (wait/notify). Deliveries
    are held until forgotten, at most `max_held` bytes of them (bodies as received) at a time."""

    def __init__(self, max_held: int) -> None:
        self.cond = threading.Condition()
        self.plans: dict[str, bytes] = {}
        self.artifacts: dict[str, Path] = {}
        self.delivered: dict[str, Delivered] = {}
        self.sizes: dict[str, int] = {}
        self.expected: dict[str, RunExpectation] = {}
        self.max_held = max_held

    def deliver(self, run_id: str, delivered: Delivered, size: int) -> bool:
        """Keep the first delivery of a run; True when this one was the first. A delivery that would hold
        more than `max_held` bytes is 503: the runner retries once the controller has taken others."""
        with self.cond:
            if run_id in self.delivered:
                return False
            held = sum(self.sizes.values())
            if held + size > self.max_held:
                raise _Answer(503, "DeliveriesBacklogged",
                              f"the controller holds {held} bytes of results not yet taken; retry later")
            self.delivered[run_id] = delivered
            self.sizes[run_id] = size
            self.cond.notify_all()
            return True

    def forget(self, run_id: str) -> None:
        with self.cond:
            for held in (self.plans, self.artifacts, self.delivered, self.sizes, self.expected):
                held.pop(run_id, None)


class RunApi:
    """The controller's side of the run API (one per controller process, served by the leader)."""

    def __init__(self, kube: KubeClient, *, namespace: str, listen: str = "0.0.0.0:0",
                 advertise_url: str | None = None, max_body: int = MAX_BODY, max_held: int = MAX_HELD) -> None:
        self.kube = kube
        self.namespace = namespace
        self.listen = listen
        self.advertise_url = advertise_url.rstrip("/") if advertise_url else None
        self.max_body = max_body
        self._store = _RunStore(max_held)
        self._tls: TlsMaterial | None = None
        self._server: _TlsServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Read (or create, or renew) the TLS material, then serve in a thread."""
        self._tls = ensure_tls(self.kube, self.namespace, serving_hosts(self.namespace, self.advertise_url))
        server = _TlsServer(parse_addr(self.listen), _handler_for(self), _ssl_context(self._tls))
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="run-api", daemon=True)
        self._thread.start()
        log.info("run API serving at %s (listening on %s)", self.url, self.listen)

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the run API is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The https URL runners use: the advertise URL, else the loopback address and the port."""
        return self.advertise_url or f"https://127.0.0.1:{self.port}"

    @property
    def ca_pem(self) -> str:
        """The CA runners verify the server with (also in the Secret, so it survives a restart)."""
        if self._tls is None:
            raise RuntimeError("the run API is not started")
        return self._tls.ca_pem

    # ---- runs --------------------------------------------------------------------------------
    def expect(self, run_id: str, *, namespace: str, pod_name: str | None = None,
               pod_uid: str | None = None) -> None:
        """Bind a run to its namespace (and Pod, when known): its runner is then accepted only from there.
        Without it the run-id label alone decides (the id is a 64-bit secret of the namespace)."""
        with self._store.cond:
            self._store.expected[run_id] = RunExpectation(namespace, pod_name, pod_uid)

    def offer_plan(self, run_id: str, plan: bytes) -> None:
        """The plan file an apply run GETs."""
        with self._store.cond:
            self._store.plans[run_id] = bytes(plan)

    def offer_artifact(self, run_id: str, path: Path) -> None:
        """The source artifact a run GETs when its runner cannot download it from the artifact server: the
        controller's cached copy of a GitRepository that is gone or moved on (a destroy on deletion). Only
        the run's own Pod may fetch it (the same checks as the plan); the runner verifies its digest."""
        with self._store.cond:
            self._store.artifacts[run_id] = Path(path)

    def delivered(self, run_id: str) -> Delivered | None:
        """What the run's runner delivered, if it did (non-blocking; adoption after a restart)."""
        with self._store.cond:
            return self._store.delivered.get(run_id)

    def wait(self, run_id: str, timeout: float) -> Delivered | None:
        """Block until the run's result is delivered or `timeout` seconds pass (None then)."""
        with self._store.cond:
            self._store.cond.wait_for(lambda: run_id in self._store.delivered, timeout)
            return self._store.delivered.get(run_id)

    def forget(self, run_id: str) -> None:
        """Drop the offered plan, the delivered result and the expectation of a run that is over."""
        self._store.forget(run_id)

    # ---- request handling (called by the handler threads) ------------------------------------
    def _authorised(self, authorization: str | None, run_id: str) -> RunnerIdentity:
        """The caller's identity when it is the run's runner; raises the 401/403/503 answer otherwise."""
        token = _bearer(authorization)
        try:
            review = self.kube.create(TOKENREVIEWS, {
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                "spec": {"token": token, "audiences": [RUNNER_AUDIENCE]}})
        except ApiError as exc:
            raise _Answer(503, "TokenReviewFailed", f"cannot review the token now: {exc}") from None
        identity = identity_from_review(review.get("status"))
        if isinstance(identity, Refusal):
            raise _Answer(identity.status, identity.reason, identity.message)
        try:
            pod = self.kube.get(PODS, identity.pod_name, identity.namespace)
        except NotFound:
            pod = None
        except ApiError as exc:
            raise _Answer(503, "PodReadFailed", f"cannot read Pod {identity.pod} now: {exc}") from None
        with self._store.cond:
            expected = self._store.expected.get(run_id)
        refusal = authorise(identity, pod, run_id, expected)
        if refusal is not None:
            raise _Answer(refusal.status, refusal.reason, refusal.message)
        return identity

    def _plan_for(self, run_id: str) -> bytes:
        """The offered plan. A run this controller has not bound (`expect`) may be one a restarted controller
        has not taken over yet — it offers the plan again when it adopts the Pod — so that answer is 503 (the
        runner asks again until its patience ends), not a final 404 that would fail an apply a controller kill
        must not interrupt (issue 21's chaos run found the window)."""
        with self._store.cond:
            plan = self._store.plans.get(run_id)
            known = run_id in self._store.expected
        if plan is None and not known:
            raise _Answer(503, "PlanNotOfferedYet",
                          f"run {run_id} has not been taken over by this controller yet; ask again")
        if plan is None:
            raise _Answer(404, "PlanNotOffered", f"no plan is offered for run {run_id}")
        return plan

    def _artifact_for(self, run_id: str) -> bytes:
        with self._store.cond:
            path = self._store.artifacts.get(run_id)
        try:
            if path is not None:
                return path.read_bytes()
        except OSError as exc:
            raise _Answer(404, "ArtifactNotOffered", f"the artifact of run {run_id} is gone: {exc.strerror}") from None
        raise _Answer(404, "ArtifactNotOffered", f"no artifact is offered for run {run_id}")

    def _accept_result(self, run_id: str, body: bytes, identity: RunnerIdentity) -> None:
        delivered = parse_delivery(run_id, body)
        if self._store.deliver(run_id, delivered, len(body)):
            log.info("run %s: result %s/%s delivered by Pod %s", run_id, delivered.result.outcome,
                     delivered.result.reason, identity.pod)
        else:
            log.info("run %s: repeated delivery by Pod %s ignored (the first is kept)", run_id, identity.pod)


def parse_delivery(run_id: str, body: bytes) -> Delivered:
    """The PUT body as a `Delivered`, or the 400 answer naming what is wrong."""
    try:
        document = json.loads(body)
    except ValueError:
        raise _Answer(400, "BodyInvalid", "the body is not JSON") from None
    if not isinstance(document, dict):
        raise _Answer(400, "BodyInvalid", 'the body must be {"result": …, "plan": …}')
    try:
        result = RunResult.from_dict(document.get("result"))
    except (RequestInvalid, TypeError) as exc:
        raise _Answer(400, "ResultInvalid", f"result: {exc}") from None
    if result.run_id != run_id:
        raise _Answer(400, "ResultInvalid", f"result.run_id {result.run_id} is not the run of the URL ({run_id})")
    plan = document.get("plan")
    if plan is not None and not isinstance(plan, str):
        raise _Answer(400, "PlanInvalid", "plan must be base64 text or null")
    try:
        return Delivered(result, base64.b64decode(plan, validate=True) if plan is not None else None)
    except (binascii.Error, ValueError):
        raise _Answer(400, "PlanInvalid", "plan is not valid base64") from None


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _Answer(401, "TokenMissing",
                      f"an Authorization: Bearer header with the Pod's projected token (audience "
                      f"{RUNNER_AUDIENCE}) is required")
    return token.strip()


def _ssl_context(tls: TlsMaterial) -> ssl.SSLContext:
    """A server context from PEM texts (the ssl module loads a key pair only from files: a private
    temporary directory, removed at once)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="tfc-run-api-") as tmp:
        cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        cert.write_text(tls.cert_pem)
        key.touch(mode=0o600)
        key.write_text(tls.key_pem)
        context.load_cert_chain(cert, key)
    return context


class _TlsServer(ThreadingHTTPServer):
    """One thread per connection; the TLS handshake happens in that thread, so a slow client cannot hold
    up the accept loop."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 context: ssl.SSLContext) -> None:
        self.ssl_context = context
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket, Any]:
        sock, addr = super().get_request()
        return self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("run API: connection from %s failed", client_address, exc_info=True)


def _handler_for(api: RunApi) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT
        protocol_version = "HTTP/1.1"

        body_read = False

        def setup(self) -> None:
            super().setup()
            self.request.do_handshake()

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            self._serve("GET")

        def do_PUT(self) -> None:  # noqa: N802
            self._serve("PUT")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def _serve(self, method: str) -> None:
            started = time.monotonic()
            try:
                self._route(method)
            except _Answer as answer:
                self._refuse(answer)
            except Exception:  # noqa: BLE001 - one request, not the server
                log.exception("run API: %s %s failed", method, self.path)
                self._send(500, b"internal error\n", close=True)
            log.debug("run API: %s %s in %.3fs", method, self.path, time.monotonic() - started)

        def _route(self, method: str) -> None:
            found = _PATH.match(self.path)
            if found is None:
                raise _Answer(404, "NotFound", "no such path; the run API serves /v1/runs/{run_id}/plan|artifact|result")
            run_id, what = found["run_id"], found["what"]
            allowed = "PUT" if what == "result" else "GET"
            if method != allowed:
                raise _Answer(405, "MethodNotAllowed", f"{self.path} accepts {allowed} only")
            identity = api._authorised(self.headers.get("Authorization"), run_id)
            if what == "plan":
                self._send(200, api._plan_for(run_id), content_type="application/octet-stream")
                return
            if what == "artifact":
                self._send(200, api._artifact_for(run_id), content_type="application/gzip")
                return
            api._accept_result(run_id, self._body(), identity)
            self._send(204, b"")

        def _body(self) -> bytes:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise _Answer(411, "LengthRequired", "a Content-Length header is required")
            if int(length) > api.max_body:
                raise _Answer(413, "BodyTooLarge", f"the body is {length} bytes; at most {api.max_body} are accepted")
            self.body_read = True
            return self.rfile.read(int(length))

        def _refuse(self, answer: _Answer) -> None:
            log.warning("run API refused %s %s from %s: %s %s (%s)", self.command, self.path,
                        self.client_address[0], answer.status, answer.reason, answer.message)
            body = json.dumps({"reason": answer.reason, "message": answer.message}).encode() + b"\n"
            # an unread request body would be taken for the next request: close instead
            self._send(answer.status, body, content_type="application/json", close=True)
            self._drain()

        def _drain(self) -> None:
            """Read and drop the body of a refused request before closing (a lingering close, as web
            servers do): closing with unread data resets the connection, and a client still sending its
            plan would see a connection failure — which it retries — instead of the refusal. Bounded by
            `max_body` bytes and DRAIN_SECONDS."""
            length = self.headers.get("Content-Length") or ""
            if self.body_read or not length.isdigit():
                return
            left, until = min(int(length), api.max_body), time.monotonic() + DRAIN_SECONDS
            try:
                while left > 0 and time.monotonic() < until:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    left -= len(chunk)
            except OSError:
                pass

        def _send(self, status: int, body: bytes, *, content_type: str = "text/plain",
                  close: bool = False) -> None:
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if status != 204:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib naming
            return

    return _Handler
