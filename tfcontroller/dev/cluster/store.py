"""The object store: objects keyed by (group, plural, namespace, name), one global resourceVersion,
and an in-memory event log that watches replay from.

It knows nothing of HTTP or API semantics (defaulting, conflicts, finalizers live in the api_*.py verb families); it only
guarantees that every write gets a fresh, increasing resourceVersion and exactly one event, under
one lock, so a watcher that remembers a resourceVersion never misses or repeats an event.
"""

from __future__ import annotations

import builtins
import copy
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
GR = tuple[str, str]  # (group, plural)
Key = tuple[str, str]  # (namespace, name)
# The equality terms of a label selector: [(label key, the values it may have)]; None or [] for none.
LabelHint = list[tuple[str, frozenset[str]]] | None


@dataclass(frozen=True)
class Event:
    rv: int
    group: str
    plural: str
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj  # the object after the change (for DELETED: its last state)
    old: Obj | None  # the object before the change (None for ADDED)


class Store:
    """Objects indexed by kind, namespace and label, plus the owner references that point at each uid.

    Stored objects are immutable once stored: every write stores a fresh deep copy and replaces the old
    one, never changing it in place. That is what lets the read paths of the API (`view`, `view_list`,
    `encoded`) hand out the stored objects themselves instead of deep copies, and keep the store lock only
    while collecting references: a LIST costs what it returns, not what the store holds.
    `get`/`list`/`find`/`owned_by` still return deep copies, for the write paths that change what they read.
    """

    def __init__(self, window: int = 10000) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 0
        # Watches asking for a resourceVersion older than this get 410 Gone.
        self.compacted_rv = 0
        # (group, plural) -> namespace -> name -> the stored object.
        self._objects: dict[GR, dict[str, dict[str, Obj]]] = {}
        # (group, plural) -> (label key, value) -> keys of the objects carrying that label.
        self._labels: dict[GR, dict[tuple[str, str], set[Key]]] = {}
        # uid of an owner -> (group, plural, namespace, name) of the objects with an ownerReference to it.
        self._owned: dict[str, set[tuple[str, str, str, str]]] = {}
        self._uids: dict[str, tuple[str, str, str, str]] = {}
        # (group, plural, namespace, name) -> (resourceVersion, apiVersion -> JSON): serialised once.
        self._json: dict[tuple[str, str, str, str], tuple[str, dict[str, bytes]]] = {}
        self._log: deque[Event] = deque()
        self._window = window
        self.on_change: Callable[[], None] | None = None
        # Writes per (group, plural): caches derived from one kind (the RBAC index) rebuild only when it changes.
        self._revisions: dict[GR, int] = {}

    # ---- read-only views: the stored objects themselves, which callers must never change
    def view(self, group: str, plural: str, namespace: str, name: str) -> Obj | None:
        with self.lock:
            return self._objects.get((group, plural), {}).get(namespace, {}).get(name)

    def view_list(
        self, group: str, plural: str, namespace: str | None = None, labels: LabelHint = None,
    ) -> builtins.list[Obj]:
        """The stored objects of a kind in (namespace, name) order, narrowed by namespace and by the
        equality terms of a label selector (`labels`: [(key, allowed values)], see
        selectors.label_equalities); the caller still applies the whole selector."""
        with self.lock:
            by_ns = self._objects.get((group, plural), {})
            keys = self._label_candidates((group, plural), labels)
            if keys is None or (namespace is not None and len(by_ns.get(namespace, {})) <= len(keys)):
                spaces = [namespace] if namespace is not None else sorted(by_ns)
                return [items[n] for ns in spaces for items in (by_ns.get(ns, {}),) for n in sorted(items)]
            return [by_ns[ns][n] for ns, n in sorted(keys) if namespace is None or ns == namespace]

    def _label_candidates(self, gr: GR, labels: LabelHint) -> set[Key] | None:
        """The smallest set of keys that the equality terms allow (None: no equality term)."""
        if not labels:
            return None
        index = self._labels.get(gr, {})
        best: set[Key] | None = None
        for key, values in labels:
            found: set[Key] = set()
            for value in values:
                found |= index.get((key, value), set())
            if best is None or len(found) < len(best):
                best = found
        return best

    def encoded(self, group: str, plural: str, view: Obj) -> bytes:
        """The JSON of `view` (a stored object as seen through a version: its own dict with `apiVersion` and
        `kind` set, sharing everything else), serialised once per resourceVersion and apiVersion."""
        meta = view["metadata"]
        key = (group, plural, meta.get("namespace", ""), meta["name"])
        rv, version = str(meta.get("resourceVersion", "")), str(view.get("apiVersion", ""))
        cached = self._json.get(key)
        if cached is not None and cached[0] == rv and version in cached[1]:
            return cached[1][version]
        data = json.dumps(view, separators=(",", ":")).encode()
        with self.lock:
            current = self.view(*key)
            if current is not None and current["metadata"].get("resourceVersion") == rv:
                entry = self._json.get(key)
                if entry is None or entry[0] != rv:
                    entry = self._json[key] = (rv, {})
                entry[1][version] = data  # only the current version is kept; a write drops it (_unindex)
        return data

    # ---- reads for writers (callers get deep copies so that they can never mutate stored state)
    def get(self, group: str, plural: str, namespace: str, name: str) -> Obj | None:
        obj = self.view(group, plural, namespace, name)
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, group: str, plural: str, namespace: str | None = None) -> builtins.list[Obj]:
        return copy.deepcopy(self.view_list(group, plural, namespace))

    def owned_by(self, uid: str) -> builtins.list[tuple[str, str, Obj]]:
        """(group, plural, object) of every object with an ownerReference to `uid`."""
        with self.lock:
            found = [(g, p, self._objects[(g, p)][ns][n]) for g, p, ns, n in sorted(self._owned.get(uid, ()))]
            return [(g, p, copy.deepcopy(o)) for g, p, o in found]

    def find(self, predicate: Callable[[Obj], bool]) -> builtins.list[tuple[str, str, Obj]]:
        """(group, plural, copy) of every object the predicate accepts; the predicate sees the stored
        object and must not change it. Cheaper than listing everything for rare matches."""
        with self.lock:
            return [
                (g, p, copy.deepcopy(o))
                for (g, p), by_ns in self._objects.items()
                for items in by_ns.values()
                for o in items.values()
                if predicate(o)
            ]

    def view_by_uid(self, uid: str) -> tuple[str, str, Obj] | None:
        """(group, plural, stored object) with that uid; read-only like `view`."""
        with self.lock:
            where = self._uids.get(uid)
            if where is None:
                return None
            obj = self.view(*where)
            return (where[0], where[1], obj) if obj is not None else None

    def owner_uids(self) -> builtins.list[str]:
        """Every uid some object's ownerReferences name (whether or not that owner exists)."""
        with self.lock:
            return list(self._owned)

    def dependents_of(self, uid: str) -> builtins.list[tuple[str, str, str, str]]:
        """(group, plural, namespace, name) of the objects with an ownerReference to `uid`, sorted."""
        with self.lock:
            return sorted(self._owned.get(uid, ()))

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

    def size(self) -> int:
        """How many objects are stored (all kinds)."""
        with self.lock:
            return sum(len(items) for by_ns in self._objects.values() for items in by_ns.values())

    # ---- writes
    def put(self, group: str, plural: str, obj: Obj) -> Obj:
        """Create or replace; stamps the next resourceVersion and logs ADDED or MODIFIED."""
        with self.lock:
            meta = obj["metadata"]
            namespace, name = meta.get("namespace", ""), meta["name"]
            old = self.view(group, plural, namespace, name)
            self.rv += 1
            stored = copy.deepcopy(obj)
            stored["metadata"]["resourceVersion"] = str(self.rv)
            if old is not None:
                self._unindex(group, plural, old)
            self._index(group, plural, stored)
            self._record(Event(self.rv, group, plural, "MODIFIED" if old else "ADDED", stored, old))
            return copy.deepcopy(stored)

    def remove(self, group: str, plural: str, namespace: str, name: str, final: Obj | None = None) -> Obj | None:
        """Delete; the DELETED event carries `final` (the last write, e.g. finalizers emptied) or the
        stored object."""
        with self.lock:
            old = self.view(group, plural, namespace, name)
            if old is None:
                return None
            self._unindex(group, plural, old)
            self.rv += 1
            last = copy.deepcopy(final if final is not None else old)
            last["metadata"]["resourceVersion"] = str(self.rv)
            self._record(Event(self.rv, group, plural, "DELETED", last, old))
            return copy.deepcopy(last)

    def _index(self, group: str, plural: str, stored: Obj) -> None:
        meta = stored["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        self._objects.setdefault((group, plural), {}).setdefault(namespace, {})[name] = stored
        self._uids[meta["uid"]] = (group, plural, namespace, name)
        labels = self._labels.setdefault((group, plural), {})
        for label in (meta.get("labels") or {}).items():
            labels.setdefault(label, set()).add((namespace, name))
        for ref in meta.get("ownerReferences") or []:
            self._owned.setdefault(str(ref.get("uid", "")), set()).add((group, plural, namespace, name))

    def _unindex(self, group: str, plural: str, old: Obj) -> None:
        meta = old["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        by_ns = self._objects.get((group, plural), {})
        items = by_ns.get(namespace, {})
        items.pop(name, None)
        if not items:
            by_ns.pop(namespace, None)
        self._uids.pop(meta.get("uid", ""), None)
        labels = self._labels.get((group, plural), {})
        for label in (meta.get("labels") or {}).items():
            keys = labels.get(label)
            if keys is not None:
                keys.discard((namespace, name))
                if not keys:
                    del labels[label]
        for ref in meta.get("ownerReferences") or []:
            owned = self._owned.get(str(ref.get("uid", "")))
            if owned is not None:
                owned.discard((group, plural, namespace, name))
                if not owned:
                    del self._owned[str(ref.get("uid", ""))]
        self._json.pop((group, plural, namespace, name), None)

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
        undoing the logged events newer than it; None once the log no longer reaches back that far.
        Read-only like `view_list`: the stored (or logged) objects themselves, in (namespace, name) order.
        Costs the namespace's objects plus the events since `rv`, not the whole store."""
        with self.lock:
            if rv < self.compacted_rv:
                return None
            by_ns = self._objects.get((group, plural), {})
            spaces = [namespace] if namespace is not None else list(by_ns)
            state: dict[Key, Obj] = {(ns, n): o for ns in spaces for n, o in by_ns.get(ns, {}).items()}
            for event in reversed(self._log):
                if event.rv <= rv:
                    break
                if (event.group, event.plural) != (group, plural):
                    continue
                meta = event.obj["metadata"]
                key = (meta.get("namespace", ""), meta["name"])
                if namespace is not None and key[0] != namespace:
                    continue
                if event.type == "ADDED" or event.old is None:
                    state.pop(key, None)
                else:  # MODIFIED or DELETED: the object as it was before
                    state[key] = event.old
            return [state[k] for k in sorted(state)]

    def compact(self) -> None:
        """Forget the event log, as etcd compaction does: older resourceVersions now answer 410."""
        with self.lock:
            self._log.clear()
            self.compacted_rv = self.rv

    # ---- persistence
    def snapshot(self) -> dict[str, Any]:
        """Every object, by reference (stored objects are never changed, so the caller may serialise
        them after the lock is released)."""
        with self.lock:
            return {
                "resourceVersion": self.rv,
                "objects": [
                    {"group": g, "plural": p, "object": o}
                    for (g, p), by_ns in self._objects.items()
                    for items in by_ns.values()
                    for o in items.values()
                ],
            }

    def snapshot_json(self) -> bytes:
        """`snapshot()` as JSON, each object's bytes from the serialise-once cache (`encoded`), so a state
        file rewrite after a burst of writes serialises only the objects that changed."""
        data = self.snapshot()
        entries = b",".join(
            b'{"group":%s,"plural":%s,"object":%s}'
            % (json.dumps(e["group"]).encode(), json.dumps(e["plural"]).encode(),
               self.encoded(e["group"], e["plural"], e["object"]))
            for e in data["objects"]
        )
        return b'{"resourceVersion":%d,"objects":[%s]}' % (data["resourceVersion"], entries)

    def restore(self, data: dict[str, Any], rv_gap: int = 1000) -> None:
        """Load a snapshot without events. The counter jumps ahead by `rv_gap` and everything older is
        compacted, so every watcher from before the restart gets 410 Gone and relists."""
        with self.lock:
            self._objects.clear()
            self._labels.clear()
            self._owned.clear()
            self._uids.clear()
            self._json.clear()
            self._log.clear()
            for entry in data.get("objects", []):
                self._index(entry["group"], entry["plural"], entry["object"])
            self.rv = int(data.get("resourceVersion", 0)) + rv_gap
            self.compacted_rv = self.rv
            for gr in list(self._objects) + list(self._revisions):
                self._revisions[gr] = self._revisions.get(gr, 0) + 1
