"""Requests to the controller: `replan`, `reconcile`, `suspend`, `resume`, `force-unlock`.

Each is an annotation or a spec field the controller reads (design.md §3), so the commands work with any
RBAC that allows patching the object, and they do the same as a `kubectl annotate` would. The commands
that ask the controller for a run (`reconcile`, `replan`, `force-unlock`) then wait for it by one rule
(cli/waiting.py, as `flux reconcile` does): ✔ and exit 0 when it succeeded, ✗ with the reason and exit 1
as soon as the run that saw the request failed, exit 4 when --timeout passes first.
Every command that changes an object prints it as kubectl does: `terraform.tfcontroller.io/NAME <verb>`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tfcontroller.api.constants import ANNOTATION_FORCE_UNLOCK
from tfcontroller.api.duration import DurationError, parse_duration
from tfcontroller.api.errors import SpecError
from tfcontroller.api.terraform import Terraform
from tfcontroller.api.terraform_status import PendingPlan
from tfcontroller.api.times import parse_rfc3339
from tfcontroller.cli import kubectx, waiting
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.errors import Forbidden
from tfcontroller.kube.resources import EVENTS, GITREPOSITORIES, TERRAFORMS, Resource
from tfcontroller.operations.errors import NOT_FOUND, OperationRefused
from tfcontroller.operations.events import event_time

if TYPE_CHECKING:  # the state reader imports the kube client; loaded when force-unlock runs
    from tfcontroller.terraform.errors import LockInfo

WORDS_HELP = "the object: NAME, KIND NAME or KIND/NAME (KIND defaults to terraform)"
FORCE_UNLOCK_FAILED = "ForceUnlockFailed"  # the controller's Event reason when terraform force-unlock fails
EVENT_GRACE = 5.0  # seconds to look for that Event after the status said the run ended
POLL_SECONDS = 0.2
T = TypeVar("T")


def _add_wait_args(p: argparse.ArgumentParser, *, no_wait: bool = True) -> None:
    p.add_argument("--timeout", default="5m", help="how long to wait for the controller (Go duration, default 5m)")
    if no_wait:
        p.add_argument("--no-wait", action="store_true", help="send the request and return without waiting")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "replan", help="discard the pending plan of a Terraform, plan again and wait for the new plan",
        description="Set tfcontroller.io/replan: the controller discards the pending plan and plans again "
                    "even if the inputs did not change. Waits for the plan: exit 0 when it was made (a plan "
                    "that waits for approval included), 1 when the run failed, 4 on timeout.")
    p.add_argument("name", metavar="NAME", help="the Terraform object")
    _add_wait_args(p)
    kubectx.add_connection_args(p)
    p.set_defaults(func=run_replan)

    p = subparsers.add_parser(
        "reconcile", help="ask the controller to reconcile an object now and wait for the result",
        description="Set tfcontroller.io/requested-at, wait until the controller handled it, and exit 0 when "
                    "the object is Ready, 1 as soon as the attempt failed (or a plan waits for approval), "
                    "4 on timeout. KIND defaults to terraform.")
    p.add_argument("words", nargs="+", metavar="[KIND] NAME", help=WORDS_HELP)
    p.add_argument("--with-source", action="store_true", help="reconcile the GitRepository first")
    _add_wait_args(p, no_wait=False)
    kubectx.add_connection_args(p)
    p.set_defaults(func=run_reconcile)

    for verb, value in (("suspend", True), ("resume", False)):
        p = subparsers.add_parser(verb, help=f"{verb} reconciling an object (spec.suspend={str(value).lower()})",
                                  description=f"Set spec.suspend={str(value).lower()} on an object; KIND "
                                              "defaults to terraform.")
        p.add_argument("words", nargs="+", metavar="[KIND] NAME", help=WORDS_HELP)
        kubectx.add_connection_args(p)
        p.set_defaults(func=run_suspend, suspend=value)

    p = subparsers.add_parser(
        "force-unlock", help="release a Terraform state lock through the controller and wait for it",
        description="Check that LOCK_ID is the lock held on the Terraform's state (refused otherwise, naming "
                    "the held lock), set tfcontroller.io/force-unlock and wait until the controller "
                    "released it: exit 0 when released, 1 when refused or the release failed, 4 on timeout.")
    p.add_argument("name", metavar="NAME", help="the Terraform object whose state is locked")
    p.add_argument("--lock-id", required=True, help="the lock id (status.lock.id, or from the StateLocked event)")
    _add_wait_args(p)
    kubectx.add_connection_args(p)
    p.set_defaults(func=run_force_unlock)


def refused_as_cli(operation: Callable[[], T]) -> T:
    """Run an operation (operations/), its refusal printed as the CLI's one line: exit 3 when not found."""
    try:
        return operation()
    except OperationRefused as exc:
        code = kubectx.EXIT_NOT_FOUND if exc.status == NOT_FOUND else kubectx.EXIT_FAILED
        raise CLIError(exc.message, code) from None


