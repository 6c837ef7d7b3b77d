"""Requests to the controller: `replan`, `reconcile`, `suspend`, `resume`, `force-unlock`.

Each is an annotation or a spec field the controller reads (design.md §3), so the commands work with any
RBAC that allows patching the object, and they do the same as a `kubectl annotate` would. `reconcile`
also waits for the controller to echo the request into status and reports how it ended, like
`flux reconcile`.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.constants import ANNOTATION_FORCE_UNLOCK, ANNOTATION_REPLAN, ANNOTATION_REQUESTED_AT
from tfcontroller.api.duration import DurationError, parse_duration
from tfcontroller.api.times import format_micro
from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.errors import ApiError
from tfcontroller.kube.resources import GITREPOSITORIES, TERRAFORMS, Resource

# The status field the controller echoes requested-at into (tfcontroller.runtime.requested); the CRDs
# also document `lastHandledReconcileAt`, which is accepted as well.
HANDLED_FIELDS = ("lastHandledRequestedAt", "lastHandledReconcileAt")
POLL_SECONDS = 0.5


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("replan", help="discard the pending plan of a Terraform and plan again")
    p.add_argument("name", metavar="NAME")
    kubectx.add_connection_args(p)
    p.set_defaults(func=run_replan)

    p = subparsers.add_parser(
        "reconcile", help="ask the controller to reconcile an object now and wait for the result",
        description="Set tfcontroller.io/requested-at, wait until the controller handled it, and exit 0 when "
                    "the object is Ready, 1 when it is not, 4 on timeout. KIND defaults to terraform.")
    p.add_argument("words", nargs="+", metavar="[KIND] NAME")
    p.add_argument("--with-source", action="store_true", help="reconcile the GitRepository first")
    p.add_argument("--timeout", default="5m", help="how long to wait (Go duration, default 5m)")
    kubectx.add_connection_args(p)
    p.set_defaults(func=run_reconcile)

    for verb, value in (("suspend", True), ("resume", False)):
        p = subparsers.add_parser(verb, help=f"{verb} reconciling an object (spec.suspend={str(value).lower()})",
                                  description=f"Set spec.suspend={str(value).lower()} on an object; KIND "
                                              "defaults to terraform.")
        p.add_argument("words", nargs="+", metavar="[KIND] NAME")
        kubectx.add_connection_args(p)
        p.set_defaults(func=run_suspend, suspend=value)

    p = subparsers.add_parser("force-unlock", help="ask the controller to release a Terraform state lock")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--lock-id", required=True, help="the lock id (status.lock.id, or from the StateLocked event)")
    kubectx.add_connection_args(p)
    p.set_defaults(func=run_force_unlock)


def _words(args: argparse.Namespace) -> tuple[Resource, str]:
    return kubectx.kind_and_name(args.words)


@kubectx.api_errors
def run_replan(args: argparse.Namespace) -> int:
    with kubectx.connect(args) as conn:
        conn.annotate(TERRAFORMS, args.name, {ANNOTATION_REPLAN: format_micro()})
    print(f"terraform.tfcontroller.io/{args.name} re-plan requested")
    return kubectx.EXIT_OK


@kubectx.api_errors
def run_suspend(args: argparse.Namespace) -> int:
    resource, name = _words(args)
    with kubectx.connect(args) as conn:
        conn.get(resource, name)
        conn.client.patch(resource, name, {"spec": {"suspend": args.suspend}}, conn.namespace)
    print(f"{resource.plural}.{resource.group}/{name} {'suspended' if args.suspend else 'resumed'}")
    return kubectx.EXIT_OK


@kubectx.api_errors
def run_force_unlock(args: argparse.Namespace) -> int:
    with kubectx.connect(args) as conn:
        obj = conn.get(TERRAFORMS, args.name)
        seen = ((obj.get("status") or {}).get("lock") or {}).get("id")
        if seen and seen != args.lock_id:
            print(f"warning: the last run saw lock {seen}, not {args.lock_id}", file=sys.stderr)
        conn.annotate(TERRAFORMS, args.name, {ANNOTATION_FORCE_UNLOCK: args.lock_id})
    print(f"terraform.tfcontroller.io/{args.name} force-unlock of lock {args.lock_id} requested")
    return kubectx.EXIT_OK


# ---- reconcile --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    done: bool
    ready: bool
    message: str


def handled_value(obj: dict[str, Any]) -> str | None:
    status = obj.get("status") or {}
    for name in HANDLED_FIELDS:
        if status.get(name):
            return str(status[name])
    return None


def outcome(obj: dict[str, Any], requested: str) -> Outcome:
    """Has the controller finished with request `requested`, and how did it end? Pure, for tests."""
    ready = kubectx.condition(obj, "Ready") or {}
    reconciling = kubectx.condition(obj, "Reconciling") or {}
    text = f"{ready.get('reason') or ''}: {ready.get('message') or ''}".strip(": ")
    if handled_value(obj) != requested:
        return Outcome(False, False, reconciling.get("message") or "waiting for the controller")
    if reconciling.get("status") == "True" or ready.get("status") in (None, "Unknown"):
        return Outcome(False, False, reconciling.get("message") or ready.get("message") or "reconciling")
    return Outcome(True, ready.get("status") == "True", text)


def wait_for(conn: kubectx.Connection, resource: Resource, name: str, namespace: str, requested: str,
             timeout: float, label: str) -> Outcome:
    """Follow the object with a watch (so no progress step is missed) until the request is handled and
    the object settled, printing each new progress message. A watch the server closes is reopened."""
    deadline = time.monotonic() + timeout
    last = ""

    def show(result: Outcome) -> None:
        nonlocal last
        if result.message != last:
            print(f"◎ {label}: {result.message}", flush=True)
            last = result.message

    while True:
        obj = conn.client.get(resource, name, namespace)
        result = outcome(obj, requested)
        if result.done:
            return result
        show(result)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CLIError(f"timed out after {timeout:g}s waiting for {label} (last: {last})", kubectx.EXIT_TIMEOUT)
        stream = conn.client.watch(resource, namespace, field_selector=f"metadata.name={name}",
                                   resource_version=obj["metadata"].get("resourceVersion"),
                                   timeout_seconds=max(1, math.ceil(remaining)), allow_bookmarks=False)
        try:
            for etype, changed in stream:
                if etype not in ("ADDED", "MODIFIED"):
                    continue
                result = outcome(changed, requested)
                if result.done:
                    return result
                show(result)
                if time.monotonic() >= deadline:
                    break
        except ApiError:
            time.sleep(POLL_SECONDS)  # Gone (410) or a broken stream: read again and re-watch
        finally:
            stream.close()


def _request_and_wait(conn: kubectx.Connection, resource: Resource, name: str, namespace: str,
                      timeout: float) -> Outcome:
    label = f"{resource.kind.lower()}/{name}"
    obj = conn.client.get(resource, name, namespace)
    if (obj.get("spec") or {}).get("suspend"):
        raise CLIError(f"{resource.kind} {namespace}/{name} is suspended; resume it first")
    value = format_micro()
    conn.client.patch(resource, name, {"metadata": {"annotations": {ANNOTATION_REQUESTED_AT: value}}}, namespace)
    print(f"► annotating {label} with {ANNOTATION_REQUESTED_AT}={value}", flush=True)
    result = wait_for(conn, resource, name, namespace, value, timeout, label)
    mark = "✔" if result.ready else "✗"
    print(f"{mark} {label}: {'Ready' if result.ready else 'not Ready'} — {result.message}", flush=True)
    return result


@kubectx.api_errors
def run_reconcile(args: argparse.Namespace) -> int:
    resource, name = _words(args)
    try:
        timeout = parse_duration(args.timeout)
    except DurationError as exc:
        raise CLIError(f"--timeout: {exc}", kubectx.EXIT_USAGE) from None
    deadline = time.monotonic() + timeout
    with kubectx.connect(args) as conn:
        obj = conn.get(resource, name)
        if args.with_source:
            if not kubectx.has_source(resource):
                raise CLIError(f"--with-source: a {resource.kind} has no source", kubectx.EXIT_USAGE)
            ref = (obj.get("spec") or {}).get("sourceRef") or {}
            src_ns = ref.get("namespace") or conn.namespace
            source = _request_and_wait(conn, GITREPOSITORIES, str(ref.get("name")), src_ns, timeout)
            if not source.ready:
                return kubectx.EXIT_FAILED
        remaining = max(1.0, deadline - time.monotonic())
        result = _request_and_wait(conn, resource, name, conn.namespace, remaining)
    return kubectx.EXIT_OK if result.ready else kubectx.EXIT_FAILED
