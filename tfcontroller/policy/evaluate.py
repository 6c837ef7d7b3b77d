"""Evaluate the selected policies on a plan's input, in a child process killed at each policy's time limit.

conftest's conventions, in every package of a bundle: rules `deny`, `violation` (the same as deny) and
`warn`, and those with a `_suffix` (`deny_public_acl`), each a set of strings or of objects with `msg`. A
PlanPolicy with `enforcement: warn` turns its denies into warnings.

Why a child process: the engine (regopy, C++) has no time limit of its own and runs in the caller's thread
holding the GIL; a policy that loops would hang a controller worker for good. The child is a fresh `python -m
tfcontroller.policy.worker` serving one request (about 0.07 s to start, paid ahead by a warm spare:
`_Spares`), not a fork (unsafe beside the controller's threads) nor multiprocessing's forkserver (it
re-imports the caller's `__main__`). The plan's policies are dealt into groups (one per CPU, at most 4); with
one group a child evaluates them on one interpreter; with several, one worker loads the plan document (~0.3 s
of CPU for 600 KiB, the floor of a run: benchmarks/README.md) and forks a process per group from it
(`_run_shared`, worker._fork_groups: the worker is single-threaded, so that fork is safe), each watched like a
child of its own. Each bundle is compiled on its own (worker.evaluate_bundle); when a policy overruns its
limit its process is killed, that policy becomes an error and a new child takes the rest of its group. A timeout, a crash or a runtime error is a `PolicyResult.error`: it blocks the plan (fail closed)
unless the policy's `failurePolicy` is `Open`.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import json
import os
import queue
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
# A child's resident memory at most (bytes): far above what 20 policies on 500 changes use (~0.2 GiB), far
# below a node's. Watched from the parent (`_Child._receive`): rego-cpp's allocator reserves large address
# ranges up front, so an RLIMIT_AS/RLIMIT_DATA bound makes every allocation fail, however high it is set.
MEMORY_LIMIT = 2 * 1024**3
MEMORY_POLL = 0.05  # seconds between two reads of a busy child's resident size
_PAGE = os.sysconf("SC_PAGE_SIZE")


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
        """This policy's own verdict: passed, warned, denied, waived or error. A deny found stands even when
        another rule of the policy failed: an error never hides a deny."""
        if self.denies and not self.waived:
            return DENIED
        if self.error:
            return ERROR
        if self.denies:
            return "waived"
        return WARNED if self.warnings else PASSED

    @property
    def blocks(self) -> bool:
        """Whether this result alone stops the plan: an unwaived deny, or an error of a fail-closed policy."""
        return (bool(self.denies) and not self.waived) or (bool(self.error) and self.failure_policy != FAIL_OPEN)


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
    if any(r.denies and not r.waived for r in results):
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
             timeout: float = DEFAULT_TIMEOUT, workers: int | None = None,
             memory_bytes: int | None = None) -> PolicyReport:
    """Every bundle's conftest rules on `input` (policy_input's document); `timeout` per policy unless its
    spec names its own. `workers`: children evaluating groups of the policies side by side (default: one
    per CPU, at most DEFAULT_WORKERS; several share one input load: `_run_shared`).
    `memory_bytes`: each child's resident-memory bound (default MEMORY_LIMIT): a policy that builds huge sets
    is stopped (its error, fail closed) instead of taking the controller's container into the OOM killer."""
    started = time.monotonic()
    outcomes: dict[int, dict[str, Any]] = {}
    if bundles:
        input_json = json.dumps(input)
        limits = [spec.timeout or timeout for spec, _ in bundles]
        groups = _groups(len(bundles), workers or min(DEFAULT_WORKERS, os.cpu_count() or 1))
        memory = memory_bytes or MEMORY_LIMIT
        if len(groups) > 1:
            _run_shared(input_json, bundles, groups, limits, outcomes, memory)
        else:
            _run_group(input_json, bundles, groups[0], limits, outcomes, memory)
    results = [_result(spec, outcomes[i]) for i, (spec, _) in enumerate(bundles)]
    seconds = time.monotonic() - started
    SPARES.fill()
    return PolicyReport(result=overall(results), results=results, digest=policies_digest(bundles),
                        evaluated_at=format_rfc3339(dt.datetime.now(dt.UTC)),
                        seconds=seconds)


