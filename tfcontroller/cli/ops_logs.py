"""`tfcontroller logs NAME [--run ID] [-f] [--tail N] [--all]`: the Terraform output of a Terraform object's
runs, read from its runner Pods (issue 15, docs/architecture.md "Runner pods", "Logs").

A runner Pod carries the labels `tfcontroller.io/terraform=<name>`, `tfcontroller.io/run-id`,
`tfcontroller.io/plan-id` and `tfcontroller.io/operation` (the pod-mode contract); its one container
`runner` prints Terraform's messages, already scrubbed by the runner. This command lists those Pods in
the object's namespace and prints `pods/log` of each chosen one:

- which run: `--run ID`; `--all` every run whose Pods are still there, oldest first; by default the newest,
  i.e. the run in flight when a `status.runs[]` record names its Pod, else the run of the newest Pod
  (`creationTimestamp`, then name). A run may have several Pods (one per command: plan, then apply).
- a header `== run ID (operation, plan PLAN-ID) pod NAME ==` before each Pod's log when several are printed;
- `--follow` streams the log as the runner writes it and returns when the container ends. A Pod that has
  not started yet (Pending) is waited for — `kubectl logs -f` answers 400 "waiting to start" instead — and
  one that cannot start (`CreateContainerError`, an image that cannot be pulled) is reported, not waited on;
- no Pod found is explained: runs in local mode log to the controller, and finished runner Pods are
  removed (a failed one is kept only with the controller's `--keep-failed-runners`);
- an RBAC refusal names what the caller needs (`list pods`, `get pods/log`) in which namespace.

The choice of Pods and their headers are pure functions in `operations/run_logs.py` (shared with the
dashboard; tests/unit/operations/test_run_logs.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import Any

from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.errors import ApiError, Forbidden, Gone, NotFound
from tfcontroller.kube.resources import PODS, TERRAFORMS
from tfcontroller.operations.run_logs import (
    CANNOT_START,
    LABEL_TERRAFORM,
    RUNNER_CONTAINER,
    RunPod,
    choose,
    container_state,
    header,
    in_flight_pods,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "logs", help="print the Terraform output of a Terraform object's runs (its runner Pods' logs)",
        description="Print the Terraform output of a Terraform object's runs, read from its runner Pods "
                    "(--runner=pod): the newest run by default.")
    p.add_argument("name", metavar="NAME", help="the Terraform object")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--run", metavar="ID", help="the run with this id (label tfcontroller.io/run-id)")
    which.add_argument("--all", action="store_true", help="every run whose Pods are still there, oldest first")
    p.add_argument("-f", "--follow", action="store_true",
                   help="stream the log until the runner ends (a Pending Pod is waited for)")
    p.add_argument("--tail", type=int, default=None, metavar="N", help="only the last N lines of each Pod's log")
    kubectx.add_connection_args(p)
    p.set_defaults(func=run)


# ---- pure: the explanation when there is no Pod (the choice is in operations/run_logs.py) ---------------


def no_pods_message(name: str, namespace: str, run: str | None, runs: Sequence[str]) -> str:
    """Why there is nothing to print, and where the output is instead. Pure."""
    if run is not None and runs:
        return (f'no runner Pod of run {run} of terraform "{name}" in namespace "{namespace}" (runs with Pods: '
                f"{', '.join(runs)}); a runner Pod is removed once its run succeeds")
    which = f" of run {run}" if run is not None else ""
    return (f'no runner Pod{which} of terraform "{name}" in namespace "{namespace}": with --runner=local the '
            f"controller's log has the runs' output (lines with object={namespace}/{name}); with --runner=pod "
            "a runner Pod is removed once its run succeeds, and a failed one is kept only when the controller "
            "runs with --keep-failed-runners")


def refused(exc: Forbidden, verb: str, resource: str, namespace: str) -> str:
    return (f"the API server refused to {verb} {resource} in namespace \"{namespace}\" (Forbidden): {exc.message}; "
            f"reading runner logs needs `list` on pods and `get` on pods/log there")


# ---- the command ------------------------------------------------------------------------------------------


@kubectx.api_errors
def run(args: argparse.Namespace) -> int:
    if args.tail is not None and args.tail < 0:
        raise CLIError("--tail must be 0 or more", kubectx.EXIT_USAGE)
    with kubectx.connect(args) as conn:
        obj = conn.get(TERRAFORMS, args.name)
        ns = conn.namespace
        try:
            items, _ = conn.client.list_all(PODS, ns, label_selector=f"{LABEL_TERRAFORM}={args.name}")
        except Forbidden as exc:
            raise CLIError(refused(exc, "list", "pods", ns)) from None
        found = [RunPod.of(p) for p in items]
        chosen = choose(found, run=args.run, all_runs=args.all, in_flight=in_flight_pods(obj.get("status")))
        if not chosen:
            runs = list(dict.fromkeys(p.run_id for p in sorted(found, key=lambda p: p.order) if p.run_id))
            raise CLIError(no_pods_message(args.name, ns, args.run, runs))
        printed = 0
        for pod in chosen:
            if len(chosen) > 1:
                print(header(pod), flush=True)
            printed += _print_pod(conn.client, ns, pod.name, args)
    return kubectx.EXIT_OK if printed else kubectx.EXIT_FAILED


def _print_pod(client: Any, ns: str, name: str, args: argparse.Namespace) -> int:
    """Print one Pod's log; 1 when it was read, 0 when it could not be (a note on stderr says why)."""
    try:
        if args.follow and not _wait_started(client, ns, name):
            return 0
        for line in client.pod_log(ns, name, container=RUNNER_CONTAINER, follow=args.follow, tail_lines=args.tail):
            print(line, flush=True)
    except Forbidden as exc:
        raise CLIError(refused(exc, "get", f'pods/log of pod "{name}"', ns)) from None
    except NotFound:
        print(f"note: pod {name} is gone (removed after its run)", file=sys.stderr)
        return 0
    except ApiError as exc:
        if exc.status != 400:
            raise
        hint = "; --follow waits for it to start" if "waiting to start" in exc.message and not args.follow else ""
        print(f"note: pod {name}: {exc.message}{hint}", file=sys.stderr)
        return 0
    return 1


