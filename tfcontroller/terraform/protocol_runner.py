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
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
_LOG_TAIL = 20


class ProtocolRunner(DelegatingRunner):
    """One reconcile's Terraform commands as runner runs. `template` holds what every run shares (its
    operation is replaced per command); `artifact` is the controller's verified copy of the artifact."""

    def __init__(self, template: rp.RunRequest, artifact: Path, root: Path, config: TerraformConfig, *,
                 kubeconfig: Path | None, sandboxed: bool, object_key: str = "",
                 plan_id: Callable[[], str] = lambda: "", init_cache: Path | None = None,
                 credential: Callable[[], Path] | None = None, reaper: Reaper | None = None) -> None:
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
        self._count = 0

    # the commands the controller's steps use ----------------------------------------------------

    def plan(self, out: Any, destroy: bool = False, refresh: bool = True, refresh_only: bool = False,
             lock_timeout: float = 0, options: PlanOptions = NO_OPTIONS) -> PlanResult:
        result, exchange = self._launch(rp.PLAN, destroy=destroy, **rp.plan_option_fields(options))
        try:
            shutil.copyfile(exchange / rp.PLAN_OUT_FILE, Path(out))
        finally:
            self._discard(exchange)
        return self._planned(result)

    def apply(self, planfile: Any, lock_timeout: float = 0, parallelism: int = 0) -> CommandResult:
        result, exchange = self._launch(rp.APPLY, plan=Path(planfile).read_bytes(), plan_id=self.plan_id() or "pending",
                                        parallelism=parallelism)
        self._discard(exchange)
        return self._applied(result)

    def force_unlock(self, lock_id: str) -> CommandResult:
        _, exchange = self._launch(rp.FORCE_UNLOCK, lock_id=lock_id)
        self._discard(exchange)
        return self._empty("force-unlock")

    def _discard(self, exchange: Path) -> None:
        """The run's exchange directory is done with: to the reaper (a rename), else removed now."""
        if self.reaper is not None:
            self.reaper.discard(exchange)
        else:
            shutil.rmtree(exchange, ignore_errors=True)

    # one run ---------------------------------------------------------------------------------------

    def _launch(self, operation: str, *, plan: bytes | None = None, **fields: Any) -> tuple[rp.RunResult, Path]:
        if self.cancelled:
            raise _cancelled(operation)
        if self.credential is not None:
            self.kubeconfig = self.credential()
        self._count += 1
        exchange = self.root / f"{self.template.run_id}-{self._count}"
        exchange.mkdir(mode=0o700, parents=True)
        shutil.copyfile(self.artifact, exchange / ARTIFACT_IN)
        inside = EXCHANGE_MOUNT if self.sandboxed else str(exchange)
        request = dataclasses.replace(self.template, operation=operation, artifact_url=f"file://{inside}/{ARTIFACT_IN}",
                                      **fields)
        (exchange / rp.REQUEST_FILE).write_text(json.dumps(request.to_dict()))
        (exchange / rp.REQUEST_FILE).chmod(0o600)
        if plan is not None:
            (exchange / rp.PLAN_IN_FILE).write_bytes(plan)
        started = time.monotonic()
        with open(self.root / f"{exchange.name}.log", "w+b") as out:
            proc = start_runner(exchange, self.config, kubeconfig=self.kubeconfig, sandboxed=self.sandboxed, log=out,
                                init_cache=self.init_cache)
            self.last_pid = proc.pid
            assert proc.stdin is not None
            try:
                while not _exited(proc, _POLL):
                    if self.cancelled and not proc.stdin.closed:
                        proc.stdin.close()  # the runner interrupts Terraform gracefully
            finally:
                if not proc.stdin.closed:
                    proc.stdin.close()
                proc.wait()
            out.seek(0)
            lines = out.read().decode(errors="replace").splitlines()
        (self.root / f"{exchange.name}.log").unlink(missing_ok=True)
        for line in lines:
            log.info("runner: %s", line, extra=self.log_extra)  # scrubbed by the runner
        log.info("runner operation=%s rc=%s seconds=%.2f", operation, proc.returncode, time.monotonic() - started,
                 extra=self.log_extra)
        return self._result(exchange, operation, proc.returncode, lines), exchange

    def _result(self, exchange: Path, operation: str, returncode: int, lines: list[str]) -> rp.RunResult:
        try:
            result = rp.RunResult.from_dict(json.loads((exchange / rp.RESULT_FILE).read_text()))
        except (OSError, ValueError) as exc:
            self._discard(exchange)
            tail = " | ".join(lines[-_LOG_TAIL:])
            raise TransientError(RUNNER_FAILED, f"the runner of {operation} exited with {returncode} without a "
                                                f"result ({exc}): {tail}") from None
        self.killed = self.killed or result.terraform_killed
        error = error_of(result)
        if error is not None:
            self._discard(exchange)
            raise error
        return result


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
