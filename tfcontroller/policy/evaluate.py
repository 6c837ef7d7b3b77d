"""Evaluate the selected policies on a plan's input, in a child process killed at each policy's time limit.

conftest's conventions, in every package of a bundle: rules `deny`, `violation` (the same as deny) and
`warn`, and those with a `_suffix` (`deny_public_acl`), each a set of strings or of objects with `msg`. A
PlanPolicy with `enforcement: warn` turns its denies into warnings.

Why a child process: the engine (regopy, C++) has no time limit of its own and runs in the caller's
thread holding the GIL; a policy that loops would hang a controller worker for good. The child is a fresh
`python -m tfcontroller.policy.worker` (about 0.1 s to start: benchmarks/policy_eval.py), not a fork (unsafe
beside the controller's threads) nor multiprocessing's forkserver (it re-imports the caller's `__main__`).
A child evaluates its group of the plan's policies (one group per CPU, at most 4) on one interpreter, so the
plan document is converted once per child; when a policy overruns its limit the child is killed, that
policy becomes an error and a new child takes the rest of its group. A timeout, a crash or a runtime error is a `PolicyResult.error`: it blocks the plan (fail
closed) unless the policy's `failurePolicy` is `Open`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.times import format_rfc3339
from tfcontroller.policy.bundle import CompileError, PolicyBundle

DEFAULT_TIMEOUT = 5.0
DEFAULT_WORKERS = 4
# converting the plan document into the engine is proportional to its size, not to what a policy does
INPUT_LOAD_TIMEOUT = 30.0

PASSED, WARNED, DENIED, ERROR = "passed", "warned", "denied", "error"
ENFORCE_DENY, ENFORCE_WARN = "deny", "warn"
FAIL_CLOSED, FAIL_OPEN = "Closed", "Open"


@dataclass(frozen=True)
class PolicySpecView:
    """What evaluation needs of a PlanPolicy (api/planpolicy.py has the whole spec)."""

    name: str  # "<namespace>/<name>"
    enforcement: str = ENFORCE_DENY
    failure_policy: str = FAIL_CLOSED
    timeout: float | None = None  # seconds; None: the caller's


@dataclass(frozen=True)
class PolicyResult:
    policy: str
    enforcement: str = ENFORCE_DENY
    denies: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    waived: bool = False
    exception: str = ""
    failure_policy: str = FAIL_CLOSED

    @property
    def result(self) -> str:
        """This policy's own verdict: passed, warned, denied, waived or error."""
        if self.error:
            return ERROR
        if self.denies:
            return "waived" if self.waived else DENIED
        return WARNED if self.warnings else PASSED

    @property
    def blocks(self) -> bool:
        """Whether this result alone stops the plan: an unwaived deny, or an error of a fail-closed policy."""
        return (bool(self.denies) and not self.waived and not self.error) or \
            (bool(self.error) and self.failure_policy != FAIL_OPEN)


@dataclass(frozen=True)
class PolicyReport:
    result: str  # passed | warned | denied | error
    results: list[PolicyResult]
    digest: str = ""  # policies_digest of the evaluated bundles
    evaluated_at: str = ""
    seconds: float = 0.0

    @property
    def blocks(self) -> bool:
        return self.result in (DENIED, ERROR)


def overall(results: Sequence[PolicyResult]) -> str:
    """The plan's verdict: denied (an unwaived deny) before error (a fail-closed policy that could not
    decide) before warned (warnings, waived denies, errors of fail-open policies) before passed."""
    if any(r.denies and not r.waived and not r.error for r in results):
        return DENIED
    if any(r.error and r.failure_policy != FAIL_OPEN for r in results):
        return ERROR
    if any(r.warnings or r.waived or r.error for r in results):
        return WARNED
    return PASSED


def policies_digest(bundles: Sequence[tuple[PolicySpecView, PolicyBundle]]) -> str:
    """`sha256:` over every selected policy's name, enforcement, failure policy and bundle digest: when it
    changes, a pending plan's verdict may change."""
    doc = sorted([spec.name, spec.enforcement, spec.failure_policy, bundle.digest()] for spec, bundle in bundles)
    return "sha256:" + hashlib.sha256(json.dumps(doc).encode()).hexdigest()


def evaluate(bundles: Sequence[tuple[PolicySpecView, PolicyBundle]], input: dict[str, Any], *,
             timeout: float = DEFAULT_TIMEOUT, workers: int | None = None) -> PolicyReport:
    """Every bundle's conftest rules on `input` (policy_input's document); `timeout` per policy unless its
    spec names its own. `workers`: children evaluating groups of the policies side by side (default: one
    per CPU, at most DEFAULT_WORKERS; each pays the input load, so one is best on a single core)."""
    started = time.monotonic()
    outcomes: dict[int, dict[str, Any]] = {}
    if bundles:
        input_json = json.dumps(input)
        limits = [spec.timeout or timeout for spec, _ in bundles]
        groups = _groups(len(bundles), workers or min(DEFAULT_WORKERS, os.cpu_count() or 1))
        threads = [threading.Thread(target=_run_group, args=(input_json, bundles, g, limits, outcomes),
                                    daemon=True) for g in groups[1:]]
        for t in threads:
            t.start()
        _run_group(input_json, bundles, groups[0], limits, outcomes)
        for t in threads:
            t.join()
    results = [_result(spec, outcomes[i]) for i, (spec, _) in enumerate(bundles)]
    return PolicyReport(result=overall(results), results=results, digest=policies_digest(bundles),
                        evaluated_at=format_rfc3339(dt.datetime.now(dt.UTC)),
                        seconds=time.monotonic() - started)


