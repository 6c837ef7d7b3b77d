"""`tfcontroller runner pod`: one run inside its runner Pod (issue 15, pod mode).

The Pod (terraform/runner_pod.py) brings: the request at RUN_DIR/request.json (from the per-run Secret,
sealed values already decrypted by the controller), the run API's CA at RUN_DIR/ca.crt, a token of
audience `tfcontroller.io/runner` bound to this Pod at TOKEN_DIR/token, the run API's URL in
TFCONTROLLER_RUN_API and the Pod's deadline in TFCONTROLLER_RUN_DEADLINE. Its identity towards the API
server is the Pod's own ServiceAccount (in-cluster configuration): the kubernetes backend runs with
`in_cluster_config = true`, references are read under the tenant's RBAC.

Flow: an apply fetches its plan over the run channel; then the same `execute` as local mode; then the
result (and a plan run's plan file) is delivered over the channel, retried until the Pod's deadline, so a
controller that restarts meanwhile still receives it. The termination message (`/dev/termination-log`)
gets a short summary — outcome, reason, plan id, counts, never a value — so that the controller (or a
user with `kubectl get pod -o yaml`) knows what happened even if nothing was delivered.

Exit code: 0 when a result was delivered, whatever Terraform's outcome (the result says it); 1 when no
result could be delivered; 2 when the request could not be read.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfcontroller.api import run_protocol as rp

EXIT_DELIVERED = 0
EXIT_UNDELIVERED = 1
EXIT_BAD_REQUEST = 2
DELIVERY_RESERVE = 15.0  # seconds of the Pod's deadline kept for the last delivery attempt and exit
FETCH_FAILED = "PlanFetchFailed"
ARTIFACT_FETCH_FAILED = "ArtifactFailed"
SERVED_ARTIFACT = "served-artifact.tar.gz"


@dataclass(frozen=True)
class PodPaths:
    """Where the Pod puts the run's inputs (terraform/runner_pod.py decides them; passed in for tests)."""

    request: Path
    ca: Path
    token: Path
    work: Path
    termination_log: Path


def summary(result: rp.RunResult, plan_id: str, delivered: bool) -> str:
    """Pure: the termination message — no message text (it may quote module output), no value."""
    parts = [f"outcome={result.outcome}", f"reason={result.reason}", f"operation={result.operation}",
             f"run={result.run_id}"]
    if plan_id:
        parts.append(f"plan={plan_id}")
    if result.plan is not None:
        parts.append(f"add={result.plan.add} change={result.plan.change} destroy={result.plan.destroy}")
        if result.plan.imports or result.plan.moves:
            parts.append(f"import={result.plan.imports} move={result.plan.moves}")
        if result.plan.digest:
            parts.append(f"digest={result.plan.digest}")
    if result.failure:
        parts.append(f"failure={result.failure}")
    if result.terraform_killed:
        parts.append("terraform_killed=true")
    parts.append(f"delivered={'true' if delivered else 'false'}")
    return " ".join(parts)


def deadline_from_env(environ: Any, started: float) -> float:
    """Pure: the monotonic time delivery must end by (the Pod's activeDeadlineSeconds minus a reserve)."""
    try:
        seconds = float(environ.get("TFCONTROLLER_RUN_DEADLINE", ""))
    except ValueError:
        seconds = 3600.0
    return started + max(DELIVERY_RESERVE, seconds - DELIVERY_RESERVE)


ENV_DELIVERY_SECONDS = "TFCONTROLLER_RUN_DELIVERY_SECONDS"


def delivery_deadline(environ: Any, finished: float, deadline: float) -> float:
    """Pure: until when a finished run keeps trying to hand its result to the controller. By default the
    Pod's deadline; `TFCONTROLLER_RUN_DELIVERY_SECONDS` (settable in `spec.runnerPod.env`) shortens it to
    that many seconds after the run finished — the result is then known from the termination message only
    (the next controller adopts it from there). Tests use it to have a result delivered to nobody."""
    try:
        patience = float(environ.get(ENV_DELIVERY_SECONDS, ""))
    except ValueError:
        return deadline
    return min(deadline, finished + max(0.0, patience))


def run_in_pod(request: rp.RunRequest, paths: PodPaths, channel: Any, env: Any, *, deadline: float,
               execute: Callable[..., rp.RunResult], say: Callable[[str], None] = print,
               env_vars: Any = None) -> int:
    """Fetch (apply), execute, deliver, summarise. `channel` is a RunChannel; `env` a RunEnvironment."""
    env_vars = os.environ if env_vars is None else env_vars
    exchange = paths.work / "run"
    exchange.mkdir(mode=0o700, parents=True, exist_ok=True)
    result: rp.RunResult | None = None
    if request.operation == rp.APPLY:
        try:
            (exchange / rp.PLAN_IN_FILE).write_bytes(channel.fetch_plan(request.run_id))
        except Exception as exc:  # noqa: BLE001 - any failure to get the plan is this run's result
            result = rp.RunResult(request.run_id, request.operation, rp.FAILED, FETCH_FAILED,
                                  f"could not fetch plan {request.plan_id} from the controller: {exc}", rp.TRANSIENT)
            say(f"{FETCH_FAILED}: {result.message}")
    if result is None and request.artifact_url == rp.ARTIFACT_FROM_RUN_API:
        try:
            request = _fetch_served_artifact(request, channel, exchange)
        except Exception as exc:  # noqa: BLE001 - any failure to get the artifact is this run's result
            result = rp.RunResult(request.run_id, request.operation, rp.FAILED, ARTIFACT_FETCH_FAILED,
                                  f"could not fetch artifact {request.artifact_digest} from the controller: {exc}",
                                  rp.TRANSIENT)
            say(f"{ARTIFACT_FETCH_FAILED}: {result.message}")
    if result is None:
        result = execute(request, exchange, env)
    plan_file = exchange / rp.PLAN_OUT_FILE
    plan = plan_file.read_bytes() if request.operation == rp.PLAN and result.succeeded and plan_file.is_file() else None
    delivered = True
    try:
        channel.deliver(request.run_id, result, plan, deadline=delivery_deadline(env_vars, now(), deadline))
    except Exception as exc:  # noqa: BLE001 - said in the log and the termination message
        delivered = False
        say(f"could not deliver the result to the controller: {exc}")
    _write_termination(paths.termination_log, summary(result, request.plan_id, delivered))
    return EXIT_DELIVERED if delivered else EXIT_UNDELIVERED


def _fetch_served_artifact(request: rp.RunRequest, channel: Any, exchange: Path) -> rp.RunRequest:
    """The artifact the controller serves for this run (its cached copy), saved in the run's directory; the
    request then points at that file, so `execute` checks its digest as for any download."""
    path = exchange / SERVED_ARTIFACT
    path.write_bytes(channel.fetch_artifact(request.run_id))
    return dataclasses.replace(request, artifact_url=path.resolve().as_uri())


def _write_termination(path: Path, text: str) -> None:
    try:
        path.write_text(text + "\n")
    except OSError:
        pass  # not in a Pod (a test): the log has it


def now() -> float:
    return time.monotonic()


def environ() -> dict[str, str]:
    return dict(os.environ)
