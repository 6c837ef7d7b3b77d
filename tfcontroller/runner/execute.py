"""One run, as the runner executes it: artifact, inputs, workspace, init, then plan + show or apply.

Every outcome becomes a `RunResult` (never an exception out of `execute`): a bad spec or module is
`stalling`, a lock or a missing reference `waiting`, anything else `transient`, as the controller's
summariser reads them. Messages and the lines written to `say` (the runner's stdout: `kubectl logs` in pod
mode) are scrubbed of every value read from a Secret, every sealed value and every value of a variable
the module declares `sensitive`, with the one scrubber (`api.redact.scrub`, longest first). Terraform's
raw stdout is never printed, only its human-readable messages and diagnostics.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tfcontroller.api import artifact_bounds
from tfcontroller.api import errors as api_errors
from tfcontroller.api import run_protocol as rp
from tfcontroller.api.plan_counts import counts_text
from tfcontroller.api.redact import scrub, secret_forms
from tfcontroller.kube.values import ValueSource
from tfcontroller.runner.inputs import RunInputs, resolve, resolve_files
from tfcontroller.runner.output import RunOutput
from tfcontroller.source.store import fetch_artifact
from tfcontroller.terraform.archive import read_module_files
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.errors import InitRequiredError
from tfcontroller.terraform.initcache import attach_dir, invalidate_dir, record_dir
from tfcontroller.terraform.inspect import (
    ModuleInfo,
    ModuleParseError,
    inspect_files,
    module_info_of,
    sensitive_values,
)
from tfcontroller.terraform.plan import summarize as summarize_plan
from tfcontroller.terraform.processes import RUN_ENV
from tfcontroller.terraform.run_files import RunFiles
from tfcontroller.terraform.run_results import failure_result
from tfcontroller.terraform.runner import TerraformRunner, applied_outputs
from tfcontroller.terraform.workspace import Workspace, run_backend

ARTIFACT_FILE = "artifact.tar.gz"
ARTIFACT_FAILED = "ArtifactFailed"
RUNNER_FAILED = "RunnerFailed"
PLAN_GENERATED = "PlanGenerated"
NO_CHANGES = "NoChanges"
APPLY_SUCCEEDED = "ApplySucceeded"


@dataclass
class RunEnvironment:
    """What the runner brings of its own: its API client (runner/inputs.ConnectOnFirstRead) and kubeconfig
    (None: in-cluster config), the Terraform configuration of its image or host, where it prints."""

    kube: ValueSource
    kubeconfig: str | None
    terraform: TerraformConfig
    say: Callable[[str], None] = print
    secrets: list[str] = field(default_factory=list)  # grows as values are read: every line is scrubbed of them
    runner: TerraformRunner | None = None  # the run's Terraform, for stop()
    init_cache: Path | None = None  # the object's init cache directory (local mode: mounted read-write)
    inbox: Path | None = None  # where the controller's inputs are (local mode: read-only); None: the exchange
    stopped: bool = False

    def line(self, text: str) -> None:
        self.say(scrub(text, self.secrets))

    def stop(self) -> None:
        """Stop the run gracefully (a signal handler or another thread may call it): the command in
        flight gets SIGINT, then SIGKILL after the grace period, and no further command starts."""
        self.stopped = True
        if self.runner is not None:
            self.runner.cancel()


# After a plan that planned changes: deliver its result and return the apply to run next in the same
# workspace, or None (runner/commands.AwaitApply, local mode; issue 21)
Follow = Callable[[rp.RunResult], rp.RunRequest | None]


def execute(request: rp.RunRequest, exchange: Path, env: RunEnvironment, follow: Follow | None = None) -> rp.RunResult:
    """The run's result (its last: with `follow`, a plan's result is delivered by `follow` and the apply
    it hands over runs in the same workspace, initialised once, and its result is returned)."""
    return _outcome(request, env, lambda: _execute(request, exchange, env, follow))


def _outcome(request: rp.RunRequest, env: RunEnvironment, run: Callable[[], rp.RunResult]) -> rp.RunResult:
    env.secrets.extend(form for value in request.sealed_variables.values() for form in secret_forms(value))
    try:
        return run()
    except (api_errors.StallingError, api_errors.WaitingError, api_errors.TransientError) as exc:
        return _failed(request, exc, env)
    except Exception as exc:  # noqa: BLE001 - every outcome is a result; the controller decides the retry
        return rp.RunResult(request.run_id, request.operation, rp.FAILED, RUNNER_FAILED,
                            scrub(f"{type(exc).__name__}: {exc}", env.secrets), rp.TRANSIENT)


def _execute(request: rp.RunRequest, exchange: Path, env: RunEnvironment, follow: Follow | None) -> rp.RunResult:
    artifact_bounds.configure(request.artifact_bounds())  # the controller's: packed with, read with
    artifact = _fetch(request, exchange, env)
    info = _module_info(artifact, request)
    inputs = resolve(env.kube, request, {k: v.type for k, v in info.variables.items()} if info else None)
    env.secrets.extend(form for value in inputs.secrets for form in secret_forms(value))
    env.secrets.extend(sensitive_values(info, inputs.variables, inputs.env))
    files, file_secrets = resolve_files(env.kube, request)
    env.secrets.extend(form for value in file_secrets for form in secret_forms(value))
    ws = _workspace(request, exchange, env, artifact, inputs, files)
    try:
        cache = env.init_cache if request.init_key else None
        skip_init = False
        if cache is not None:
            data_dir, skip_init = attach_dir(cache, ws.module_dir, request.init_key)
            ws.env["TF_DATA_DIR"] = str(data_dir)
        runner = env.runner = ws.runner(RunOutput(env.line))  # Terraform's messages printed as they come
        if env.stopped:
            runner.cancel()
        if skip_init:
            env.line("init: skipped, the object's initialised data directory is reused")
        else:
            _init(request, env, ws, runner, cache)
        result = _initialised(request, exchange, env, ws, runner, cache, skip_init)
        planned = result.plan is not None and result.plan.has_changes
        handed = follow(result) if follow is not None and request.operation == rp.PLAN and planned else None
        if handed is None:
            return result
        env.line(f"apply of plan {handed.plan_id} handed over: applying in the same workspace")
        assert result.plan is not None
        own = result.plan.digest  # this runner's own plan, hashed when Terraform had written it
        return _outcome(handed, env, lambda: _apply(handed, exchange, env, ws, runner, must_be=own))
    finally:
        ws.cleanup(success=True)


def _initialised(request: rp.RunRequest, exchange: Path, env: RunEnvironment, ws: Workspace,
                 runner: TerraformRunner, cache: Path | None, skip_init: bool) -> rp.RunResult:
    """The command, once more after init when a reused data directory turns out to need it."""
    try:
        return _command(request, exchange, env, ws, runner)
    except InitRequiredError:
        if not skip_init:
            raise
        env.line("init: Terraform asks for it; running it")  # a new provider or module: same dir, once
        _init(request, env, ws, runner, cache)
        return _command(request, exchange, env, ws, runner)


def _init(request: rp.RunRequest, env: RunEnvironment, ws: Workspace, runner: TerraformRunner,
          cache: Path | None) -> None:
    """`terraform init`; in a cached data directory the key is dropped before and recorded after success,
    so a directory half initialised is never reused."""
    if cache is not None:
        invalidate_dir(cache)
    runner.init()
    if cache is not None:
        record_dir(cache, ws.module_dir, request.init_key)


def _command(request: rp.RunRequest, exchange: Path, env: RunEnvironment, ws: Workspace,
             runner: TerraformRunner) -> rp.RunResult:
    if request.operation == rp.PLAN:
        return _plan(request, exchange, env, ws, runner)
    if request.operation == rp.FORCE_UNLOCK:
        runner.force_unlock(request.lock_id)
        return rp.RunResult(request.run_id, request.operation, rp.SUCCEEDED, "StateLockReleased",
                            f"released state lock {request.lock_id}")
    return _apply(request, exchange, env, ws, runner)


def _fetch(request: rp.RunRequest, exchange: Path, env: RunEnvironment) -> Path:
    env.line(f"fetching artifact {request.artifact_digest}")
    try:
        return fetch_artifact(request.artifact_url, exchange / ARTIFACT_FILE, request.artifact_digest)
    except Exception as exc:  # noqa: BLE001 - a digest mismatch, a refused or broken download: all the same to the run
        raise api_errors.TransientError(ARTIFACT_FAILED, f"artifact {request.artifact_url}: {exc}") from None


def _module_info(artifact: Path, request: rp.RunRequest) -> ModuleInfo | None:
    """The variables' types and sensitivity: as the controller read them, else read here (python-hcl2)."""
    if request.declared_variables is not None:
        return module_info_of(request.declared_variables)
    files = read_module_files(artifact, request.path)
    if files is None:
        return None  # links or odd names: Terraform judges the module, the extraction judges the tree
    try:
        return inspect_files(files)
    except ModuleParseError:
        return None


