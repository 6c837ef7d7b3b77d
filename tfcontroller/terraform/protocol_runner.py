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

A module is untrusted code that runs with the runner's uid and can write the run's exchange directory
(the outbox). So the controller writes its inputs (request, artifact, plan.in) only into the run's inbox,
which the sandbox mounts read-only, and reads the outbox only through `read_untrusted`: no symlink
followed, nothing but a regular file (a FIFO would block the worker in open(2) forever), a size bound.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tfcontroller.api import run_protocol as rp
from tfcontroller.api.errors import TransientError
from tfcontroller.api.terraform import PlanOptions
from tfcontroller.terraform.config import TerraformConfig, Timeouts
from tfcontroller.terraform.delegated import RUNNER_FAILED, DelegatingRunner
from tfcontroller.terraform.errors import CancelledError
from tfcontroller.terraform.reaper import Reaper
from tfcontroller.terraform.run_results import error_of
from tfcontroller.terraform.runner import NO_OPTIONS, CommandResult, PlanResult
from tfcontroller.terraform.sandbox import INBOX_MOUNT, start_runner

log = logging.getLogger(__name__)

ARTIFACT_IN = "artifact.in.tar.gz"
_POLL = 0.1
_RESULT_POLL = 0.05  # a held plan run is done when its result appears (it does not exit)
_LOG_TAIL = 20
# One runner per reconcile (issue 21): a plan run that may be followed by its apply waits AWAIT_APPLY
# seconds for it; the controller hands it over only within HAND_OVER_WITHIN of the plan's result (else a
# fresh apply run), so that the two never race, and only while the plan run's token has life enough left
# for the apply (`hand_over_allowed`): the token was sized for one run (credentials.token_seconds), and a
# held runner spends init, plan and the controller's steps before the apply starts.
AWAIT_APPLY = 75.0
HAND_OVER_WITHIN = 45.0
TOKEN_MARGIN = 60.0  # seconds of token life beyond the apply's bound that a hand-over requires
RUN_START_MARGIN = 120.0  # seconds beyond its commands' bounds a run may take (start, artifact, workspace)
_END_WAIT = 30.0  # seconds a runner told to end (stdin closed) gets before its process group is killed
_KILL_WAIT = 10.0  # and then, for the kernel to reap it
# Bounds of what the controller reads from a run's outbox (module-writable): beyond them, the run failed
MAX_RESULT_BYTES = 64 << 20  # the result carries the plan's show document
MAX_PLAN_BYTES = 512 << 20
_LOG_CHUNK = 1 << 20  # a run's log is read (and logged) at most this much at a time; the rest is skipped
_INBOX, _OUTBOX = "in", "out"