def _words(args: argparse.Namespace) -> tuple[Resource, str]:
    return kubectx.kind_and_name(args.words)


def _deadline(args: argparse.Namespace) -> float:
    try:
        return time.monotonic() + parse_duration(args.timeout)
    except DurationError as exc:
        raise CLIError(f"--timeout: {exc}", kubectx.EXIT_USAGE) from None


# ---- suspend / resume --------------------------------------------------------------------------------


@kubectx.api_errors
def run_suspend(args: argparse.Namespace) -> int:
    from tfcontroller.operations.control import set_suspended

    resource, name = _words(args)
    verb = "suspended" if args.suspend else "resumed"
    with kubectx.connect(args) as conn:
        conn.get(resource, name)  # a clear not-found first
        changed = refused_as_cli(lambda: set_suspended(conn.client, resource, conn.namespace, name, args.suspend))
    print(f"{waiting.label(resource, name)} {verb}" if changed else f"{waiting.label(resource, name)} already {verb}")
    return kubectx.EXIT_OK


# ---- reconcile -----------------------------------------------------------------------------------------


@kubectx.api_errors
def run_reconcile(args: argparse.Namespace) -> int:
    resource, name = _words(args)
    deadline = _deadline(args)
    with kubectx.connect(args) as conn:
        obj = conn.get(resource, name)
        if args.with_source:
            if not kubectx.has_source(resource):
                raise CLIError(f"--with-source: a {resource.kind} has no source", kubectx.EXIT_USAGE)
            ref = (obj.get("spec") or {}).get("sourceRef") or {}
            src, src_ns = str(ref.get("name")), ref.get("namespace") or conn.namespace
            value = waiting.request(conn, GITREPOSITORIES, src, src_ns, verb="reconcile requested")
            if not waiting.wait(conn, GITREPOSITORIES, src, src_ns, value, deadline):
                return kubectx.EXIT_FAILED
        value = waiting.request(conn, resource, name, conn.namespace, verb="reconcile requested")
        ok = waiting.wait(conn, resource, name, conn.namespace, value, deadline)
    return kubectx.EXIT_OK if ok else kubectx.EXIT_FAILED


# ---- replan ---------------------------------------------------------------------------------------------


def replan_verdict(value: str) -> waiting.Verdict:
    """✔ when the run handled the re-plan (status.lastHandledReplan) and planned: Ready, or a new plan
    held for approval; ✗ with the run's reason otherwise. Pure, for tests."""

    def verdict(result: waiting.Outcome, obj: dict[str, Any]) -> tuple[bool, str]:
        status = obj.get("status") or {}
        if status.get("lastHandledReplan") != value:
            return False, f"not re-planned — {result.text}"
        pending = PendingPlan.of(status).id
        if result.held and pending:
            return True, f"planned {pending}, which waits for approval — {result.text}"
        if result.ready:
            return True, f"re-planned — {result.text}"
        return False, f"re-plan failed — {result.text}"

    return verdict


@kubectx.api_errors
def run_replan(args: argparse.Namespace) -> int:
    deadline = _deadline(args)
    with kubectx.connect(args) as conn:
        conn.get(TERRAFORMS, args.name)
        from tfcontroller.operations.control import request_replan

        value = refused_as_cli(lambda: request_replan(conn.client, conn.namespace, args.name))
        print(f"{waiting.label(TERRAFORMS, args.name)} replan requested", flush=True)
        if args.no_wait:
            return kubectx.EXIT_OK
        ok = waiting.wait(conn, TERRAFORMS, args.name, conn.namespace, value, deadline, replan_verdict(value))
    return kubectx.EXIT_OK if ok else kubectx.EXIT_FAILED


# ---- force-unlock -----------------------------------------------------------------------------------


def describe_lock(lock: LockInfo) -> str:
    bits = [f"lock {lock.id}"]
    if lock.who:
        bits.append(f"held by {lock.who}")
    if lock.operation:
        bits.append(f"for {lock.operation}")
    if lock.created:
        bits.append(f"since {lock.created}")
    return " ".join(bits)