def _workspace(request: rp.RunRequest, exchange: Path, env: RunEnvironment, artifact: Path,
               inputs: RunInputs, files: RunFiles) -> Workspace:
    config = env.terraform
    if request.timeout_seconds is not None:
        config = replace(config, timeouts=config.timeouts.bounded_by(request.timeout_seconds))
    return Workspace.create(
        exchange / "work", artifact, request.path, config=config,
        backend=run_backend(request.namespace, request.state_suffix, env.kubeconfig, request.custom_backend),
        # the run marker: in local mode the controller's liveness rule (terraform/processes.py) finds this
        # run's Terraform through /proc, across the sandbox's PID namespace
        variables=inputs.variables, env={**inputs.env, RUN_ENV: request.run_id}, secrets=env.secrets,
        name_hint=request.run_id, workspace=request.workspace,
        object_key=f"{request.namespace}/{request.name}", var_files=request.tf_vars_files,
        run_files=files)


def _plan(request: rp.RunRequest, exchange: Path, env: RunEnvironment, ws: Workspace,
          runner: TerraformRunner) -> rp.RunResult:
    planned = runner.plan(ws.plan_path, destroy=request.destroy, options=request.plan_options)
    # read once: the digest (kept in memory, the result's) is of the bytes delivered, and a handed-over
    # apply (runner/commands.py) applies only a plan with this digest
    data = ws.plan_path.read_bytes()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    write_new(exchange / rp.PLAN_OUT_FILE, data)
    show = runner.show_json(ws.plan_path)  # also without changes: the controller reads the prior state's size
    counted = summarize_plan(show)  # imports and moves: the show document has them, the exit code not
    summary = rp.PlanSummary(planned.has_changes, planned.add, planned.change, planned.destroy, digest,
                             counted.imports, counted.moves)
    message = ("Plan: " + counts_text(planned.add, planned.change, planned.destroy, counted.imports, counted.moves)
               if planned.has_changes else "No changes")
    env.line(message)
    return rp.RunResult(request.run_id, request.operation, rp.SUCCEEDED,
                        PLAN_GENERATED if planned.has_changes else NO_CHANGES, message, plan=summary, show=show,
                        warnings=_warnings(env, planned.warnings))


