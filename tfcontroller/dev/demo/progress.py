"""Print what the controller is doing, as it happens: one line per change of an object's phase."""

from __future__ import annotations

import threading
import time
from typing import Any

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, TERRAFORMS


def _phase(obj: dict[str, Any]) -> str:
    conds = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    rec = conds.get("Reconciling")
    if rec and rec.get("status") == "True":
        return f"working: {rec.get('message') or rec.get('reason')}"
    ready = conds.get("Ready")
    if not ready:
        return "waiting for the controller"
    word = "ready" if ready.get("status") == "True" else "not ready"
    return f"{word} ({ready.get('reason')}): {ready.get('message', '')}"


class Progress:
    def __init__(self, kube: KubeClient, namespace: str, start: float) -> None:
        self.kube = kube
        self.namespace = namespace
        self.start = start
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-progress", daemon=True)

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {text}", flush=True)

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
                        phase = _phase(obj)
                        if self._seen.get(key) != phase:
                            self._seen[key] = phase
                            self.say(f"{key:34} {phase[:140]}")
            except Exception as exc:  # noqa: BLE001 - progress display must never stop the demo
                self.say(f"(progress display: {type(exc).__name__})")
