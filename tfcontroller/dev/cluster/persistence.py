"""`--state-file`: the store as JSON, rewritten atomically a moment after changes (debounced), so a
burst of writes costs one file write, and flushed once more on stop."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from tfcontroller.dev.cluster.store import Store


def load_state(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state


class StateWriter:
    def __init__(self, store: Store, path: Path, delay: float = 0.2) -> None:
        self.store = store
        self.path = path
        self.delay = delay
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devcluster-state", daemon=True)

    def start(self) -> None:
        self.store.on_change = self._dirty.set
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._dirty.set()
        self._thread.join(timeout=10)
        self.store.on_change = None
        self.flush()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._dirty.wait()
            if self._stopping.is_set():
                return
            self._stopping.wait(self.delay)  # collect the rest of a burst
            self._dirty.clear()
            self.flush()

    def flush(self) -> None:
        data = self.store.snapshot_json()  # unchanged objects come from the store's serialise-once cache
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