def _apply(request: rp.RunRequest, exchange: Path, env: RunEnvironment, ws: Workspace,
           runner: TerraformRunner, must_be: str | None = None) -> rp.RunResult:
    """Apply the controller's plan.in (from the inbox); `must_be`: the digest it must have (a handed-over
    apply: the plan this runner made), read once so that what is checked is what is applied."""
    plan_in = (env.inbox or exchange) / rp.PLAN_IN_FILE
    try:
        data = plan_in.read_bytes()
    except OSError:
        raise api_errors.TransientError(RUNNER_FAILED, f"plan {request.plan_id} was not handed to the runner") from None
    if must_be is not None and "sha256:" + hashlib.sha256(data).hexdigest() != must_be:
        raise api_errors.TransientError(RUNNER_FAILED, f"the plan handed over for plan {request.plan_id} is not "
                                                       "the plan this runner made: nothing applied")
    if env.inbox is None:
        ws.plan_path.write_bytes(data)
    # local mode: Terraform applies the inbox's copy, which the module's code cannot write (read-only mount)
    result = runner.apply(plan_in if env.inbox is not None else ws.plan_path, parallelism=request.parallelism)
    listed = applied_outputs(result.messages)  # from the apply's stream: no `terraform output` (issue 21)
    listed = runner.output_json() if listed is None else listed
    outputs = {name: bool(o.get("sensitive")) for name, o in listed.items() if isinstance(o, dict)}
    message = f"Applied plan {request.plan_id}"
    env.line(message)
    return rp.RunResult(request.run_id, request.operation, rp.SUCCEEDED, APPLY_SUCCEEDED, message,
                        outputs=outputs, warnings=_warnings(env, result.warnings))


def write_new(path: Path, data: bytes) -> None:
    """Write `path` (0600) whole, through a new temporary file (mkstemp: O_EXCL) and a rename: the exchange
    directory is the module's to write too, and what it left there (a FIFO, a link) is replaced, never
    opened."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _warnings(env: RunEnvironment, warnings: Sequence[Any]) -> tuple[str, ...]:
    return tuple(scrub(w.one_line(), env.secrets) for w in warnings)


def _failed(request: rp.RunRequest, exc: api_errors.ReconcileError, env: RunEnvironment) -> rp.RunResult:
    result = failure_result(request, exc, env.secrets, terraform_killed=bool(env.runner and env.runner.killed))
    env.line(f"{result.reason}: {result.message}")
    return result
