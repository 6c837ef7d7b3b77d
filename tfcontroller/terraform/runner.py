"""Runs the Terraform CLI: one method per command, each with a timeout and cancellation.

Each command has the same shape (as in HashiCorp's terraform-exec): a pure function builds the argument
list (unit-tested without Terraform), `_run` executes it in its own process group, and the `-json` output is
parsed into typed results or classified into typed errors (tfcontroller.terraform.diagnostics).

Stopping a run (timeout, `cancel()`, controller shutdown) sends SIGINT to the whole process group so that
Terraform stops gracefully and releases its state lock, waits `grace` seconds, then SIGKILLs the group.

Should the controller die without stopping it (SIGKILL, OOM kill), Terraform must not keep running
unseen nor die half-way: on Linux it gets SIGINT from the kernel as its parent-death signal
(PR_SET_PDEATHSIG), so it stops as on Ctrl-C: it saves the state it has (Terraform persists the state at
once on an interrupt during apply), releases its lock and stops its plugins. Its output goes to unlinked
temporary files, not pipes, so that this graceful stop is not cut short by SIGPIPE when the controller's
end of a pipe is gone. What a hard kill still leaves behind, a restarted controller finds by the run
marker (tfcontroller.terraform.processes).

A `CommandListener` hears each command start and end, and each message of its `-json` stream *as
Terraform writes it* (the output file is read on with `pread` while the command runs, every
`_POLL_SECONDS`), so that a runner can print a run's progress live. Only the streaming commands (init,
plan, apply) deliver messages: `show -json` and `output -json` print one document with every value of the
state, which no listener may see line by line.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tfcontroller.api.redact import scrub
from tfcontroller.api.terraform import PlanOptions
from tfcontroller.api.tfaddress import replace_problem, target_problem
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.diagnostics import classify, diagnostics_from, parse_json_lines
from tfcontroller.terraform.errors import (
    CancelledError,
    Diagnostic,
    TerraformError,
    TimeoutExpiredError,
    TransientError,
)

log = logging.getLogger(__name__)

NO_OPTIONS = PlanOptions()
_POLL_SECONDS = 0.2  # how quickly a cancel() from another thread is noticed


@dataclass(frozen=True)
class CommandResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    messages: tuple[dict[str, Any], ...]
    diagnostics: tuple[Diagnostic, ...]
    seconds: float

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


@dataclass(frozen=True)
class VersionInfo:
    terraform_version: str
    platform: str = ""
    provider_selections: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanResult:
    has_changes: bool
    add: int = 0
    change: int = 0
    destroy: int = 0
    warnings: tuple[Diagnostic, ...] = ()


class CommandListener(Protocol):
    """Hears one runner's commands as they happen (tfcontroller.runner.output prints them)."""

    def started(self, command: str) -> None: ...

    def message(self, command: str, message: dict[str, Any]) -> None: ...

    def ended(self, command: str, returncode: int, seconds: float) -> None: ...


STREAMING_COMMANDS = frozenset({"init", "plan", "apply"})  # whose stdout is a `-json` message stream


class _Guarded:
    """A listener whose failure (a closed stdout, a bug) never stops the command it listens to: an apply
    interrupted because a log line could not be printed would be far worse than a missing line. The first
    failure is logged and the listener goes quiet."""

    def __init__(self, inner: CommandListener, log_extra: dict[str, str]) -> None:
        self.inner, self.log_extra = inner, log_extra
        self.broken = False

    def _call(self, method: str, *args: Any) -> None:
        if self.broken:
            return
        try:
            getattr(self.inner, method)(*args)
        except Exception:  # noqa: BLE001 - see the class docstring
            self.broken = True
            log.warning("the run's output listener failed; no further lines", exc_info=True, extra=self.log_extra)

    def started(self, command: str) -> None:
        self._call("started", command)

    def message(self, command: str, message: dict[str, Any]) -> None:
        self._call("message", command, message)

    def ended(self, command: str, returncode: int, seconds: float) -> None:
        self._call("ended", command, returncode, seconds)


class _StreamReader:
    """The complete lines a running command has written to its output file so far, read with `pread`
    (the child shares the file's offset, which a `read` would move). Messages go to the listener."""

    def __init__(self, fd: int, command: str, listener: CommandListener) -> None:
        self.fd, self.command, self.listener = fd, command, listener
        self.offset = 0
        self.partial = b""

    def pump(self, final: bool = False) -> None:
        while chunk := os.pread(self.fd, 65536, self.offset):
            self.offset += len(chunk)
            self.partial += chunk
        *lines, self.partial = self.partial.split(b"\n")
        if final and self.partial:
            lines, self.partial = [*lines, self.partial], b""
        for message in parse_json_lines(b"\n".join(lines).decode("utf-8", errors="replace")):
            self.listener.message(self.command, message)


