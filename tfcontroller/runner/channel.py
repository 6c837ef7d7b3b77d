"""The runner's side of the run API (`terraform/run_api.py`): fetch the plan to apply, deliver the result.

A runner Pod trusts only the CA it was given (`ca.crt` of its per-run Secret) — no system trust store — so
it knows it talks to the controller; it authenticates with its Pod's projected token, read from the file
again on every attempt because the kubelet rotates it. The controller may be away for a while (a restart,
a leader hand-over), so both calls retry with exponential backoff (tenacity, at most 10 s apart) until the
caller's deadline: connection failures, 408, 429 and 5xx are retried; any other 4xx is final (the request
itself is wrong or refused, and will stay so), as is a certificate the CA does not vouch for.

No key of the controller is here (`.importlinter`: the runner imports neither crypto nor controllers).
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential

from tfcontroller.api.run_protocol import RunResult

log = logging.getLogger(__name__)

ATTEMPT_TIMEOUT = 60.0  # seconds one request may take (a plan of a few MB over a cluster network)
FETCH_PATIENCE = 120.0  # how long `fetch_plan` retries when the caller gives no deadline
RETRIED_STATUSES = frozenset({408, 429})
MAX_WAIT = 10.0


class ChannelError(Exception):
    """The run API could not be used; `final` when retrying cannot help (a refusal, a wrong CA)."""

    def __init__(self, message: str, *, status: int | None = None, final: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.final = final


def retryable(exc: BaseException) -> bool:
    """Whether another attempt may succeed (the tenacity predicate)."""
    return isinstance(exc, ChannelError) and not exc.final


def status_is_final(status: int) -> bool:
    """4xx other than 408/429 will not change by asking again; 5xx and those two may."""
    return 400 <= status < 500 and status not in RETRIED_STATUSES


class RunChannel:
    """HTTPS to the controller's run API, as the run's own Pod."""

    def __init__(self, url: str, ca_pem: str, token_file: Path) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ChannelError(f"the run API URL must be https://HOST[:PORT], got {url!r}", final=True)
        self.host, self.port = parts.hostname, parts.port or 443
        self.base_path = parts.path.rstrip("/")
        self.token_file = Path(token_file)
        self._context = ssl.create_default_context(cadata=ca_pem)  # this CA only, hostname checked

    def fetch_plan(self, run_id: str, *, deadline: float | None = None) -> bytes:
        """The plan file the controller offers for the run (an apply run), retried until `deadline`
        (time.monotonic(); default FETCH_PATIENCE from now)."""
        end = deadline if deadline is not None else time.monotonic() + FETCH_PATIENCE
        return self._retrying(end, lambda: self._request("GET", f"/v1/runs/{run_id}/plan", None, end))

    def fetch_artifact(self, run_id: str, *, deadline: float | None = None) -> bytes:
        """The source artifact the controller offers for the run (its cached copy of a GitRepository that
        is gone); the caller verifies its digest."""
        end = deadline if deadline is not None else time.monotonic() + FETCH_PATIENCE
        return self._retrying(end, lambda: self._request("GET", f"/v1/runs/{run_id}/artifact", None, end))

    def deliver(self, run_id: str, result: RunResult, plan: bytes | None, *, deadline: float) -> None:
        """PUT the result (and a plan run's plan file) until the controller takes it or `deadline` passes."""
        document = {"result": result.to_dict(),
                    "plan": base64.b64encode(plan).decode() if plan is not None else None}
        body = json.dumps(document).encode()
        self._retrying(deadline, lambda: self._request("PUT", f"/v1/runs/{run_id}/result", body, deadline))

    def _retrying(self, deadline: float, attempt: Callable[[], bytes]) -> bytes:
        retrying = Retrying(
            stop=_stop_at(deadline),
            wait=_wait_until(deadline),
            retry=retry_if_exception(retryable),
            reraise=True,
            before_sleep=_log_retry,
        )
        result: bytes = retrying(attempt)
        return result

    def _token(self) -> str:
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:
            raise ChannelError(f"cannot read the token file {self.token_file}: {exc.strerror}") from None
        if not token:
            raise ChannelError(f"the token file {self.token_file} is empty")
        return token

    def _request(self, method: str, path: str, body: bytes | None, deadline: float) -> bytes:
        headers = {"Authorization": f"Bearer {self._token()}", "User-Agent": "tfcontroller-runner"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        timeout = max(1.0, min(ATTEMPT_TIMEOUT, deadline - time.monotonic()))
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self._context)
        try:
            conn.request(method, self.base_path + path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except ssl.SSLCertVerificationError as exc:
            raise ChannelError(f"the run API at {self.host}:{self.port} is not vouched for by the given CA: "
                               f"{exc.verify_message}", final=True) from None
        except (OSError, http.client.HTTPException) as exc:
            raise ChannelError(f"{method} {path}: cannot reach the run API at {self.host}:{self.port} "
                               f"({exc or type(exc).__name__})") from None
        finally:
            conn.close()
        if 200 <= response.status < 300:
            return data
        raise ChannelError(f"{method} {path}: {response.status} {_why(data)}", status=response.status,
                           final=status_is_final(response.status))


def _why(data: bytes) -> str:
    """The refusal's message from the API's JSON body (its reason and message), else the text."""
    try:
        document = json.loads(data)
        return f"{document['reason']}: {document['message']}"
    except (ValueError, KeyError, TypeError):
        return data.decode(errors="replace").strip()[:500]


def _stop_at(deadline: float) -> Callable[[RetryCallState], bool]:
    def stop(_: RetryCallState) -> bool:
        return time.monotonic() >= deadline
    return stop


def _wait_until(deadline: float) -> Callable[[RetryCallState], float]:
    """Exponential backoff (0.5 s doubling, at most MAX_WAIT), never sleeping past the deadline, so that
    the last attempt happens at the deadline rather than not at all."""
    backoff = wait_exponential(multiplier=0.5, max=MAX_WAIT)

    def wait(state: RetryCallState) -> float:
        return max(0.0, min(backoff(state), deadline - time.monotonic()))
    return wait


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("run API attempt %d failed, retrying: %s", state.attempt_number, exc)
