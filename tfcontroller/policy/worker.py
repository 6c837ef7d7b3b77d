"""The policy worker: the child process in which the Rego engine runs (evaluate.py starts it).

Everything that touches `regopy` lives here, in a process of its own, because the engine has no time limit
(a policy can loop or build huge sets), prints its diagnostics straight to the console (fd 1/2, not
through Python), and is C++ that a bad module could crash. The parent kills this process at a policy's
time limit; RLIMIT_CPU stops it too should the parent die first.

Protocol (one request per process; the process may be started before the request comes and waits for
it with the engine imported): stdin carries one JSON request line (`{"op": "evaluate"|"compile", "bundles"|"groups"|"bundle", "cpu_seconds"}`)
then the input document; stdout carries one JSON array a line: `["ready"]` once the input is loaded, then
`["result", index, {"denies": [...], "warnings": [...], "error": ""}]` per policy in order; for a compile
check, `["compiled", [[file, line, column, message], ...]]`. With `groups` (several groups of bundles on
one input), after `["ready"]` each group runs in a process forked from this one (`_fork_groups`) and every
line is `[group, ...]`: `"forked", pid`, then the group's results in order, then `"ended", status`.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
from typing import Any

from tfcontroller.policy.bundle import CompileError, PolicyBundle, lexical_errors

_ERROR = re.compile(r"\(error (\d+):")
_ERRORMSG = re.compile(r"\(errormsg (\d+):")
_POSITION = re.compile(r"\|(\d+)\|(\d+)")


def main() -> int:
    """Read the request line and the input from stdin, answer one JSON message a line on stdout."""
    # imported before the request comes: a worker may be started ahead of need (evaluate._Spares) and
    # wait here, ready, for the one request it will serve
    import regopy

    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    request_line = sys.stdin.buffer.readline()
    if not request_line.strip():  # an idle spare whose caller ended or discarded it
        return 0
    input_json = sys.stdin.buffer.read().decode() or "null"
    _quiet()
    request = json.loads(request_line)
    _limit_cpu(float(request.get("cpu_seconds", 60.0)))

    def send(*msg: Any) -> None:
        channel.write(json.dumps(list(msg)) + "\n")
        channel.flush()

    try:
        if request["op"] == "compile":
            send("compiled", [_as_tuple(e) for e in compile_errors(_bundle(request["bundle"]))])
            return 0
        interp = regopy.Interpreter()
        # the text as a Rego term: regopy.Input (node by node) is ~40% faster but builds arrays of scalars
        # that built-ins cannot read in regopy 1.5.2 (json.marshal of such an array is undefined)
        interp.set_input_term(input_json)
        if "groups" in request:  # several groups on one loaded input: one forked process per group
            groups = [[(index, _bundle(doc)) for index, doc in group] for group in request["groups"]]
            send("ready")
            code = _fork_groups(interp, groups, channel)
            channel.flush()
            os._exit(code)  # at once: freeing the engine's copy of the input is work nobody needs
        jobs = [(index, _bundle(doc)) for index, doc in request["bundles"]]
        send("ready")
        for index, bundle in jobs:
            send("result", index, evaluate_bundle(interp, bundle))
    except Exception as exc:  # reported as the current policy's error, never a silent exit
        send("failed", f"{type(exc).__name__}: {exc}"[:500])
        return 1
    return 0


def _fork_groups(interp: Any, groups: list[list[tuple[int, PolicyBundle]]], channel: Any) -> int:
    """Evaluate each group in a process forked from this one once the input is loaded (copy-on-write: the
    ~0.3-0.4 s load of a 600 KiB plan is paid once, not once per group; benchmarks/README.md). This process is
    single-threaded, so forking it is safe (unlike forking the controller). Each fork answers on a pipe of its
    own; this process relays whole lines to stdout as `[group, <message>...]`, first `[group, "forked", pid]`
    (the parent watches and kills each fork by pid) and last `[group, "ended", status]`. The forks inherit
    the empty environment and RLIMIT_CPU; the parent kills the whole process group when it is done."""
    import select

    readers: dict[int, tuple[int, int, bytes]] = {}  # read fd -> (group, pid, buffered bytes)
    ended: list[int] = []
    for g, jobs in enumerate(groups):
        r, w = os.pipe()
        channel.flush()  # nothing buffered is inherited by the fork
        pid = os.fork()
        if pid == 0:  # the fork: evaluate this group, answer on w
            os.close(r)
            for fd in readers:
                os.close(fd)
            out = os.fdopen(w, "w", encoding="utf-8")
            try:
                for index, bundle in jobs:
                    out.write(json.dumps(["result", index, evaluate_bundle(interp, bundle)]) + "\n")
                    out.flush()
            except Exception as exc:  # reported as the current policy's error
                out.write(json.dumps(["failed", f"{type(exc).__name__}: {exc}"[:500]]) + "\n")
                out.flush()
                os._exit(1)
            os._exit(0)
        os.close(w)
        readers[r] = (g, pid, b"")
        channel.write(json.dumps([g, "forked", pid]) + "\n")
    channel.flush()
    while readers:
        ready, _, _ = select.select(list(readers), [], [])
        for fd in ready:
            g, pid, buffer = readers[fd]
            chunk = os.read(fd, 1 << 16)
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:  # ["result", ...] -> [g, "result", ...], whole lines only
                channel.write(f"[{g}," + line.decode()[1:] + "\n")
            readers[fd] = (g, pid, buffer)
            if not chunk:
                os.close(fd)
                del readers[fd]
                ended.append(pid)
                # its status without reaping it: a zombie keeps its pid, so the parent's kill of a fork
                # it has not seen end yet can never reach a process that reused the pid
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
                code = -info.si_status if info is not None and info.si_code != os.CLD_EXITED else \
                    (info.si_status if info is not None else 0)
                channel.write(json.dumps([g, "ended", code]) + "\n")
        channel.flush()
    for pid in ended:
        os.waitpid(pid, 0)
    return 0


def _bundle(doc: dict[str, Any]) -> PolicyBundle:
    return PolicyBundle(name=doc.get("name", ""), modules=tuple((f, t) for f, t in doc["modules"]),
                        data=doc.get("data"))


def evaluate_bundle(interp: Any, bundle: PolicyBundle) -> dict[str, Any]:
    """The conftest rules of every package of `bundle` on the interpreter's input. The bundle is compiled
    on its own (`Interpreter.build`: its modules and its data only) and its rules run as entry points on
    the interpreter that holds the input: bundles sharing that interpreter (and the cost of loading the
    input) cannot see or clash with each other (two may both be `package main`), and a query compiles
    nothing of the other bundles (a query on a shared interpreter compiles every module loaded in it, ~1.2 ms
    per bundle: benchmarks/README.md)."""
    import regopy

    out: dict[str, Any] = {"denies": [], "warnings": [], "error": ""}
    found = lexical_errors(bundle, interp.is_builtin)  # what compile_check refuses never evaluates either
    if found:
        out["error"] = "does not compile: " + "; ".join(str(e) for e in found[:5])
        return out
    builder = regopy.Interpreter()
    builder.add_data(bundle.data if isinstance(bundle.data, dict) else {})
    for file, text in bundle.modules:
        try:
            builder.add_module(file, text)
        except regopy.RegoError as exc:
            out["error"] = _module_error(file, text, exc, bundle)
            return out
    rules = [(pkg, rule) for pkg, names in bundle.rules().items() for rule in names]
    if not rules:
        return out
    try:
        compiled = builder.build(None, [f"{pkg.replace('.', '/')}/{rule}" for pkg, rule in rules])
    except regopy.RegoError as exc:
        errors = parse_errors(str(exc), dict(bundle.modules))
        out["error"] = "does not compile: " + ("; ".join(str(e) for e in errors) or str(exc)[:300])
        return out
    # Every rule is evaluated even after one failed: a rule's error must never hide another rule's deny (a
    # plan can be shaped to make a helper rule conflict; with `failurePolicy: Open` the error alone would
    # only warn).
    failed: list[str] = []
    for pkg, rule in rules:
        value, error = _query(interp, f"{pkg.replace('.', '/')}/{rule}", compiled)
        if error:
            failed.append(f"data.{pkg}.{rule}: {error}")
            continue
        messages, shape_error = messages_of(value, f"{pkg}.{rule}")
        if shape_error:
            failed.append(shape_error)
            continue
        out["warnings" if rule.startswith("warn") else "denies"].extend(messages)
    out["error"] = "; ".join(failed)
    return out


def _module_error(file: str, text: str, exc: Exception, bundle: PolicyBundle) -> str:
    """Why `file` does not compile. The module is parsed alone again, so that the error names its own file
    and line (as the PlanPolicy's compile check does); done only on failure — parsing every module twice
    on every evaluation cost ~1.4 ms per module for nothing (benchmarks/README.md)."""
    import regopy

    try:
        regopy.Interpreter().add_module(file, text)
    except regopy.RegoError as alone:
        exc = alone
    errors = parse_errors(str(exc), dict(bundle.modules))
    return "; ".join(str(e) for e in errors) or f"{file} does not compile"


def _query(interp: Any, query: str, compiled: Any = None) -> tuple[Any, str]:
    """(value, "") or (None, error text) of a query, or of an entry point of the `compiled` bundle.
    regopy's `Output` cannot parse an error result, so read it raw."""
    from regopy.rego_shared import (
        rego_bundle_query_entrypoint,
        rego_output_ok,
        rego_output_string,
        rego_query,
    )

    impl = rego_query(interp._impl, query) if compiled is None else \
        rego_bundle_query_entrypoint(interp._impl, compiled._impl, query)
    text = rego_output_string(impl)
    if not rego_output_ok(impl):
        return None, "evaluation failed (conflicting rule values or a built-in's error)"
    if text.startswith("(error"):
        msgs = [_counted(text, m.end(), int(m.group(1))) for m in _ERRORMSG.finditer(text)]
        return None, "; ".join(msgs) or "evaluation failed"
    if text == "undefined":
        return None, ""
    try:
        doc = json.loads(text)
    except ValueError:  # seen: sprintf("%s", [concat(…)]) leaves quotes unescaped in rego-cpp 1.5
        return None, f"the engine returned a result that is not JSON: {text[:200]}"
    exprs = doc.get("expressions") if isinstance(doc, dict) else None
    return (exprs[0] if exprs else None), ""


def messages_of(value: Any, rule: str) -> tuple[list[str], str]:
    """conftest's result shapes as messages: a set of strings or of objects with `msg`, a single string,
    a boolean rule (true: one message naming it). An object is a v0-style `deny[msg]` read as Rego v1."""
    if value is None or value is False:
        return [], ""
    if value is True:
        return [f"{rule} is true"], ""
    if isinstance(value, str):
        return [value], ""
    if isinstance(value, dict):
        if "msg" in value:
            return [_message(value)], ""
        return [], (f"{rule} is an object, not a set: write '{rule.rsplit('.', 1)[-1]} contains msg if {{ … }}' "
                    "(Rego v1)")
    if isinstance(value, list):
        return [_message(v) for v in value], ""
    return [json.dumps(value)], ""


def _message(item: Any) -> str:
    if isinstance(item, dict) and "msg" in item:
        msg = item["msg"]
        return msg if isinstance(msg, str) else json.dumps(msg, sort_keys=True)
    return item if isinstance(item, str) else json.dumps(item, sort_keys=True)


def compile_errors(bundle: PolicyBundle) -> list[CompileError]:
    """The engine's parse errors of each module (each parsed alone, so every broken file is named), then
    the lexer's findings (bundle.lexical_errors)."""
    import regopy

    errors: list[CompileError] = []
    texts = dict(bundle.modules)
    for file, text in bundle.modules:
        try:
            regopy.Interpreter().add_module(file, text)
        except regopy.RegoError as exc:
            errors.extend(parse_errors(str(exc), texts) or [CompileError(file, 0, 0, "does not compile")])
    probe = regopy.Interpreter()
    return errors + [e for e in lexical_errors(bundle, probe.is_builtin)
                     if not any(p.file == e.file and p.line == e.line for p in errors)]


def parse_errors(text: str, modules: dict[str, str]) -> list[CompileError]:
    """rego-cpp's error tree (`(error 15:policies/x.rego|35|2 (errormsg 16:this is unclosed) …)`, strings
    length-prefixed, positions as byte offset|length) as CompileErrors with line and column."""
    out = []
    for m in _ERROR.finditer(text):
        file = _counted(text, m.end(), int(m.group(1)))
        pos = _POSITION.match(text, m.end() + int(m.group(1)))
        msg_m = _ERRORMSG.search(text, m.end())
        message = _counted(text, msg_m.end(), int(msg_m.group(1))) if msg_m else "does not compile"
        line, column = _line_col(modules.get(file, ""), int(pos.group(1)) if pos else -1)
        out.append(CompileError(file, line, column, message))
    return out


def _counted(text: str, start: int, length: int) -> str:
    return text[start:start + length]


def _line_col(text: str, byte_offset: int) -> tuple[int, int]:
    if byte_offset < 0:
        return 0, 0
    before = text.encode()[:byte_offset].decode(errors="replace")
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def _as_tuple(e: CompileError) -> tuple[str, int, int, str]:
    return (e.file, e.line, e.column, e.message)


def _quiet() -> None:
    """The engine writes its diagnostics to fd 1 and 2: send them nowhere (we report them ourselves)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def _limit_cpu(seconds: float) -> None:
    """A CPU-time limit the kernel enforces, for the case the parent dies and cannot kill us."""
    limit = max(1, int(seconds) + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 1))


if __name__ == "__main__":
    sys.exit(main())
