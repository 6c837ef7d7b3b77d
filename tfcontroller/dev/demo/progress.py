"""Print what the controller is doing, as it happens: one entry per change of an object's phase.

What an object is doing is read from its conditions by one pure rule (`phase`), and every entry is printed
whole, wrapped to the terminal's width (`format_entry`): a cut message ("…approve with: kubectl ") hides
exactly the part a person needs. Both are pure, so `tests/unit/dev/demo/test_progress.py` checks them on
plain dicts and widths.
"""

from __future__ import annotations

import shutil
import textwrap
import threading
import time
from dataclasses import dataclass
from typing import Any

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, PODS, TERRAFORMS

# Ready=False reasons that name something else the object waits for (a dependency, a lock, a person), not
# a failure of its own: `DependencyNotReady`, `SourceNotReady`, `StateLocked`, `DeletionBlocked`, `PlanPending`.
WAITING_SUFFIXES = ("NotReady", "Locked", "Blocked", "Pending")
RETRYING = "ProgressingWithRetry"  # the summariser's Reconciling reason while a failed run is retried
RUNNER_PODS = "app.kubernetes.io/managed-by=tfcontroller"  # every runner Pod's label (terraform/runner_pod.py)
RUNNER_POD_GONE = "removed (its run ended; a succeeded run's Pod is not kept)"
MIN_WIDTH = 40  # below this, wrapping would put one word per line: print long lines instead


@dataclass(frozen=True)
class Phase:
    """What an object is doing: a word a person reads first, the condition reason, and the whole message."""

    word: str  # ready | working | waiting | failing | stalled | suspended | pending
    reason: str
    message: str

    def text(self) -> str:
        head = f"{self.word} ({self.reason})" if self.reason else self.word
        return f"{head}: {self.message}" if self.message else head


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(c.get("type")): c for c in (obj.get("status") or {}).get("conditions") or []}


def _waits_on_something_else(reason: str) -> bool:
    return reason.endswith(WAITING_SUFFIXES)


def phase(obj: dict[str, Any]) -> Phase:
    """The phase of an object from its conditions (kstatus's reading, in a person's words).

    - Stalled=True: `stalled` (retrying cannot help; the message says what to fix).
    - Ready=False while the controller retries (Reconciling=True, ProgressingWithRetry): `failing`, unless the
      reason names something else it waits for (…NotReady, StateLocked, …): then `waiting`.
    - Ready=False and nothing in flight: `waiting` when held (PlanPending: waits for a person) or the reason
      says it waits, else `failing`.
    - Reconciling=True otherwise (a run in progress, Ready Unknown): `working`.
    - Ready=True: `ready`; no Ready yet: `pending` (the controller has not looked at it).
    """
    if ((obj.get("spec") or {}).get("suspend")) is True:
        return Phase("suspended", "", "spec.suspend is true")
    conds = _conditions(obj)
    ready, rec, stalled = conds.get("Ready"), conds.get("Reconciling"), conds.get("Stalled")
    if stalled and stalled.get("status") == "True":
        return Phase("stalled", str(stalled.get("reason") or ""), str(stalled.get("message") or ""))
    ready_status = (ready or {}).get("status")
    if ready_status == "False":
        reason = str(ready.get("reason") or "") if ready else ""
        word = "waiting" if _waits_on_something_else(reason) else "failing"
        if rec and rec.get("status") == "True" and rec.get("reason") != RETRYING:
            word = "working"  # a new run started after the failure: say what it does now
            return Phase(word, str(rec.get("reason") or ""), str(rec.get("message") or ""))
        return Phase(word, reason, str(ready.get("message") or "") if ready else "")
    if rec and rec.get("status") == "True":
        return Phase("working", "", str(rec.get("message") or rec.get("reason") or ""))
    if ready_status == "True":
        return Phase("ready", str(ready.get("reason") or "") if ready else "", str(ready.get("message") or "") if ready else "")
    if ready_status == "Unknown":
        return Phase("working", "", str(ready.get("message") or ready.get("reason") or "") if ready else "")
    return Phase("pending", "", "waiting for the controller")