def _groups(count: int, workers: int) -> list[list[int]]:
    """Policy indexes dealt round-robin into at most `workers` non-empty groups."""
    n = max(1, min(workers, count))
    return [list(range(k, count, n)) for k in range(n)]


def _run_group(input_json: str, bundles: Sequence[tuple[PolicySpecView, PolicyBundle]], group: list[int],
               limits: list[float], outcomes: dict[int, dict[str, Any]], memory: int = 0) -> None:
    """The policies of `group`, in children one after the other: a child stopped at a policy's limit is
    followed by a new one for the rest. Writes into `outcomes` (distinct keys per group)."""
    pending = list(group)
    while pending:
        done = _run_child(input_json, [(i, bundles[i][1]) for i in pending], limits, memory)
        outcomes.update(done)
        pending = [i for i in pending if i not in done]


def _run_shared(input_json: str, bundles: Sequence[tuple[PolicySpecView, PolicyBundle]], groups: list[list[int]],
                limits: list[float], outcomes: dict[int, dict[str, Any]], memory: int) -> None:
    """Several groups side by side on one loaded input: one worker loads the plan document, then forks a
    process per group (worker._fork_groups), so the load (~0.3-0.4 s of CPU for 600 KiB) is paid once and
    not once per group. Each group is watched as a child of its own: its time limit per policy, its memory,
    killed at overrun, the rest of its group then run in a fresh child (`_run_group`). When the worker
    could not load the input or died before, every group falls back to children of its own."""
    request = {"op": "evaluate", "cpu_seconds": INPUT_LOAD_TIMEOUT + sum(limits[i] for g in groups for i in g),
               "groups": [[[i, _bundle_doc(bundles[i][1])] for i in g] for g in groups]}
    with _Shared(request, input_json, len(groups), memory) as shared:
        why = shared.wait_ready(INPUT_LOAD_TIMEOUT)
        if why is not None and not shared.ended_early():
            for g in groups:
                for i in g:
                    outcomes[i] = {"error": f"the plan document could not be loaded into the engine within "
                                            f"{INPUT_LOAD_TIMEOUT:g}s ({why})"}
            return
        threads = [threading.Thread(target=_shared_group,
                                    args=(shared if why is None else None, n, group, input_json, bundles, limits,
                                          outcomes, memory), daemon=True)
                   for n, group in enumerate(groups)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def _shared_group(shared: _Shared | None, n: int, group: list[int], input_json: str,
                  bundles: Sequence[tuple[PolicySpecView, PolicyBundle]], limits: list[float],
                  outcomes: dict[int, dict[str, Any]], memory: int) -> None:
    pid = shared.forked(n, INPUT_LOAD_TIMEOUT) if shared is not None else None
    if shared is None or pid is None:
        _run_group(input_json, bundles, group, limits, outcomes, memory)
        return
    for pos, i in enumerate(group):
        msg = shared.receive(n, pid, limits[i])
        if msg is None or msg[0] != "result":
            outcomes[i] = {"error": shared.lost(n, limits[i]) if msg is None else f"the policy engine failed: {msg[1]}"}
            shared.kill(n, pid)
            if group[pos + 1:]:
                _run_group(input_json, bundles, group[pos + 1:], limits, outcomes, memory)
            return
        outcomes[i] = msg[2]


def _result(spec: PolicySpecView, outcome: dict[str, Any]) -> PolicyResult:
    denies, warnings = list(outcome.get("denies") or []), list(outcome.get("warnings") or [])
    if spec.enforcement == ENFORCE_WARN:
        denies, warnings = [], denies + warnings
    return PolicyResult(policy=spec.name, enforcement=spec.enforcement, denies=denies, warnings=warnings,
                        error=outcome.get("error") or "", failure_policy=spec.failure_policy)


def _run_child(input_json: str, jobs: list[tuple[int, PolicyBundle]], limits: list[float],
               memory: int = 0) -> dict[int, dict[str, Any]]:
    """One child for `jobs`, in order: the outcomes it delivered, and an error outcome for the policy at
    which it overran its limit or died (the caller starts a child for the rest)."""
    cpu = INPUT_LOAD_TIMEOUT + sum(limits[i] for i, _ in jobs)
    request = {"op": "evaluate", "cpu_seconds": cpu,
               "bundles": [[i, _bundle_doc(b)] for i, b in jobs]}
    out: dict[int, dict[str, Any]] = {}
    with _Child(request, input_json, memory or MEMORY_LIMIT) as child:
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
        lost = child.lost(timeout) if msg is None else ""
    SPARES.fill()
    if msg is None or msg[0] != "compiled":
        name = bundle.modules[0][0] if bundle.modules else "(bundle)"
        why = lost if msg is None else msg[1]
        return [CompileError(name, 0, 0, f"the compile check failed: {why}")]
    return [CompileError(*e) for e in msg[1]]


def _bundle_doc(bundle: PolicyBundle) -> dict[str, Any]:
    return {"name": bundle.name, "modules": [list(m) for m in bundle.modules], "data": bundle.data}


class _Child:
    """`python -m tfcontroller.policy.worker`: the request (and the input) on stdin, one JSON message a line
    on stdout. A fresh interpreter, not a fork of the caller: forking a threaded controller is unsafe, and
    multiprocessing's forkserver/spawn re-import the caller's `__main__`. Its environment is empty but for
    what Python needs: a policy can read its process's environment (`opa.runtime()`), and the controller's
    holds credentials. It may have been started ahead of need (`_Spares`): the same process, only earlier."""

    def __init__(self, request: dict[str, Any], input_json: str = "null", memory: int = MEMORY_LIMIT) -> None:
        self.request = request
        self.input_json = input_json
        self.memory = memory
        self.over_memory = False
        self.proc: subprocess.Popen[bytes] | None = None
        self.buffer = b""
        self.from_spare = False
        self.answered = False

    def __enter__(self) -> _Child:
        env = _child_env()
        spare = SPARES.take(env)
        self.from_spare = spare is not None
        self._send(spare or _start_worker(env))
        return self

    def _send(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc, self.buffer, self.answered = proc, b"", False
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(self.request).encode() + b"\n" + self.input_json.encode())
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()

    def receive(self, timeout: float) -> list[Any] | None:
        """The next message, or None when none came within `timeout` seconds or the child ended. A spare
        that ended before its first answer died while idle (killed from outside, before `take` could
        see it): that is not the request's doing, so a fresh worker takes the request, once."""
        deadline = time.monotonic() + timeout
        msg = self._receive(deadline)
        if msg is None and self.from_spare and not self.answered and not self.over_memory and self._ended():
            assert self.proc is not None and self.proc.stdout is not None
            self.proc.stdout.close()
            self.from_spare = False
            self._send(_start_worker(_child_env()))
            msg = self._receive(deadline)
        self.answered = self.answered or msg is not None
        return msg

    def _ended(self) -> bool:
        assert self.proc is not None
        try:
            self.proc.wait(0.5)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _receive(self, deadline: float) -> list[Any] | None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if not select.select([fd], [], [], min(left, MEMORY_POLL))[0]:
                if self._resident() > self.memory:
                    self.over_memory = True
                    self.proc.kill()
                    return None
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        msg: list[Any] = json.loads(line)
        return msg

    def _resident(self) -> int:
        """The child's resident set (bytes; 0 once it is gone)."""
        assert self.proc is not None
        try:
            with open(f"/proc/{self.proc.pid}/statm", "rb") as fh:
                return int(fh.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            return 0

    def lost(self, limit: float | None = None) -> str:
        """Why no message came: the memory bound, the time limit, or the child's end."""
        assert self.proc is not None
        if self.over_memory:
            self.proc.wait(10)
            return f"evaluation used more than {self.memory / 1024**2:.0f} MiB of memory (the policy was stopped)"
        try:
            code = self.proc.wait(0.5)
        except subprocess.TimeoutExpired:
            return f"evaluation did not finish within {limit:g}s (the policy was stopped)" if limit else \
                "no answer in time"
        return f"the policy engine stopped unexpectedly (exit code {code})"


class _Shared:
    """The worker of `_run_shared`: the request and the input on its stdin, its relayed lines (`[group,
    ...]`, worker._fork_groups) dispatched by a reader thread to one queue per group. Started like any child
    (a warm spare or a fresh worker), in a process group of its own, which holds its forks."""

    def __init__(self, request: dict[str, Any], input_json: str, groups: int, memory: int) -> None:
        self.request, self.input_json, self.memory = request, input_json, memory
        self.queues: list[queue.Queue[list[Any] | None]] = [queue.Queue() for _ in range(groups)]
        self.ready = threading.Event()
        self.ready_why: str | None = "no answer in time"
        self.over_memory: set[int] = set()
        self.ended: dict[int, int] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.from_spare = False

    def __enter__(self) -> _Shared:
        env = _child_env()
        spare = SPARES.take(env)
        self.from_spare = spare is not None
        self.proc = spare or _start_worker(env)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(self.request).encode() + b"\n" + self.input_json.encode())
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """The worker ends by itself once every fork ended (it reaps them: their CPU is accounted to it, and
        to us). Otherwise — a fork still running after its group gave up on it, the worker stuck — the whole
        process group is killed while the worker is not reaped yet, so its group id cannot be reused."""
        assert self.proc is not None
        try:
            self.proc.wait(2.0)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait(10)
        self.reader.join(10)
        if self.proc.stdout:
            self.proc.stdout.close()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, list) or not msg:
                continue
            if isinstance(msg[0], int) and 0 <= msg[0] < len(self.queues):
                self.queues[msg[0]].put(msg[1:])
            elif msg[0] == "ready":
                self.ready_why = None
                self.ready.set()
            elif msg[0] == "failed":
                self.ready_why = f"the policy engine failed: {msg[1] if len(msg) > 1 else ''}"
                self.ready.set()
        self.ready.set()
        for q in self.queues:
            q.put(None)

    def wait_ready(self, timeout: float) -> str | None:
        """None once the input is loaded; else why not (the time limit, an engine failure, the worker's end)."""
        if not self.ready.wait(timeout):
            return f"no answer within {timeout:g}s"
        if self.ready_why == "no answer in time":  # the output ended without a word
            return f"the policy engine stopped unexpectedly (exit code {self.proc.poll() if self.proc else None})"
        return self.ready_why

    def ended_early(self) -> bool:
        """The worker ended without loading the input and was a spare: it died idle, not of this request
        (as `_Child.receive`), so the groups are run again in fresh children."""
        return self.from_spare and self._exited()

    def _exited(self) -> bool:
        assert self.proc is not None
        try:
            self.proc.wait(0.5)
        except subprocess.TimeoutExpired:
            return False
        return True

    def forked(self, group: int, timeout: float) -> int | None:
        msg = self._next(group, timeout)
        return int(msg[1]) if msg is not None and msg[0] == "forked" else None

    def _next(self, group: int, timeout: float) -> list[Any] | None:
        try:
            return self.queues[group].get(timeout=timeout)
        except queue.Empty:
            return None

    def receive(self, group: int, pid: int, timeout: float) -> list[Any] | None:
        """The group's next message within `timeout`, watching the fork's resident memory meanwhile; None
        at the limit, past the memory bound (the fork is killed) or when it ended."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            msg = self._next(group, min(left, MEMORY_POLL))
            if msg is None:
                if self.queues[group].empty() and _resident(pid) > self.memory:
                    self.over_memory.add(group)
                    self.kill(group, pid)
                    return None
                if not self.reader.is_alive() and self.queues[group].empty():
                    return None
                continue
            if msg[0] == "ended":
                self.ended[group] = int(msg[1])
                return None
            return msg

    def kill(self, group: int, pid: int) -> None:
        """Stop a fork that overran (its pid is held by a zombie until every fork ended, worker._fork_groups)."""
        if group in self.ended:
            return
        try:
            os.kill(pid, 9)
        except (ProcessLookupError, PermissionError):
            pass

    def lost(self, group: int, limit: float) -> str:
        if group in self.over_memory:
            return f"evaluation used more than {self.memory / 1024**2:.0f} MiB of memory (the policy was stopped)"
        if group in self.ended:
            return f"the policy engine stopped unexpectedly (exit code {self.ended[group]})"
        if not self.reader.is_alive():
            return "the policy engine stopped unexpectedly"
        return f"evaluation did not finish within {limit:g}s (the policy was stopped)"


def _resident(pid: int) -> int:
    """A process's resident set (bytes; 0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