# --- argument lists (pure) ----------------------------------------------------------------------


def _lock_timeout(seconds: float) -> str:
    return f"-lock-timeout={max(0, int(seconds))}s"


def version_args() -> list[str]:
    return ["version", "-json"]


def init_args(upgrade: bool = False, lock_timeout: float = 0) -> list[str]:
    args = ["init", "-input=false", "-json", "-no-color", _lock_timeout(lock_timeout)]
    if upgrade:
        args.append("-upgrade")
    return args


def validate_args() -> list[str]:
    return ["validate", "-json", "-no-color"]


def _parallelism(parallelism: int) -> list[str]:
    if parallelism < 0:
        raise ValueError(f"parallelism must not be negative, got {parallelism}")
    return [f"-parallelism={parallelism}"] if parallelism else []


def _addresses(flag: str, addresses: Sequence[str], problem: Callable[[str], str]) -> list[str]:
    """`-target=ADDR` / `-replace=ADDR`, one argument each (never a separate value an address could turn into
    an option); an address that does not parse is refused here too (api/tfaddress.py)."""
    out = []
    for address in addresses:
        why = problem(address)
        if why:
            raise ValueError(f"{flag} {address!r} {why}")
        out.append(f"{flag}={address}")
    return out


def plan_args(
    out: str | os.PathLike[str],
    destroy: bool = False,
    refresh: bool = True,
    refresh_only: bool = False,
    lock_timeout: float = 0,
    options: PlanOptions = NO_OPTIONS,
    var_files: Sequence[str | os.PathLike[str]] = (),
) -> list[str]:
    """`terraform plan`'s arguments. `var_files` (the run's variables files, lowest precedence first:
    Workspace.var_file_args) are given as `-var-file=PATH`, last: Terraform loads command-line files after
    every automatic file of the module and in their order, so the object's tfVarsFiles and vars win over a
    module's `*.auto.tfvars` whatever its name. Every plan reads variables (a destroy plan and a
    refresh-only drift plan too); so does the apply of the saved plan (`apply_args`)."""
    if destroy and refresh_only:
        raise ValueError("a plan cannot be both -destroy and -refresh-only")
    if refresh_only and options.replace:
        raise ValueError("a -refresh-only plan cannot -replace")
    args = ["plan", "-input=false", "-json", "-no-color", "-detailed-exitcode", _lock_timeout(lock_timeout),
            f"-out={os.fspath(out)}"]
    if destroy:
        args.append("-destroy")
    if refresh_only:
        args.append("-refresh-only")
    if not refresh:
        args.append("-refresh=false")
    args += _parallelism(options.parallelism)
    args += _addresses("-target", options.targets, target_problem)
    args += _addresses("-replace", options.replace, replace_problem)
    args += _var_files(var_files)
    return args


