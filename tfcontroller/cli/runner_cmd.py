"""`tfcontroller runner run`: execute one Terraform run apart from the controller (issue 15).

    tfcontroller runner run --exchange DIR [--inbox DIR] [--kubeconfig FILE] [--stop-on-stdin-eof [--await-apply SECONDS]]
    tfcontroller runner pod      (pod mode: inputs at the runner Pod's fixed paths; tfcontroller/runner/pod.py)

Reads `INBOX/request.json` (tfcontroller.api.run_protocol; `--inbox`, default the exchange directory),
runs it (tfcontroller.runner.execute) and writes `DIR/result.json` (atomically, 0600); a plan run leaves
its plan in `DIR/plan.out`, an apply run applies `INBOX/plan.in`. The controller's local runs give an
inbox that the sandbox mounts read-only: the module's code, which can write the exchange directory, cannot
change what the controller asked for. Its identity towards the API server is `--kubeconfig` (local mode: a per-run kubeconfig,
never the controller's) or, without it, the Pod's in-cluster configuration (pod mode). Its stdout is the
run's log, scrubbed. SIGTERM or SIGINT stops Terraform gracefully (SIGINT, grace, SIGKILL: it saves the
state it has and releases its lock); with `--stop-on-stdin-eof` so does the end of stdin, which in local
mode is a pipe from the controller: a controller that dies stops its runs as before. With `--await-apply`,
a plan run that planned changes writes its result and then waits on stdin for the controller to hand over
the apply of that plan (tfcontroller/runner/commands.py: one runner process per reconcile, issue 21).

Exit code: 0 the run succeeded, 1 it failed (the result says why), 2 the request could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

EXIT_FAILED = 1
EXIT_BAD_REQUEST = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "runner", help="execute one Terraform run (started by the controller, not by hand)",
        description="The runner side of a Terraform run: started by the controller in a sandbox (--runner=local) "
                    "or as a runner Pod (--runner=pod).")
    commands = parser.add_subparsers(dest="runner_command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="execute the request in --exchange and write its result",
                              description="Execute DIR/request.json and write DIR/result.json.")
    run.add_argument("--exchange", required=True, help="the run's exchange directory (request, plan, result)")
    run.add_argument("--inbox", help="the directory of the run's inputs (request, artifact, plan.in); "
                                     "default: the exchange directory")
    run.add_argument("--kubeconfig", help="the run's own kubeconfig (default: in-cluster configuration)")
    run.add_argument("--init-cache", help="the object's init cache directory: init is skipped while it was "
                                          "initialised for the request's init key (local mode)")
    run.add_argument("--stop-on-stdin-eof", action="store_true",
                     help="stop the run gracefully when stdin ends (the controller that started it is gone)")
    run.add_argument("--await-apply", type=float, metavar="SECONDS",
                     help="with --stop-on-stdin-eof: after a plan with changes, wait up to SECONDS for the "
                          "controller to hand over its apply on stdin, and apply in the same workspace")
    run.add_argument("--status-fd", type=int, metavar="FD",
                     help="with --await-apply: a pipe on which the runner announces its plan's result (the sha256 "
                          "of result.json), a channel the module's code cannot reach")
    run.set_defaults(func=run_command)
    pod = commands.add_parser("pod", help="execute the run of this runner Pod and deliver its result",
                              description="Pod mode: read the request the Pod was given, run it with the Pod's "
                                          "own ServiceAccount, deliver the result over the run API.")
    pod.set_defaults(func=pod_command)


def run_command(args: argparse.Namespace) -> int:
    from tfcontroller.api.run_protocol import REQUEST_FILE, RequestInvalid, RunRequest
    from tfcontroller.runner.commands import AwaitApply, StdinCommands, make_undumpable

    # before anything of the module runs: same-uid code cannot reach this process's stdin through /proc
    undumpable = make_undumpable()
    status = args.status_fd
    if status is not None:
        os.set_inheritable(status, False)  # Terraform, and so the module's code, never gets it
    exchange = Path(args.exchange)
    inbox = Path(args.inbox) if args.inbox else exchange
    try:
        request = RunRequest.from_dict(json.loads((inbox / REQUEST_FILE).read_text()))
    except (OSError, ValueError, RequestInvalid) as exc:
        print(f"error: {inbox / REQUEST_FILE}: {exc}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    env = _environment(args)
    env.inbox = inbox
    _stop_on_signals(env)
    from tfcontroller.runner.execute import execute

    commands = StdinCommands(env.stop) if args.stop_on_stdin_eof else None
    follow = None
    if commands is not None and args.await_apply:
        if not undumpable:
            env.line("this runner cannot be made undumpable: no apply will be handed over to it")
        else:
            def deliver(result: Any) -> None:
                data = _write_result(exchange, result.to_dict())
                if status is not None:
                    import hashlib

                    os.write(status, f"{hashlib.sha256(data).hexdigest()}\n".encode())

            follow = AwaitApply(inbox, request, commands, args.await_apply, deliver, env.line)
    result = execute(request, exchange, env, follow=follow)
    if follow is None or follow.delivered is not result:  # a plan whose apply never came is written already
        _write_result(exchange, result.to_dict())
    env.say(cpu_line())
    return 0 if result.succeeded else EXIT_FAILED


def pod_command(args: argparse.Namespace) -> int:
    """`tfcontroller runner pod` (tfcontroller/runner/pod.py): inputs at the Pod's fixed paths."""
    from tfcontroller.api.run_protocol import RequestInvalid, RunRequest
    from tfcontroller.runner.pod import EXIT_BAD_REQUEST as POD_BAD_REQUEST
    from tfcontroller.runner.pod import PodPaths, deadline_from_env, now, run_in_pod
    from tfcontroller.terraform import runner_pod as manifests

    started = now()
    run_dir, token_dir = Path(manifests.RUN_DIR), Path(manifests.TOKEN_DIR)
    paths = PodPaths(request=run_dir / manifests.REQUEST_KEY, ca=run_dir / manifests.CA_KEY,
                     token=token_dir / manifests.TOKEN_FILE, work=Path(manifests.WORK_DIR),
                     termination_log=Path(manifests.TERMINATION_LOG))
    try:
        request = RunRequest.from_dict(json.loads(paths.request.read_text()))
        ca_pem = paths.ca.read_text()
        url = os.environ[manifests.ENV_RUN_API]
    except (OSError, ValueError, RequestInvalid, KeyError) as exc:
        print(f"error: cannot read this run's request: {exc}", file=sys.stderr)
        return POD_BAD_REQUEST
    from tfcontroller.runner.channel import RunChannel
    from tfcontroller.runner.execute import execute

    env = _environment(argparse.Namespace(kubeconfig=None, init_cache=None))  # a Pod starts with no init cache
    _stop_on_signals(env)
    channel = RunChannel(url, ca_pem, paths.token)
    return run_in_pod(request, paths, channel, env, deadline=deadline_from_env(os.environ, started), execute=execute)