@dataclass
class _Run:
    """A runner process and its exchange directory; `logged`: bytes of its output already logged."""

    proc: subprocess.Popen[bytes]
    exchange: Path  # the outbox: the runner's (and the module's) writable directory
    inbox: Path  # the controller's inputs, read-only in the sandbox
    log: BinaryIO
    log_path: Path
    started: float
    status: int | None = None  # the read end of the runner's status pipe (`--status-fd`), a held plan run's
    status_buffer: bytes = b""
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
                 hold: bool = False, token_seconds: float | None = None) -> None:
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
        self.token_seconds = token_seconds  # the lifetime of the token `credential` writes (None: unbounded)
        self._token_at = 0.0  # time.monotonic() when the last run's credential was asked for
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
            Path(out).write_bytes(_plan_out(run.exchange, result))
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
        it ended, its plan is older than HAND_OVER_WITHIN, or its token would not last the apply): the caller
        starts an apply run (with a fresh token)."""
        run, self._held = self._held, None
        if run is None:
            return None
        allowed = hand_over_allowed(now=time.monotonic(), result_at=run.result_at, within=HAND_OVER_WITHIN,
                                    token_at=self._token_at, token_seconds=self.token_seconds,
                                    apply_seconds=self._apply_seconds())
        if self.cancelled or run.proc.poll() is not None or not allowed:
            self._end(run)
            return None
        request = json.dumps(self._request(run.inbox, rp.APPLY, **fields).to_dict()).encode()
        try:
            (run.exchange / rp.RESULT_FILE).unlink(missing_ok=True)  # the plan's: the apply's will replace it
        except OSError:  # not a file the runner wrote (a directory): the apply's result could not be written
            self._end(run)
            return None
        _write_private(run.inbox / rp.PLAN_IN_FILE, plan)
        _write_private(run.inbox / rp.REQUEST_FILE, request)
        line = rp.hand_over_line(hashlib.sha256(plan).hexdigest(), hashlib.sha256(request).hexdigest())
        assert run.proc.stdin is not None
        try:
            run.proc.stdin.write(f"{line}\n".encode())
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
            self._token_at = time.monotonic()  # before the token is requested: its life is counted from here
            self.kubeconfig = self.credential()
        self._count += 1
        home = self.root / f"{self.template.run_id}-{self._count}"
        exchange, inbox = home / _OUTBOX, home / _INBOX
        for path in (home, exchange, inbox):
            path.mkdir(mode=0o700, parents=True)
        shutil.copyfile(self.artifact, inbox / ARTIFACT_IN)
        request = self._request(inbox, operation, **fields)
        _write_private(inbox / rp.REQUEST_FILE, json.dumps(request.to_dict()).encode())
        if plan is not None:
            _write_private(inbox / rp.PLAN_IN_FILE, plan)
        log_path = self.root / f"{home.name}.log"
        # a held plan run announces its result on a pipe of its own (the module's code can write the outbox)
        status, status_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK) if await_apply else (None, None)
        # appending: the runner's writes go to the end whatever offset this side reads a held run's log from
        out = open(log_path, "a+b")  # noqa: SIM115 - closed by _end, after the run (which may be held)
        try:
            proc = start_runner(exchange, self.config, kubeconfig=self.kubeconfig, sandboxed=self.sandboxed,
                                log=out, init_cache=self.init_cache, await_apply=await_apply, inbox=inbox,
                                status_fd=status_w)
        except BaseException:
            out.close()
            log_path.unlink(missing_ok=True)
            _close(status)
            raise
        finally:
            _close(status_w)  # the runner's end, passed to it
        self.started += 1
        self.last_pid = proc.pid
        return _Run(proc, exchange, inbox, out, log_path, time.monotonic(), status)

    def _timeouts(self) -> Timeouts:
        timeouts = self.config.timeouts
        if self.template.timeout_seconds is not None:
            timeouts = timeouts.bounded_by(self.template.timeout_seconds)
        return timeouts

    def _apply_seconds(self) -> float:
        """The bound of a handed-over apply: the apply command, its output fallback, their graces."""
        return apply_seconds(self._timeouts())

    def _request(self, inbox: Path, operation: str, **fields: Any) -> rp.RunRequest:
        inside = INBOX_MOUNT if self.sandboxed else str(inbox)
        return dataclasses.replace(self.template, operation=operation, artifact_url=f"file://{inside}/{ARTIFACT_IN}",
                                   **fields)

    def _await(self, run: _Run, operation: str, *, until_result: bool) -> rp.RunResult:
        """Wait for the run's end (or, `until_result`, for its result: a held plan run goes on waiting for its
        apply), log what it printed, and return its result; its failure raised as the typed error."""
        assert run.proc.stdin is not None
        result_file = run.exchange / rp.RESULT_FILE
        bound = run_bound(self._timeouts())
        announced: str | None = None
        while not _exited(run.proc, _RESULT_POLL if until_result else _POLL):
            if time.monotonic() - run.started > bound:
                _kill(run.proc)  # a runner past every bound of its commands: stuck, whatever on
                tail = " | ".join(self._new_lines(run)[-_LOG_TAIL:])
                raise TransientError(RUNNER_FAILED, f"the runner of {operation} did not end within {bound:.0f}s "
                                                    f"(the bound of its commands) and was killed: {tail}")
            if self.cancelled and not run.proc.stdin.closed:
                run.proc.stdin.close()  # the runner interrupts Terraform gracefully
            announced = _announced(run) if until_result else None
            if announced is not None:
                break
        read = _read_result(result_file, announced)
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
        end = run.log.seek(0, os.SEEK_END)
        skipped = max(0, end - run.logged - _LOG_CHUNK)  # a module may print without end: the last part only
        run.log.seek(run.logged + skipped)
        data = run.log.read(_LOG_CHUNK)
        run.logged += skipped + len(data)
        lines = data.decode(errors="replace").splitlines()
        return ([f"({skipped} bytes of output skipped)"] if skipped else []) + lines

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
            log.warning("runner pid=%s did not end %.0fs after its stdin closed; killing it", run.proc.pid,
                        _END_WAIT, extra=self.log_extra)
            _kill(run.proc)
        for line in self._new_lines(run):
            log.info("runner: %s", line, extra=self.log_extra)
        run.log.close()
        run.log_path.unlink(missing_ok=True)
        _close(run.status)
        run.status = None
        self._discard(run.exchange.parent)

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
        if result.operation != operation or result.run_id != self.template.run_id:
            raise TransientError(RUNNER_FAILED, f"the runner of {operation} of run {self.template.run_id} answered "
                                                f"with the result of a {result.operation} of run {result.run_id}")
        self.killed = self.killed or result.terraform_killed
        error = error_of(result)
        if error is not None:
            raise error
        return result


class UntrustedFileError(ValueError):
    """A file of a run's outbox that is no regular file of a sane size."""


