"""`--runner=local`: the controller's Terraform commands, each run by `tfcontroller runner run` through the
run protocol, in the bubblewrap sandbox where the kernel allows it (issue 15; terraform/sandbox.py).

`ProtocolRunner` has `TerraformRunner`'s interface, so the controller's steps, lock handling and run
records stay as they are: `plan` is a plan run (init, plan, show; the plan file and the show document come
back through the run's exchange directory), `show_json` returns that run's show, `apply` an apply run of the
given plan file, `force_unlock` a force-unlock run. `init` does nothing here: each run initialises, or
skips init when the object's init cache directory (mounted into the run) was initialised for the
request's init key (terraform/initcache.py, the same rules as ever). Failures come back as the typed errors the steps decide on (run_results.py). The run
marker of the reconcile is the run id, so Terraform carries it and the liveness rule (processes.py) finds
it. `cancel()` closes the runner's stdin: it interrupts Terraform gracefully, as the end of a controller
does.

One runner process per reconcile where an apply follows (issue 21, `hold`): the plan run's runner, once
it has delivered a plan with changes, waits (`--await-apply`, runner/commands.py) and the apply is handed
to it over its stdin, to run in the workspace it has initialised; see `ProtocolRunner`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tfcontroller.api import run_protocol as rp
from tfcontroller.api.errors import TransientError
from tfcontroller.api.terraform import PlanOptions
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.delegated import RUNNER_FAILED, DelegatingRunner
from tfcontroller.terraform.errors import CancelledError
from tfcontroller.terraform.reaper import Reaper
from tfcontroller.terraform.run_results import error_of
from tfcontroller.terraform.runner import NO_OPTIONS, CommandResult, PlanResult
from tfcontroller.terraform.sandbox import EXCHANGE_MOUNT, start_runner

log = logging.getLogger(__name__)

ARTIFACT_IN = "artifact.in.tar.gz"
_POLL = 0.1
_RESULT_POLL = 0.05  # a held plan run is done when its result appears (it does not exit)
_LOG_TAIL = 20
# One runner per reconcile (issue 21): a plan run that may be followed by its apply waits AWAIT_APPLY
# seconds for it; the controller hands it over only within HAND_OVER_WITHIN of the plan's result (else a
# fresh apply run), so that the two never race. 45 s also stays inside the run token's margin
# (controllers/terraform/credentials.token_seconds: init, plan and apply each bounded, plus 60 s).
AWAIT_APPLY = 75.0
HAND_OVER_WITHIN = 45.0
_END_WAIT = 30.0  # seconds a runner told to end (stdin closed) gets before it is waited for without a bound


@dataclass
class _Run:
    """A runner process and its exchange directory; `logged`: bytes of its output already logged."""

    proc: subprocess.Popen[bytes]
    exchange: Path
    log: BinaryIO
    log_path: Path
    started: float
    logged: int = 0
    result_at: float = 0.0  # time.monotonic() when its (plan's) result was read


class ProtocolRunner(DelegatingRunner):
    """One reconcile's Terraform commands as runner runs. `template` holds what every run shares (its
    operation is replaced per command); `artifact` is the controller's verified copy of the artifact.

    `hold`: an apply may follow the plan in this reconcile (auto-approval, a destroy on deletion), so the
    plan's runner is kept waiting for it (`--await-apply`) and `apply` hands it over on that runner's
    stdin: one runner start and one init instead of two per object. The controller's steps between the
    two (storing the plan, the policy gate, the apply checkpoint) are unchanged and run before the hand
    over. A held runner that is not handed an apply is ended by `release()` (the reconcile's end), by
    `cancel()`, by the next command, or by the controller's death (its stdin ends): it never applies by
    itself. An apply without a held runner (approved later, after a restart, or past HAND_OVER_WITHIN) is
    an apply run as before."""

    def __init__(self, template: rp.RunRequest, artifact: Path, root: Path, config: TerraformConfig, *,
                 kubeconfig: Path | None, sandboxed: bool, object_key: str = "",
                 plan_id: Callable[[], str] = lambda: "", init_cache: Path | None = None,
                 credential: Callable[[], Path] | None = None, reaper: Reaper | None = None,
                 hold: bool = False) -> None:
        super().__init__(root, {}, config, object_key=object_key)
        self.reaper = reaper  # removes exchange directories off the reconcile path (issue 21); None: at once
        self.plan_id = plan_id  # the plan an apply applies (the run record's), for the runner's messages
        self.template = template
        self.artifact = artifact
        self.root = root
        self.kubeconfig = kubeconfig
        self.sandboxed = sandboxed
        self.init_cache = init_cache  # the object's init cache directory, mounted into each run
        # writes the run's kubeconfig (a fresh short-lived token) before each run; returns its path
        self.credential = credential
        self.hold = hold
        self.started = 0  # runner processes started (issue 21: one per reconcile when an apply follows)
        self._count = 0
        self._held: _Run | None = None  # a plan run waiting for its apply

    # the commands the controller's steps use ----------------------------------------------------

    def plan(self, out: Any, destroy: bool = False, refresh: bool = True, refresh_only: bool = False,
             lock_timeout: float = 0, options: PlanOptions = NO_OPTIONS) -> PlanResult:
        run = self._start(rp.PLAN, await_apply=AWAIT_APPLY if self.hold else None, destroy=destroy,
                          **rp.plan_option_fields(options))
        try:
            result = self._await(run, rp.PLAN, until_result=self.hold)
            shutil.copyfile(run.exchange / rp.PLAN_OUT_FILE, Path(out))
        except BaseException:
            self._end(run)
            raise
        if self.hold and run.proc.poll() is None and result.plan is not None and result.plan.has_changes:
            run.result_at = time.monotonic()
            self._held = run  # it waits for the apply (runner/commands.py)
        else:
            self._end(run)
        return self._planned(result)

    def apply(self, planfile: Any, lock_timeout: float = 0, parallelism: int = 0) -> CommandResult:
        plan = Path(planfile).read_bytes()
        fields: dict[str, Any] = {"plan_id": self.plan_id() or "pending", "parallelism": parallelism}
        run = self._hand_over(plan, fields)
        if run is None:
            run = self._start(rp.APPLY, plan=plan, **fields)
        try:
            result = self._await(run, rp.APPLY, until_result=False)
        finally:
            self._end(run)
        return self._applied(result)

    def force_unlock(self, lock_id: str) -> CommandResult:
        run = self._start(rp.FORCE_UNLOCK, lock_id=lock_id)
        try:
            self._await(run, rp.FORCE_UNLOCK, until_result=False)
        finally:
            self._end(run)
        return self._empty("force-unlock")

    def release(self) -> None:
        """The reconcile is over: a plan run still waiting for an apply ends without applying."""
        held, self._held = self._held, None
        if held is not None:
            self._end(held)

    def cancel(self) -> None:
        super().cancel()
        held = self._held
        if held is not None and held.proc.stdin is not None and not held.proc.stdin.closed:
            held.proc.stdin.close()  # the held runner ends (and nothing will be handed to it)

    # one run ---------------------------------------------------------------------------------------

    def _hand_over(self, plan: bytes, fields: dict[str, Any]) -> _Run | None:
        """The held plan run, told to apply `plan`; None when there is none that can take it (none held,
        it ended, or its plan is older than HAND_OVER_WITHIN): the caller starts an apply run."""
        run, self._held = self._held, None
        if run is None:
            return None
        if self.cancelled or run.proc.poll() is not None or time.monotonic() - run.result_at > HAND_OVER_WITHIN:
            self._end(run)
            return None
        request = self._request(run.exchange, rp.APPLY, **fields)
        (run.exchange / rp.RESULT_FILE).unlink(missing_ok=True)  # the plan's: the apply's will replace it
        _write_private(run.exchange / rp.PLAN_IN_FILE, plan)
        _write_private(run.exchange / rp.REQUEST_FILE, json.dumps(request.to_dict()).encode())
        assert run.proc.stdin is not None
        try:
            run.proc.stdin.write(f"{rp.HAND_OVER_APPLY}\n".encode())
            run.proc.stdin.flush()
        except (OSError, ValueError):  # it ended meanwhile: nothing was handed over
            self._end(run)
            return None
        run.started = time.monotonic()
        log.info("runner pid=%s: the apply handed over to the plan's runner", run.proc.pid, extra=self.log_extra)
        return run

    def _start(self, operation: str, *, plan: bytes | None = None, await_apply: float | None = None,
               **fields: Any) -> _Run:
        if self.cancelled:
            raise _cancelled(operation)
        self.release()  # a held plan run not handed its apply ends before another run starts
        if self.credential is not None:
            self.kubeconfig = self.credential()
        self._count += 1
        exchange = self.root / f"{self.template.run_id}-{self._count}"
        exchange.mkdir(mode=0o700, parents=True)
        shutil.copyfile(self.artifact, exchange / ARTIFACT_IN)
        request = self._request(exchange, operation, **fields)
        _write_private(exchange / rp.REQUEST_FILE, json.dumps(request.to_dict()).encode())
        if plan is not None:
            (exchange / rp.PLAN_IN_FILE).write_bytes(plan)
        log_path = self.root / f"{exchange.name}.log"
        # appending: the runner's writes go to the end whatever offset this side reads a held run's log from
        out = open(log_path, "a+b")  # noqa: SIM115 - closed by _end, after the run (which may be held)
        try:
            proc = start_runner(exchange, self.config, kubeconfig=self.kubeconfig, sandboxed=self.sandboxed,
                                log=out, init_cache=self.init_cache, await_apply=await_apply)
        except BaseException:
            out.close()
            log_path.unlink(missing_ok=True)
            raise
        self.started += 1
        self.last_pid = proc.pid
        return _Run(proc, exchange, out, log_path, time.monotonic())

    def _request(self, exchange: Path, operation: str, **fields: Any) -> rp.RunRequest:
        inside = EXCHANGE_MOUNT if self.sandboxed else str(exchange)
        return dataclasses.replace(self.template, operation=operation, artifact_url=f"file://{inside}/{ARTIFACT_IN}",
                                   **fields)

    def _await(self, run: _Run, operation: str, *, until_result: bool) -> rp.RunResult:
        """Wait for the run's end (or, `until_result`, for its result: a held plan run goes on waiting for its
        apply), log what it printed, and return its result; its failure raised as the typed error."""
        assert run.proc.stdin is not None
        result_file = run.exchange / rp.RESULT_FILE
        while not _exited(run.proc, _RESULT_POLL if until_result else _POLL):
            if self.cancelled and not run.proc.stdin.closed:
                run.proc.stdin.close()  # the runner interrupts Terraform gracefully
            if until_result and result_file.exists():
                break
        read = _read_result(result_file)
        if run.proc.returncode is None and not _awaits_apply(read):
            _exited(run.proc, _END_WAIT)  # a failed plan or one without changes: its runner is ending by itself
        lines = self._new_lines(run)
        for line in lines:
            log.info("runner: %s", line, extra=self.log_extra)  # scrubbed by the runner
        how = "held for its apply" if run.proc.returncode is None else f"rc={run.proc.returncode}"
        log.info("runner operation=%s %s seconds=%.2f", operation, how, time.monotonic() - run.started,
                 extra=self.log_extra)
        return self._result(read, operation, run.proc.returncode, lines)

    def _new_lines(self, run: _Run) -> list[str]:
        run.log.flush()
        run.log.seek(run.logged)
        data = run.log.read()
        run.logged += len(data)
        return data.decode(errors="replace").splitlines()

    def _end(self, run: _Run) -> None:
        """Tell the runner to end (stdin closed: a held plan run ends without applying), wait for it, and
        discard its exchange directory and log."""
        if run.proc.stdin is not None and not run.proc.stdin.closed:
            try:
                run.proc.stdin.close()
            except OSError:
                pass
        try:
            run.proc.wait(timeout=_END_WAIT)
        except subprocess.TimeoutExpired:
            log.warning("runner pid=%s did not end %.0fs after its stdin closed; waiting", run.proc.pid,
                        _END_WAIT, extra=self.log_extra)
            run.proc.wait()
        for line in self._new_lines(run):
            log.info("runner: %s", line, extra=self.log_extra)
        run.log.close()
        run.log_path.unlink(missing_ok=True)
        self._discard(run.exchange)

    def _discard(self, exchange: Path) -> None:
        """The run's exchange directory is done with: to the reaper (a rename), else removed now."""
        if self.reaper is not None:
            self.reaper.discard(exchange)
        else:
            shutil.rmtree(exchange, ignore_errors=True)

    def _result(self, read: rp.RunResult | Exception, operation: str, returncode: int | None,
                lines: list[str]) -> rp.RunResult:
        if isinstance(read, Exception):
            tail = " | ".join(lines[-_LOG_TAIL:])
            raise TransientError(RUNNER_FAILED, f"the runner of {operation} exited with {returncode} without a "
                                                f"result ({read}): {tail}")
        result = read
        if result.operation != operation:
            raise TransientError(RUNNER_FAILED, f"the runner of {operation} answered with the result of a "
                                                f"{result.operation}")
        self.killed = self.killed or result.terraform_killed
        error = error_of(result)
        if error is not None:
            raise error
        return result


def _read_result(path: Path) -> rp.RunResult | Exception:
    """The run's result, or why there is none (no file: the runner died; unreadable: a broken runner)."""
    try:
        return rp.RunResult.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        return exc


def _awaits_apply(read: rp.RunResult | Exception) -> bool:
    """Whether a runner that delivered this result waits for an apply (runner/execute.py: a plan that
    succeeded with changes); any other runner ends by itself."""
    return (isinstance(read, rp.RunResult) and read.operation == rp.PLAN and read.succeeded
            and read.plan is not None and read.plan.has_changes)


def _write_private(path: Path, data: bytes) -> None:
    """Write `path` (0600) whole or not at all: a runner reading it never sees half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _exited(proc: subprocess.Popen[bytes], within: float) -> bool:
    """Wait up to `within` seconds for the runner to end: its result is read as soon as it has (a sleep
    between polls would add half a poll to every run on average)."""
    try:
        proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        return False
    return True


def _cancelled(operation: str) -> CancelledError:
    return CancelledError(operation)