def cpu_line() -> str:
    """The run's CPU seconds: this process from its start (interpreter and imports included) and the
    Terraform processes it waited for; what issue 21 measures a runner by (benchmarks/runner_cpu.py)."""
    times = os.times()
    return f"runner cpu {times.user + times.system + times.children_user + times.children_system:.3f}s"


def _environment(args: argparse.Namespace) -> Any:
    from tfcontroller.runner.execute import RunEnvironment
    from tfcontroller.runner.inputs import ConnectOnFirstRead
    from tfcontroller.terraform.config import TerraformConfig

    def say(line: str) -> None:
        print(line, flush=True)

    return RunEnvironment(kube=ConnectOnFirstRead(args.kubeconfig), kubeconfig=args.kubeconfig, terraform=TerraformConfig.from_env(), say=say,
                          init_cache=Path(args.init_cache) if args.init_cache else None)


def _stop_on_signals(env: Any) -> None:
    def stop(signum: int, frame: object) -> None:
        env.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def _write_result(exchange: Path, result: dict[str, Any]) -> bytes:
    from tfcontroller.api.run_protocol import RESULT_FILE
    from tfcontroller.runner.execute import write_new

    # a new temporary file (O_EXCL): the module's code can write the exchange directory, and a FIFO it left
    # at a fixed temporary name would block this write for ever
    data = json.dumps(result).encode()
    write_new(exchange / RESULT_FILE, data)
    return data
