"""The object store: objects keyed by (group, plural, namespace, name), one global resourceVersion,
and an in-memory event log that watches replay from.

It knows nothing of HTTP or API semantics (defaulting, conflicts, finalizers live in the api_*.py verb families); it only
guarantees that every write gets a fresh, increasing resourceVersion and exactly one event, under
one lock, so a watcher that remembers a resourceVersion never misses or repeats an event.
"""

from __future__ import annotations

import builtins
import copy
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
GR = tuple[str, str]  # (group, plural)


@dataclass(frozen=True)
class Event:
    rv: int
    group: str
    plural: str
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj  # the object after the change (for DELETED: its last state)
    old: Obj | None  # the object before the change (None for ADDED)


class Store:
    def __init__(self, window: int = 10000) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 0
        # Watches asking for a resourceVersion older than this get 410 Gone.
        self.compacted_rv = 0
        self._objects: dict[GR, dict[tuple[str, str], Obj]] = {}
        self._uids: dict[str, tuple[str, str, str, str]] = {}
        self._log: deque[Event] = deque()
        self._window = window
        self.on_change: Callable[[], None] | None = None
        # Writes per (group, plural): caches derived from one kind (the RBAC index) rebuild only when it changes.
        self._revisions: dict[GR, int] = {}

    # ---- reads (callers get deep copies so that they can never mutate stored state)
    def get(self, group: str, plural: str, namespace: str, name: str) -> Obj | None:
        with self.lock:
            obj = self._objects.get((group, plural), {}).get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, group: str, plural: str, namespace: str | None = None) -> list[Obj]:
        with self.lock:
            items = self._objects.get((group, plural), {})
            keys = sorted(k for k in items if namespace is None or k[0] == namespace)
            return [copy.deepcopy(items[k]) for k in keys]

    def owned_by(self, uid: str) -> builtins.list[tuple[str, str, Obj]]:
        """(group, plural, object) of every object with an ownerReference to `uid`."""
        with self.lock:
            return [
                (g, p, copy.deepcopy(o))
                for (g, p), items in self._objects.items()
                for o in items.values()
                if any(ref.get("uid") == uid for ref in (o["metadata"].get("ownerReferences") or []))
            ]

    def find(self, predicate: Callable[[Obj], bool]) -> builtins.list[tuple[str, str, Obj]]:
        """(group, plural, copy) of every object the predicate accepts; the predicate sees the stored
        object and must not change it. Cheaper than listing everything for rare matches."""
        with self.lock:
            return [
                (g, p, copy.deepcopy(o))
                for (g, p), items in self._objects.items()
                for o in items.values()
                if predicate(o)
            ]

    def get_by_uid(self, uid: str) -> tuple[str, str, Obj] | None:
        with self.lock:
            where = self._uids.get(uid)
            if where is None:
                return None
            group, plural, namespace, name = where
            obj = self.get(group, plural, namespace, name)
            return (group, plural, obj) if obj is not None else None

    def uid_exists(self, uid: str) -> bool:
        with self.lock:
            return uid in self._uids

    def revision(self, group: str, plural: str) -> int:
        """A counter that changes whenever an object of (group, plural) is written or removed."""
        with self.lock:
            return self._revisions.get((group, plural), 0)

    def resource_keys(self) -> builtins.list[GR]:
        with self.lock:
            return list(self._objects)

    # ---- writes
    def put(self, group: str, plural: str, obj: Obj) -> Obj:
        """Create or replace; stamps the next resourceVersion and logs ADDED or MODIFIED."""
        with self.lock:
            meta = obj["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            bucket = self._objects.setdefault((group, plural), {})
            old = bucket.get(key)
            self.rv += 1
            stored = copy.deepcopy(obj)
            stored["metadata"]["resourceVersion"] = str(self.rv)
            bucket[key] = stored
            self._uids[meta["uid"]] = (group, plural, key[0], key[1])
            self._record(Event(self.rv, group, plural, "MODIFIED" if old else "ADDED", stored, old))
            return copy.deepcopy(stored)

    def remove(self, group: str, plural: str, namespace: str, name: str, final: Obj | None = None) -> Obj | None:
        """Delete; the DELETED event carries `final` (the last write, e.g. finalizers emptied) or the
        stored object."""
        with self.lock:
            bucket = self._objects.get((group, plural), {})
            old = bucket.pop((namespace, name), None)
            if old is None:
                return None
            self._uids.pop(old["metadata"].get("uid", ""), None)
            self.rv += 1
            last = copy.deepcopy(final if final is not None else old)
            last["metadata"]["resourceVersion"] = str(self.rv)
            self._record(Event(self.rv, group, plural, "DELETED", last, old))
            return copy.deepcopy(last)

    def _record(self, event: Event) -> None:
        gr = (event.group, event.plural)
        self._revisions[gr] = self._revisions.get(gr, 0) + 1
        self._log.append(event)
        while len(self._log) > self._window:
            self.compacted_rv = self._log.popleft().rv
        self.changed.notify_all()
        if self.on_change is not None:
            self.on_change()

    # ---- watch support
    def events_after(self, rv: int) -> builtins.list[Event]:
        with self.lock:
            out: list[Event] = []
            for event in reversed(self._log):
                if event.rv <= rv:
                    break
                out.append(event)
            out.reverse()
            return out

    def list_at(self, group: str, plural: str, namespace: str | None, rv: int) -> builtins.list[Obj] | None:
        """The objects as they were at resourceVersion `rv` (`rv` <= the current one), rebuilt by
        undoing the logged events newer than it; None once the log no longer reaches back that far."""
        with self.lock:
            if rv < self.compacted_rv:
                return None
            state = dict(self._objects.get((group, plural), {}))
            for event in reversed(self._log):
                if event.rv <= rv:
                    break
                if (event.group, event.plural) != (group, plural):
                    continue
                meta = event.obj["metadata"]
                key = (meta.get("namespace", ""), meta["name"])
                if event.type == "ADDED" or event.old is None:
                    state.pop(key, None)
                else:  # MODIFIED or DELETED: the object as it was before
                    state[key] = event.old
            keys = sorted(k for k in state if namespace is None or k[0] == namespace)
            return [copy.deepcopy(state[k]) for k in keys]

    def compact(self) -> None:
        """Forget the event log, as etcd compaction does: older resourceVersions now answer 410."""
        with self.lock:
            self._log.clear()
            self.compacted_rv = self.rv

    # ---- persistence
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "resourceVersion": self.rv,
                "objects": [
                    {"group": g, "plural": p, "object": o}
                    for (g, p), items in self._objects.items()
                    for o in items.values()
                ],
            }

    def restore(self, data: dict[str, Any], rv_gap: int = 1000) -> None:
        """Load a snapshot without events. The counter jumps ahead by `rv_gap` and everything older is
        compacted, so every watcher from before the restart gets 410 Gone and relists."""
        with self.lock:
            self._objects.clear()
            self._uids.clear()
            self._log.clear()
            for entry in data.get("objects", []):
                obj = entry["object"]
                meta = obj["metadata"]
                key = (meta.get("namespace", ""), meta["name"])
                self._objects.setdefault((entry["group"], entry["plural"]), {})[key] = obj
                self._uids[meta["uid"]] = (entry["group"], entry["plural"], key[0], key[1])
            self.rv = int(data.get("resourceVersion", 0)) + rv_gap
            self.compacted_rv = self.rv
            for gr in list(self._objects) + list(self._revisions):
                self._revisions[gr] = self._revisions.get(gr, 0) + 1