def unlock_refusal(held: LockInfo | None, wanted: str, where: str, last_handled: str | None = None) -> str | None:
    """Why `force-unlock --lock-id wanted` must not be sent, or None when `wanted` is the held lock.
    Pure, for tests: a wrong id names the held one, and nothing held says so. The controller releases a
    lock id once (status.lastHandledForceUnlock): asking again for one it already tried would wait for
    nothing, so that is refused with where to look."""
    if held is None:
        return f"no lock is held on the state of {where}: nothing to unlock"
    if held.id != wanted:
        return (f"lock {wanted} is not held on the state of {where}; the held lock is {describe_lock(held)}"
                f" (to release it: --lock-id {held.id})")
    if last_handled == wanted:
        return (f"the controller already tried to release lock {wanted} of {where} and it is still held; "
                "its ForceUnlockFailed event says why (tfcontroller events)")
    return None


def _held_lock(conn: kubectx.Connection, obj: dict[str, Any]) -> LockInfo | None:
    """The lock held now, from the Lease Terraform's kubernetes backend locks the state with; the lock the
    controller last recorded (status.lock) when the spec does not name a state, the state is in a custom
    backend (backendConfig.customConfiguration: no Lease; the run's `terraform force-unlock` releases it
    there) or the Lease is not readable with these credentials."""
    from tfcontroller.terraform.errors import LockInfo
    from tfcontroller.terraform.state import read_lock

    recorded = (obj.get("status") or {}).get("lock") or {}
    fallback = LockInfo(id=str(recorded["id"]), who=str(recorded.get("holder") or ""),
                        created=str(recorded.get("since") or "")) if recorded.get("id") else None
    try:
        tf = Terraform.from_dict(obj)
    except SpecError:
        return fallback
    if tf.spec.custom_backend:
        return fallback
    lease = tf.state_lease_name
    try:
        return read_lock(conn.client, conn.namespace, lease)
    except Forbidden:
        print(f"warning: not allowed to read Lease {conn.namespace}/{lease}; checking against the lock the "
              "controller recorded (status.lock)", file=sys.stderr)
        return fallback


def _unlock_failure(conn: kubectx.Connection, obj: dict[str, Any], since: dt.datetime) -> str:
    """The message of the controller's ForceUnlockFailed Event recorded since the request, if any. The
    controller records its Events right after the status patch the wait ended on, so it is looked for a
    few seconds (EVENT_GRACE), not more: without it the verdict still stands, with Ready's text."""
    meta = obj["metadata"]
    give_up = time.monotonic() + EVENT_GRACE
    while True:
        try:
            items, _ = conn.client.list_all(EVENTS, conn.namespace,
                                            field_selector=f"involvedObject.name={meta['name']}")
        except Forbidden:
            return ""
        found = [e for e in items if e.get("reason") == FORCE_UNLOCK_FAILED
                 and (e.get("involvedObject") or {}).get("uid") in (None, meta.get("uid"))
                 and (parse_rfc3339(event_time(e)) or since) >= since]
        if found or time.monotonic() >= give_up:
            found.sort(key=event_time)
            return str(found[-1].get("message") or "") if found else ""
        time.sleep(POLL_SECONDS)


def unlock_verdict(conn: kubectx.Connection, wanted: str, since: dt.datetime) -> waiting.Verdict:
    def verdict(result: waiting.Outcome, obj: dict[str, Any]) -> tuple[bool, str]:
        if (obj.get("status") or {}).get("lastHandledForceUnlock") != wanted:
            return False, f"the run ended before it released lock {wanted} — {result.text}"
        held = _held_lock(conn, obj)
        if held is None or held.id != wanted:
            return True, f"state lock {wanted} released"
        why = _unlock_failure(conn, obj, since) or f"see tfcontroller events {obj['metadata']['name']}"
        return False, f"state lock {wanted} is still held — {why}"

    return verdict


@kubectx.api_errors
def run_force_unlock(args: argparse.Namespace) -> int:
    deadline = _deadline(args)
    with kubectx.connect(args) as conn:
        obj = conn.get(TERRAFORMS, args.name)
        refusal = unlock_refusal(_held_lock(conn, obj), args.lock_id,
                                 f"{waiting.label(TERRAFORMS, args.name)} in namespace {conn.namespace}",
                                 (obj.get("status") or {}).get("lastHandledForceUnlock"))
        if refusal:
            raise CLIError(refusal)
        since = dt.datetime.now(dt.UTC).replace(microsecond=0)  # Events carry whole seconds
        value = waiting.request(conn, TERRAFORMS, args.name, conn.namespace,
                                annotations={ANNOTATION_FORCE_UNLOCK: args.lock_id},
                                verb=f"force-unlock of lock {args.lock_id} requested")
        if args.no_wait:
            return kubectx.EXIT_OK
        ok = waiting.wait(conn, TERRAFORMS, args.name, conn.namespace, value, deadline,
                          unlock_verdict(conn, args.lock_id, since))
    return kubectx.EXIT_OK if ok else kubectx.EXIT_FAILED