# what a Python interpreter needs to find its packages; nothing else of the caller's environment
_CHILD_ENV = frozenset({"PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LANG", "LC_ALL"})


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in _CHILD_ENV}


def _start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A fresh worker; it imports the engine at once, then waits for its one request on stdin."""
    return subprocess.Popen([sys.executable, "-m", "tfcontroller.policy.worker"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            cwd="/", close_fds=True, start_new_session=True)


class _Spares:
    """Workers started ahead of need, idle on their stdin with the engine imported, so that an evaluation
    does not wait for an interpreter to start and import regopy (~0.07 s of a ~0.4 s fixed cost per child:
    benchmarks/README.md). Each is still used for one request only and then ends: a spare is exactly the
    fresh child `_Child` would start, only earlier, so time limits, the kill on overrun, the empty
    environment and the separation of one plan's evaluation from the next are unchanged. A spare is handed
    out only if it is alive and was started with the environment a fresh child would get now; the pool
    is refilled after an evaluation (not during it, where the start-up would compete for the CPU) and
    killed at exit. An idle worker costs no CPU; one whose caller died reads end-of-file and exits."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: list[tuple[dict[str, str], subprocess.Popen[bytes]]] = []
        self._lock = threading.Lock()

    def take(self, env: dict[str, str]) -> subprocess.Popen[bytes] | None:
        """An idle worker started with `env`, or None; dead or mismatched spares are dropped."""
        with self._lock:
            while self._idle:
                spare_env, proc = self._idle.pop()
                if spare_env == env and proc.poll() is None:
                    return proc
                _discard(proc)
        return None

    def fill(self) -> None:
        """Start workers until `size` are idle (dead ones removed first)."""
        env = _child_env()
        with self._lock:
            alive = []
            for spare_env, proc in self._idle:
                if proc.poll() is None and spare_env == env:
                    alive.append((spare_env, proc))
                else:
                    _discard(proc)
            self._idle = alive
            while len(self._idle) < self.size:
                self._idle.append((env, _start_worker(env)))

    def idle(self) -> list[int]:
        """The process ids of the idle workers (tests, metrics)."""
        with self._lock:
            return [proc.pid for _, proc in self._idle]

    def close(self) -> None:
        with self._lock:
            for _, proc in self._idle:
                _discard(proc)
            self._idle = []


def _discard(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass
    for stream in (proc.stdin, proc.stdout):
        if stream:
            stream.close()


SPARES = _Spares(min(DEFAULT_WORKERS, os.cpu_count() or 1))
atexit.register(SPARES.close)


__all__ = ["PolicyReport", "PolicyResult", "PolicySpecView", "evaluate", "overall", "policies_digest"]