def runner_pod_text(pod: dict[str, Any]) -> str:
    """One line for a runner Pod (`--runner=pod`): which object's run, which command, and the Pod's phase,
    with the container's termination reason once it ended (e.g. OOMKilled)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    status = pod.get("status") or {}
    text = (f"{labels.get('tfcontroller.io/operation') or 'run'} of terraform/{labels.get('tfcontroller.io/terraform', '?')} "
            f"(run {labels.get('tfcontroller.io/run-id', '?')}): {status.get('phase') or 'Pending'}")
    for container in status.get("containerStatuses") or []:
        reason = ((container.get("state") or {}).get("terminated") or {}).get("reason")
        if reason:
            text += f" ({reason})"
    return text


def format_entry(prefix: str, key: str, text: str, width: int, key_width: int = 30) -> str:
    """`prefix key text`, wrapped at word boundaries to `width` columns, continuation lines indented under
    the text. Every word is kept whole: a word longer than a line (a URL, a command) gets a line of its own
    rather than being cut, so it can be copied. Newlines inside a message (Terraform's diagnostics) become
    spaces, so every line carries the indent. On a narrow terminal the text starts on the next line."""
    head = f"{prefix} {key:{key_width}} " if key else f"{prefix} "
    words = " ".join(text.split())
    if width - len(head) >= MIN_WIDTH:
        wrapper = textwrap.TextWrapper(width=width, initial_indent=head, subsequent_indent=" " * len(head),
                                       break_long_words=False, break_on_hyphens=False)
        return "\n".join(wrapper.wrap(words)) or head.rstrip()
    indent = " " * (len(prefix) + 3)
    wrapper = textwrap.TextWrapper(width=max(width, len(indent) + MIN_WIDTH), initial_indent=indent,
                                   subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    return "\n".join([head.rstrip(), *wrapper.wrap(words)])


def terminal_width() -> int:
    return shutil.get_terminal_size(fallback=(120, 24)).columns


class Progress:
    def __init__(self, kube: KubeClient, namespace: str, start: float) -> None:
        self.kube = kube
        self.namespace = namespace
        self.start = start
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-progress", daemon=True)

    def stamp(self) -> str:
        return f"[{time.monotonic() - self.start:6.1f}s]"

    def say(self, text: str) -> None:
        print(format_entry(self.stamp(), "", text, terminal_width()), flush=True)

    def show(self, key: str, text: str) -> None:
        print(format_entry(self.stamp(), key, text, terminal_width()), flush=True)

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                for res, label in ((GITREPOSITORIES, "gitrepo"), (TERRAFORMS, "terraform"), (MANIFESTSETS, "ms")):
                    for obj in self.kube.list(res, self.namespace).get("items", []):
                        key = f"{label}/{obj['metadata']['name']}"
                        text = phase(obj).text()
                        if self._seen.get(key) != text:
                            self._seen[key] = text
                            self.show(key, text)
                self._show_runner_pods()
            except Exception as exc:  # noqa: BLE001 - progress display must never stop the demo
                self.say(f"(progress display: {type(exc).__name__})")

    def _show_runner_pods(self) -> None:
        """Runner Pods come and go with their runs: each change of one, and its removal, is an entry."""
        pods = {f"pod/{p['metadata']['name']}": runner_pod_text(p)
                for p in self.kube.list(PODS, self.namespace, label_selector=RUNNER_PODS).get("items", [])}
        for key, text in pods.items():
            if self._seen.get(key) != text:
                self._seen[key] = text
                self.show(key, text)
        for key in [k for k in self._seen if k.startswith("pod/") and k not in pods]:
            del self._seen[key]
            self.show(key, RUNNER_POD_GONE)
