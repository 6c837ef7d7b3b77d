"""One rule for every command that asks the controller for something and waits for the answer.

`reconcile`, `replan` and `force-unlock` all send their request together with a new value of
`tfcontroller.io/requested-at` in one patch. Every controller echoes that value into
`status.lastHandledRequestedAt` in the status patch that ends the run which saw it (runtime/requested.py),
so the echo is the proof that a run *after* the request has finished, whatever it did. From then on
the object's Ready condition is the answer, as `flux reconcile` reads it:

- Ready=True → the run succeeded (✔, exit 0);
- Ready=False → the run failed or waits for someone: a failed attempt that the controller retries
  (Reconciling=True, ProgressingWithRetry), a stalled spec (Stalled=True) or a plan held for approval
  (neither): the command says ✗ with the reason and message at once (exit 1) instead of waiting for a
  retry that may never succeed;
- Ready=Unknown or absent → a run is in progress (a later one, started for another reason): wait;
- Ready=False for a *waiting* reason (`DependencyNotReady`, `SourceNotReady`) while that upstream object
  (a `dependsOn` entry or the `sourceRef`) is itself in progress → wait too: the controller watches it and
  reconciles again when it settles. A dependency that re-plans for a drift check made `reconcile ms …` fail
  with "dependency is not ready (Progressing: Planning …)" a few seconds before it would have been Ready
  (found by the demo's documented-commands test on a busy machine). An upstream that failed or is held is
  not in progress: the command answers at once, as before.

Each command then adds its own verdict on top (did the re-plan happen? is the lock gone?), from the
same settled object. The decision is pure (`outcome`), the waiting follows the object with a watch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.conditions import WAITING_REASONS
from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.errors import ApiError
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, TERRAFORMS, Resource, object_label
from tfcontroller.operations.errors import NOT_FOUND, OperationRefused

# The status field the controller echoes requested-at into (tfcontroller.runtime.requested); the CRDs
# also document Flux's `lastHandledReconcileAt`, which is accepted as well.
HANDLED_FIELDS = ("lastHandledRequestedAt", "lastHandledReconcileAt")
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Outcome:
    """Where the request stands. `done`: a run after the request settled; `ready`: it ended Ready=True;
    `held`: Ready=False, neither retrying nor stalled (the summariser's "held", e.g. a plan waiting for
    approval); `stalled`: Stalled=True (retrying cannot help)."""

    done: bool
    ready: bool
    reason: str
    message: str
    held: bool = False
    stalled: bool = False

    @property
    def text(self) -> str:
        """`Reason: message`, as the final line prints it."""
        return f"{self.reason}: {self.message}" if self.reason and self.message else self.reason or self.message


def handled_value(obj: dict[str, Any]) -> str | None:
    status = obj.get("status") or {}
    for name in HANDLED_FIELDS:
        if status.get(name):
            return str(status[name])
    return None


def outcome(obj: dict[str, Any], requested: str) -> Outcome:
    """Has a run after request `requested` settled, and how did it end? Pure, for tests."""
    ready = kubectx.condition(obj, "Ready") or {}
    reconciling = kubectx.condition(obj, "Reconciling") or {}
    stalled = kubectx.condition(obj, "Stalled") or {}
    reason, message = str(ready.get("reason") or ""), str(ready.get("message") or "")
    if handled_value(obj) != requested:
        # a run in progress (Ready=Unknown) shows its step; an earlier run's failure is not progress
        running = ready.get("status") == "Unknown" and reconciling.get("status") == "True"
        return Outcome(False, False, "", str(reconciling.get("message") if running else "") or
                       "waiting for the controller")
    if ready.get("status") == "False":
        is_stalled = stalled.get("status") == "True"
        is_held = not is_stalled and reconciling.get("status") != "True"
        return Outcome(True, False, reason, message, held=is_held, stalled=is_stalled)
    if ready.get("status") == "True" and reconciling.get("status") != "True":
        return Outcome(True, True, reason, message)
    return Outcome(False, False, "", str(reconciling.get("message") or message or "reconciling"))


label = object_label  # how every command names an object it changes: `kind.group/name`

_UPSTREAM_KINDS = {r.kind: r for r in (GITREPOSITORIES, TERRAFORMS, MANIFESTSETS)}


def in_progress(obj: dict[str, Any]) -> bool:
    """A run of `obj` is under way: Reconciling=True or Ready=Unknown (pure)."""
    ready = kubectx.condition(obj, "Ready") or {}
    reconciling = kubectx.condition(obj, "Reconciling") or {}
    return reconciling.get("status") == "True" or ready.get("status") == "Unknown"


def upstream_refs(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of what `obj` waits on: its `spec.sourceRef` and `spec.dependsOn[]` (pure)."""
    raw_spec = obj.get("spec")
    spec: dict[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
    own = (obj.get("metadata") or {}).get("namespace") or "default"
    source = spec.get("sourceRef")
    refs: list[dict[str, Any]] = [source] if isinstance(source, dict) else []
    refs += [d for d in spec.get("dependsOn") or () if isinstance(d, dict)]
    return [(str(r.get("kind") or "GitRepository"), str(r.get("namespace") or own), str(r["name"]))
            for r in refs if r.get("name")]


def waiting_on_progress(conn: kubectx.Connection, result: Outcome, obj: dict[str, Any]) -> bool:
    """The run settled not Ready only because something it waits on is running now (see the module doc)."""
    if result.ready or result.stalled or result.reason not in WAITING_REASONS:
        return False
    for kind, namespace, name in upstream_refs(obj):
        resource = _UPSTREAM_KINDS.get(kind)
        if resource is None:
            continue
        try:
            upstream = conn.client.get(resource, name, namespace)
        except ApiError:
            continue  # gone or not ours to read: not known to be in progress
        if in_progress(upstream):
            return True
    return False


def follow(conn: kubectx.Connection, resource: Resource, name: str, namespace: str, requested: str,
           deadline: float, shown: str) -> tuple[Outcome, dict[str, Any]]:
    """Follow the object with a watch (so no progress step is missed) until a run after the request
    settled, printing each new progress message. A watch the server closes is reopened. Returns the
    outcome and the settled object."""
    last = ""

    def show(result: Outcome) -> None:
        nonlocal last
        if result.message != last:
            print(f"◎ {shown}: {result.message}", flush=True)
            last = result.message

    while True:
        obj = conn.client.get(resource, name, namespace)
        result = outcome(obj, requested)
        if result.done and not waiting_on_progress(conn, result, obj):
            return result, obj
        show(_as_waiting(result))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CLIError(f"timed out waiting for {shown} (last: {last})", kubectx.EXIT_TIMEOUT)
        stream = conn.client.watch(resource, namespace, field_selector=f"metadata.name={name}",
                                   resource_version=obj["metadata"].get("resourceVersion"),
                                   timeout_seconds=max(1, math.ceil(remaining)), allow_bookmarks=False)
        try:
            for etype, changed in stream:
                if etype not in ("ADDED", "MODIFIED"):
                    continue
                result = outcome(changed, requested)
                if result.done and not waiting_on_progress(conn, result, changed):
                    return result, changed
                show(_as_waiting(result))
                if time.monotonic() >= deadline:
                    break
        except ApiError:
            time.sleep(POLL_SECONDS)  # Gone (410) or a broken stream: read again and re-watch
        finally:
            stream.close()


def _as_waiting(result: Outcome) -> Outcome:
    """A settled-but-waiting outcome shown as progress (`DependencyNotReady: dependency … (Progressing: …)`)."""
    return Outcome(False, False, "", result.text) if result.done else result


Verdict = Callable[[Outcome, dict[str, Any]], tuple[bool, str]]


def ready_verdict(result: Outcome, obj: dict[str, Any]) -> tuple[bool, str]:
    """`reconcile`'s verdict: the run's own (✔ when Ready)."""
    return result.ready, ("Ready — " if result.ready else "not Ready — ") + result.text


def request(conn: kubectx.Connection, resource: Resource, name: str, namespace: str, *,
            annotations: dict[str, str] | None = None, verb: str) -> str:
    """Send `annotations` with a new requested-at value in one patch (operations/control.py, which refuses
    a suspended object no controller would answer) and print `kind.group/name <verb>`. Returns the value."""
    from tfcontroller.operations.control import request as send

    try:
        value = send(conn.client, resource, namespace, name, annotations)
    except OperationRefused as exc:
        raise CLIError(exc.message, kubectx.EXIT_NOT_FOUND if exc.status == NOT_FOUND else kubectx.EXIT_FAILED) \
            from None
    print(f"{label(resource, name)} {verb}", flush=True)
    return value


def wait(conn: kubectx.Connection, resource: Resource, name: str, namespace: str, value: str,
         deadline: float, verdict: Verdict = ready_verdict) -> bool:
    """Wait until a run after request `value` settled; print ✔ or ✗ with the verdict's text."""
    shown = label(resource, name)
    result, obj = follow(conn, resource, name, namespace, value, deadline, shown)
    ok, text = verdict(result, obj)
    print(f"{'✔' if ok else '✗'} {shown}: {text}", flush=True)
    return ok