def _wait_started(client: Any, ns: str, name: str) -> bool:
    """Wait until the runner container runs or has ended (a Pending Pod, as `kubectl logs -f` does not);
    False, with a note, when it cannot start or the Pod goes away first."""
    noted = False
    for pod in _pod_updates(client, ns, name):
        if pod is None:
            print(f"note: pod {name} was removed before its runner started", file=sys.stderr)
            return False
        state, reason, message = container_state(pod)
        if state != "waiting":
            return True
        if reason in CANNOT_START:
            print(f"note: pod {name} cannot start: {reason}{f': {message}' if message else ''}", file=sys.stderr)
            return False
        if not noted:
            print(f"note: pod {name} is {reason or 'Pending'}; waiting for its runner to start", file=sys.stderr)
            noted = True
    return False


def _pod_updates(client: Any, ns: str, name: str) -> Iterator[dict[str, Any] | None]:
    """The Pod now, then at each change (a watch, re-opened when the server ends it); None once it is gone."""
    while True:
        pods, version = client.list_all(PODS, ns, field_selector=f"metadata.name={name}")
        yield pods[0] if pods else None
        if not pods:
            return
        try:
            with closing(client.watch(PODS, ns, field_selector=f"metadata.name={name}", resource_version=version,
                                      timeout_seconds=60, allow_bookmarks=False)) as stream:
                for kind, pod in stream:
                    yield None if kind == "DELETED" else pod
                    if kind == "DELETED":
                        return
        except Gone:
            continue  # the list's version is too old by now: list again