def _var_files(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """One `-var-file=PATH` argument each; a path must be absolute (the run's own files, never a name an
    option or the module directory could change the meaning of)."""
    out = []
    for path in paths:
        text = os.fspath(path)
        if not os.path.isabs(text) or "\n" in text:
            raise ValueError(f"-var-file {text!r} must be an absolute path")
        out.append(f"-var-file={text}")
    return out


def show_args(planfile: str | os.PathLike[str]) -> list[str]:
    return ["show", "-json", "-no-color", os.fspath(planfile)]


def apply_args(planfile: str | os.PathLike[str], lock_timeout: float = 0, parallelism: int = 0,
               var_files: Sequence[str | os.PathLike[str]] = ()) -> list[str]:
    """`terraform apply`'s arguments for a saved plan. A saved plan never prompts, so no -auto-approve: the
    approval happened when the plan was chosen. Targets and replacements are in the saved plan; parallelism
    is not, so it is given again. So are the plan's `var_files`: Terraform (1.10+) does not store an
    `ephemeral = true` variable in the plan, and refuses the apply unless it is set again ("was set during
    the plan phase, and so must also be set during the apply phase"). Terraform accepts the same values of
    ordinary variables on a saved-plan apply (it refuses only a value that differs from the plan's), so the
    same files are given whole, and the plan and its apply read variables alike."""
    return ["apply", "-input=false", "-json", "-no-color", _lock_timeout(lock_timeout),
            *_parallelism(parallelism), *_var_files(var_files), os.fspath(planfile)]


def output_args() -> list[str]:
    return ["output", "-json", "-no-color"]


def applied_outputs(messages: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The root module's outputs as the apply's `-json` stream last listed them (`{name: {"sensitive":
    bool, ...}}`), or None when the stream has no `outputs` message. Terraform ends every apply with one,
    `{}` for a module without outputs; an apply with `-auto-approve` lists them once more before (with
    the planned `action`), so the last one counts. It saves a `terraform output` (a process and a state
    read) per apply (issue 21)."""
    found: dict[str, Any] | None = None
    for msg in messages:
        if msg.get("type") == "outputs" and isinstance(msg.get("outputs"), dict):
            found = dict(msg["outputs"])
    return found


def force_unlock_args(lock_id: str) -> list[str]:
    if not lock_id or lock_id.startswith("-"):
        raise ValueError(f"invalid lock id {lock_id!r}")
    return ["force-unlock", "-force", "-no-color", lock_id]


# --- the runner ---------------------------------------------------------------------------------


class TerraformRunner:
    """Terraform commands in one working directory with one environment.

    `secrets` are values to scrub from every error message and stderr kept on errors.
    """

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        config: TerraformConfig,
        secrets: Sequence[str] = (),
        object_key: str = "",
        listener: CommandListener | None = None,
        var_files: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        self.workdir = Path(workdir)
        self.var_files = tuple(var_files)  # `-var-file`s of every plan and apply (Workspace.var_file_args)
        self.env = dict(env)
        self.config = config
        self.secrets = tuple(secrets)
        # "namespace/name" of the object this run is for: every log line names it (logging_setup.py)
        self.log_extra = {"obj": object_key} if object_key else {}
        self.listener: CommandListener | None = _Guarded(listener, self.log_extra) if listener is not None else None
        self._cancelled = threading.Event()
        self.last_pid: int | None = None  # process (and process group) id of the latest command
        self.killed = False  # a command ended by a signal (our SIGKILL after the grace, the OOM killer…): its
        # state lock may be left behind

    # commands -----------------------------------------------------------------------------------

    def version(self) -> VersionInfo:
        data = self._json_stdout(self._run("version", version_args(), self.config.timeouts.short))
        return VersionInfo(
            terraform_version=str(data.get("terraform_version", "")),
            platform=str(data.get("platform", "")),
            provider_selections=dict(data.get("provider_selections") or {}),
        )

    def init(self, upgrade: bool = False, lock_timeout: float = 0) -> CommandResult:
        return self._run("init", init_args(upgrade, lock_timeout), self.config.timeouts.init)

    def validate(self) -> list[Diagnostic]:
        """Raises the classified error when the configuration is invalid; returns the warnings."""
        result = self._run("validate", validate_args(), self.config.timeouts.short, check=False)
        data = self._json_stdout(result)
        if result.returncode != 0 or data.get("valid") is False:
            raise self._error("validate", result)
        return result.warnings

    def plan(
        self,
        out: str | os.PathLike[str],
        destroy: bool = False,
        refresh: bool = True,
        refresh_only: bool = False,
        lock_timeout: float = 0,
        options: PlanOptions = NO_OPTIONS,
    ) -> PlanResult:
        args = plan_args(out, destroy, refresh, refresh_only, lock_timeout, options, self.var_files)
        result = self._run("plan", args, self.config.timeouts.plan, ok_codes=(0, 2))
        counts = {"add": 0, "change": 0, "remove": 0}
        for msg in result.messages:
            if msg.get("type") == "change_summary":
                counts.update({k: int(v) for k, v in (msg.get("changes") or {}).items() if k in counts})
        return PlanResult(
            has_changes=result.returncode == 2,
            add=counts["add"],
            change=counts["change"],
            destroy=counts["remove"],
            warnings=tuple(result.warnings),
        )

    def show_json(self, planfile: str | os.PathLike[str]) -> dict[str, Any]:
        return self._json_stdout(self._run("show", show_args(planfile), self.config.timeouts.short))

    def apply(self, planfile: str | os.PathLike[str], lock_timeout: float = 0, parallelism: int = 0) -> CommandResult:
        return self._run("apply", apply_args(planfile, lock_timeout, parallelism, self.var_files),
                         self.config.timeouts.apply)

    def output_json(self) -> dict[str, Any]:
        """`{name: {"value": ..., "type": ..., "sensitive": bool}}`; sensitive values are included as-is."""
        return self._json_stdout(self._run("output", output_args(), self.config.timeouts.short))

    def force_unlock(self, lock_id: str) -> CommandResult:
        return self._run("force-unlock", force_unlock_args(lock_id), self.config.timeouts.short)

    def cancel(self) -> None:
        """Stop the running command (SIGINT, grace, SIGKILL) and refuse any later one. Thread-safe."""
        self._cancelled.set()

    def release(self) -> None:
        """The reconcile that used this runner is over: end what it keeps for a later command (a local
        runner's plan run held for its apply, protocol_runner.py). Nothing here."""

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    # execution ----------------------------------------------------------------------------------

    def _run(
        self,
        command: str,
        args: list[str],
        timeout: float,
        *,
        ok_codes: tuple[int, ...] = (0,),
        check: bool = True,
    ) -> CommandResult:
        if self._cancelled.is_set():
            raise CancelledError(command)
        argv = [self.config.binary, *args]
        if self.listener is not None:
            self.listener.started(command)
        started = time.monotonic()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: signals reach provisioners and providers too
                preexec_fn=_interrupt_on_parent_death(),  # noqa: PLW1509 - async-signal-safe enough: one prctl
            )
            self.last_pid = proc.pid
            reader = (_StreamReader(out.fileno(), command, self.listener)
                      if self.listener is not None and command in STREAMING_COMMANDS else None)
            stopped: str | None = None
            try:
                stopped = self._wait(proc, started + timeout, reader.pump if reader else None)
            finally:
                _kill_group(proc.pid, signal.SIGKILL)  # leftovers (a backgrounded provisioner) never outlive a run
            if reader is not None:
                reader.pump(final=True)
            stdout, stderr = _read_all(out), _read_all(err)
        seconds = time.monotonic() - started
        log.info("terraform command=%s rc=%s seconds=%.2f dir=%s", command, proc.returncode, seconds,
                 self.workdir, extra=self.log_extra)
        if self.listener is not None:
            self.listener.ended(command, proc.returncode, seconds)
        messages = parse_json_lines(stdout)
        result = CommandResult(
            args=tuple(argv),
            returncode=proc.returncode,
            stdout=stdout,
            stderr=stderr,
            messages=tuple(messages),
            diagnostics=tuple(diagnostics_from(messages)),
            seconds=seconds,
        )
        if stopped == "timeout":
            raise TimeoutExpiredError(command, timeout, stderr=self._scrub(stderr))
        if stopped == "cancel":
            raise CancelledError(command, stderr=self._scrub(stderr))
        if check and result.returncode not in ok_codes:
            raise self._error(command, result)
        return result

    def _wait(self, proc: subprocess.Popen[bytes], deadline: float,
              tick: Callable[[], None] | None = None) -> str | None:
        """Wait for the process, interrupting it on timeout or cancel; returns why it was stopped, if it was.
        Sets `killed` when it ended by a signal rather than exiting: it may have left its lock. `tick` runs
        every poll (the live output reader)."""
        stopped: str | None = None
        kill_at: float | None = None
        while True:
            if tick is not None:
                tick()
            now = time.monotonic()
            if stopped is None and (now >= deadline or self._cancelled.is_set()):
                stopped = "timeout" if now >= deadline else "cancel"
                log.warning("terraform pid=%s interrupted: %s", proc.pid, stopped, extra=self.log_extra)
                _kill_group(proc.pid, signal.SIGINT)
                kill_at = now + self.config.timeouts.grace
            if kill_at is not None and now >= kill_at:
                _kill_group(proc.pid, signal.SIGKILL)
                kill_at = None
            pending = deadline if stopped is None else None  # once stopped, only the grace period counts
            slice_end = min(x for x in (pending, kill_at, now + _POLL_SECONDS) if x is not None)
            try:
                if proc.wait(timeout=max(0.01, slice_end - now)) < 0:
                    self.killed = True
                return stopped
            except subprocess.TimeoutExpired:
                continue

    def _json_stdout(self, result: CommandResult) -> dict[str, Any]:
        try:
            data = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise TransientError("TerraformOutputInvalid",
                                 f"terraform {result.args[1]} printed no JSON: {exc}") from None
        if not isinstance(data, dict):
            raise TransientError("TerraformOutputInvalid", f"terraform {result.args[1]} printed {type(data)}")
        return data

    def _error(self, command: str, result: CommandResult) -> TerraformError:
        return classify(command, result.diagnostics, result.stderr, self.secrets)

    def _scrub(self, text: str) -> str:
        return scrub(text, self.secrets)


def _read_all(file: Any) -> str:
    file.seek(0)
    return bytes(file.read()).decode("utf-8", errors="replace")


_PR_SET_PDEATHSIG = 1


def _interrupt_on_parent_death() -> Callable[[], None] | None:
    """A `preexec_fn` asking the kernel to send SIGINT to the child when the thread that started it (a
    long-lived worker, blocked until the command ends) dies with the controller; None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGINT), 0, 0, 0)
        if os.getppid() != parent:  # the controller died before the signal was armed: do not start
            os._exit(127)

    return arm


PARENT_DEATH_INTERRUPTS = sys.platform.startswith("linux")  # a dead controller's Terraform got SIGINT already


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