def read_untrusted(path: Path, limit: int) -> bytes:
    """The content of `path`, a file in a directory the module's code can write: never through a symlink
    (O_NOFOLLOW), never blocking (O_NONBLOCK: a FIFO opens at once, and is refused), only a regular file
    (fstat) of at most `limit` bytes. OSError when it is missing or a link; UntrustedFileError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UntrustedFileError(f"{path.name} is not a regular file")
        if info.st_size > limit:
            raise UntrustedFileError(f"{path.name} is larger than {limit} bytes")
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # it grew while read
                raise UntrustedFileError(f"{path.name} is larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_result(path: Path, announced: str | None = None) -> rp.RunResult | Exception:
    """The run's result, or why there is none (no file: the runner died; unreadable: a broken runner, or
    something the module's code put there). `announced`: the sha256 the runner gave on its status pipe (a
    held plan's result, read while the module's code may still run): the file must have it."""
    try:
        data = read_untrusted(path, MAX_RESULT_BYTES)
        if announced is not None and hashlib.sha256(data).hexdigest() != announced:
            raise UntrustedFileError(f"{path.name} is not the result the runner announced")
        return rp.RunResult.from_dict(json.loads(data))
    except (OSError, ValueError) as exc:
        return exc


def _announced(run: _Run) -> str | None:
    """The digest a held plan run announced on its status pipe, once it has (a whole line); else None."""
    if run.status is None:
        return None
    try:
        chunk = os.read(run.status, 4096)
    except BlockingIOError:
        return None
    run.status_buffer += chunk
    line, found, _ = run.status_buffer.partition(b"\n")
    return line.decode(errors="replace").strip() if found else None


def _close(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def _plan_out(exchange: Path, result: rp.RunResult) -> bytes:
    """The plan a plan run left in its outbox; it must be the plan its result describes (its digest)."""
    try:
        data = read_untrusted(exchange / rp.PLAN_OUT_FILE, MAX_PLAN_BYTES)
    except (OSError, ValueError) as exc:
        raise TransientError(RUNNER_FAILED, f"the plan run's plan file cannot be read: {exc}") from None
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if result.plan is not None and result.plan.digest and result.plan.digest != digest:
        raise TransientError(RUNNER_FAILED, "the plan run's plan file is not the plan its result describes")
    return data


def run_bound(timeouts: Timeouts) -> float:
    """How long the controller waits for one runner run (or a held run's apply) before it kills it: init,
    the longer of plan and apply, two short commands (show or output, force-unlock), a grace after each,
    and RUN_START_MARGIN for the runner's start, the artifact and the workspace. Terraform's own timeouts
    end a run long before; this bounds a runner stuck outside Terraform, so that no worker waits for ever.
    Pure."""
    return (timeouts.init + max(timeouts.plan, timeouts.apply) + 2 * timeouts.short + 4 * timeouts.grace
            + RUN_START_MARGIN)


def apply_seconds(timeouts: Timeouts) -> float:
    """How long a handed-over apply may take: the apply, the `terraform output` fallback, a grace period
    after each. Pure."""
    return timeouts.apply + timeouts.short + 2 * timeouts.grace


def hand_over_allowed(*, now: float, result_at: float, within: float, token_at: float,
                      token_seconds: float | None, apply_seconds: float, margin: float = TOKEN_MARGIN) -> bool:
    """Whether a held plan run may be handed its apply at `now`: its plan is at most `within` seconds old,
    and the token it was started with (asked for at `token_at`, valid `token_seconds`; None: no expiry)
    still has the apply's bound and `margin` left. Otherwise a fresh apply run, with a fresh token. Pure."""
    if now - result_at > within:
        return False
    return token_seconds is None or token_at + token_seconds - now >= apply_seconds + margin


def _awaits_apply(read: rp.RunResult | Exception) -> bool:
    """Whether a runner that delivered this result waits for an apply (runner/execute.py: a plan that
    succeeded with changes); any other runner ends by itself."""
    return (isinstance(read, rp.RunResult) and read.operation == rp.PLAN and read.succeeded
            and read.plan is not None and read.plan.has_changes)


def _write_private(path: Path, data: bytes) -> None:
    """Write `path` (0600) whole or not at all: a runner reading it never sees half of it. Only into a run's
    inbox (no module writes there); the temporary file is a new one all the same (mkstemp: O_EXCL)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the runner's process group (its own session: bwrap's monitor, or the runner and its
    Terraform) and reap it, bounded: the reconcile's thread never waits for a run without end."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=_KILL_WAIT)
    except subprocess.TimeoutExpired:
        log.warning("runner pid=%s not reaped %.0fs after SIGKILL; left to the reaper", proc.pid, _KILL_WAIT)


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