def _groups(count: int, workers: int) -> list[list[int]]:
    """Policy indexes dealt round-robin into at most `workers` non-empty groups."""
    n = max(1, min(workers, count))
    return [list(range(k, count, n)) for k in range(n)]


def _run_group(input_json: str, bundles: Sequence[tuple[PolicySpecView, PolicyBundle]], group: list[int],
               limits: list[float], outcomes: dict[int, dict[str, Any]]) -> None:
    """The policies of `group`, in children one after the other: a child stopped at a policy's limit is
    followed by a new one for the rest. Writes into `outcomes` (distinct keys per group)."""
    pending = list(group)
    while pending:
        done = _run_child(input_json, [(i, bundles[i][1]) for i in pending], limits)
        outcomes.update(done)
        pending = [i for i in pending if i not in done]


def _result(spec: PolicySpecView, outcome: dict[str, Any]) -> PolicyResult:
    denies, warnings = list(outcome.get("denies") or []), list(outcome.get("warnings") or [])
    if spec.enforcement == ENFORCE_WARN:
        denies, warnings = [], denies + warnings
    return PolicyResult(policy=spec.name, enforcement=spec.enforcement, denies=denies, warnings=warnings,
                        error=outcome.get("error") or "", failure_policy=spec.failure_policy)


def _run_child(input_json: str, jobs: list[tuple[int, PolicyBundle]], limits: list[float]) -> dict[int, dict[str, Any]]:
    """One child for `jobs`, in order: the outcomes it delivered, and an error outcome for the policy at
    which it overran its limit or died (the caller starts a child for the rest)."""
    cpu = INPUT_LOAD_TIMEOUT + sum(limits[i] for i, _ in jobs)
    request = {"op": "evaluate", "cpu_seconds": cpu,
               "bundles": [[i, _bundle_doc(b)] for i, b in jobs]}
    out: dict[int, dict[str, Any]] = {}
    with _Child(request, input_json) as child:
        ready = child.receive(INPUT_LOAD_TIMEOUT)
        if ready is None or ready[0] != "ready":
            for i, _ in jobs:
                out[i] = {"error": f"the plan document could not be loaded into the engine within "
                                   f"{INPUT_LOAD_TIMEOUT:g}s ({child.lost() if ready is None else ready[1]})"}
            return out
        for i, _ in jobs:
            msg = child.receive(limits[i])
            if msg is None or msg[0] != "result":
                out[i] = {"error": child.lost(limits[i]) if msg is None else f"the policy engine failed: {msg[1]}"}
                return out
            out[i] = msg[2]
    return out


def run_compile_check(bundle: PolicyBundle, *, timeout: float) -> list[CompileError]:
    """bundle.compile_check's work, in a child (the engine prints its diagnostics on fd 1/2)."""
    with _Child({"op": "compile", "cpu_seconds": timeout, "bundle": _bundle_doc(bundle)}) as child:
        msg = child.receive(timeout)
        if msg is None or msg[0] != "compiled":
            name = bundle.modules[0][0] if bundle.modules else "(bundle)"
            why = child.lost(timeout) if msg is None else msg[1]
            return [CompileError(name, 0, 0, f"the compile check failed: {why}")]
        return [CompileError(*e) for e in msg[1]]


def _bundle_doc(bundle: PolicyBundle) -> dict[str, Any]:
    return {"name": bundle.name, "modules": [list(m) for m in bundle.modules], "data": bundle.data}


class _Child:
    """`python -m tfcontroller.policy.worker`: the request (and the input) on stdin, one JSON message a line
    on stdout. A fresh interpreter, not a fork of the caller: forking a threaded controller is unsafe, and
    multiprocessing's forkserver/spawn re-import the caller's `__main__`. Its environment is empty but for
    what Python needs: a policy can read its process's environment (`opa.runtime()`), and the controller's
    holds credentials."""

    def __init__(self, request: dict[str, Any], input_json: str = "null") -> None:
        self.request = request
        self.input_json = input_json
        self.proc: subprocess.Popen[bytes] | None = None
        self.buffer = b""

    def __enter__(self) -> _Child:
        env = {k: v for k, v in os.environ.items() if k in _CHILD_ENV}
        self.proc = subprocess.Popen([sys.executable, "-m", "tfcontroller.policy.worker"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     cwd="/", close_fds=True)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(self.request).encode() + b"\n" + self.input_json.encode())
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()

    def receive(self, timeout: float) -> list[Any] | None:
        """The next message, or None when none came within `timeout` seconds or the child ended."""
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        msg: list[Any] = json.loads(line)
        return msg

    def lost(self, limit: float | None = None) -> str:
        """Why no message came: the limit, or the child's end."""
        assert self.proc is not None
        try:
            code = self.proc.wait(0.5)
        except subprocess.TimeoutExpired:
            return f"evaluation did not finish within {limit:g}s (the policy was stopped)" if limit else \
                "no answer in time"
        return f"the policy engine stopped unexpectedly (exit code {code})"


# what a Python interpreter needs to find its packages; nothing else of the caller's environment
_CHILD_ENV = frozenset({"PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LANG", "LC_ALL"})


__all__ = ["PolicyReport", "PolicyResult", "PolicySpecView", "evaluate", "overall", "policies_digest"]
