"""The garbage collector: a background thread that, like kube-controller-manager's, deletes objects
whose owners are gone and finishes foreground deletions.

Api deletes the dependents of a removed owner at once (background propagation is synchronous here,
which tests and the demo find convenient); this sweep handles everything that is not triggered by a
removal: an ownerReference to a uid that never existed, owners in foreground deletion (finalizer
`foregroundDeletion`) and references to owners that are gone while another owner lives. For each
object with ownerReferences and no deletionTimestamp, its owners are classified as the real collector
does — *solid* (exists, not in foreground deletion), *dangling* (no object with that uid) and
*waiting* (in foreground deletion):

- some solid owner: the references to dangling and waiting owners are removed, the object stays;
- otherwise, some waiting owner: the object is deleted, in the foreground if it has dependents itself;
- otherwise (all dangling): the object is deleted (its own finalizers still apply).

An owner in foreground deletion loses its `foregroundDeletion` finalizer (and goes, if it was the
last one) once no dependent with `blockOwnerDeletion: true` remains. The thread sweeps every
`interval` seconds and at once when Api reports a deletion (`wake`) — but only when the store was written
since its last sweep: a sweep's outcome depends on the stored objects alone and ends at a fixed point (it
runs passes until one changes nothing), so a second sweep over an unchanged store would change nothing.
An idle server therefore does no garbage collection at all, whatever it holds (issue 21: at 1,000
Terraform objects the per-second sweep was the dev cluster's idle cost), and a sweep looks only at the
owners that are gone or being deleted (the store's owner and deletion indexes), never at every object.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from tfcontroller.dev.cluster.api import FOREGROUND, Api
from tfcontroller.dev.cluster.store import Obj

log = logging.getLogger(__name__)
MAX_PASSES = 50  # a chain of foreground deletions advances one level per pass


class GarbageCollector:
    def __init__(self, api: Api, interval: float = 1.0) -> None:
        self.api = api
        self.store = api.store
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0  # wake-ups of the sweep thread (tests count them against `sweeps`)
        self.sweeps = 0  # sweeps the thread ran (a wake-up over an unchanged store runs none)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="devcluster-gc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Sweep now rather than at the next tick (called after deletions)."""
        self._wake.set()

    def _run(self) -> None:
        swept_at = -1  # the store's resourceVersion when the last sweep started (-1: none yet)
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            self.ticks += 1
            rv = self.store.rv
            if rv == swept_at:
                continue  # nothing written since a sweep that left a fixed point: nothing to do
            self.sweeps += 1
            try:
                self.sweep()
            except Exception:  # a bug here must not kill the collector for the rest of the run
                log.exception("garbage collection sweep failed")
                continue  # not a fixed point: try again at the next tick
            swept_at = rv

    # ------------------------------------------------------------------ the sweep
    def sweep(self) -> int:
        """Run passes until nothing changes; returns the number of changes made."""
        total = 0
        for _ in range(MAX_PASSES):
            with self.store.lock:
                changes = self._pass()
            total += changes
            if not changes:
                break
        return total

    def _pass(self) -> int:
        changes = 0
        for group, plural, namespace, name in self._suspect_dependents():
            current = self.store.get(group, plural, namespace, name)
            if current is None or current["metadata"].get("deletionTimestamp"):
                continue  # removed earlier in this pass, or already being deleted
            changes += self._attempt_dependent(group, plural, current)
        for group, plural, owner in self.store.deleting():
            if not _in_foreground_deletion(owner):
                continue
            changes += self._attempt_foreground_owner(group, plural, owner)
        return changes

    def _suspect_dependents(self) -> list[tuple[str, str, str, str]]:
        """The dependents a pass may change: those with an owner that is gone or deleted in the foreground.
        Found through the store's owner index, so a sweep where every owner is alive costs one lookup per
        owner, not a copy of every object with ownerReferences (the sweep runs every second, under the
        store lock)."""
        keys: set[tuple[str, str, str, str]] = set()
        for uid in self.store.owner_uids():
            if self._owner_state(uid) != "solid":
                keys.update(self.store.dependents_of(uid))
        return sorted(keys)

    def _owner_state(self, uid: str) -> str:
        found = self.store.view_by_uid(uid)
        if found is None:
            return "dangling"
        return "waiting" if _in_foreground_deletion(found[2]) else "solid"

    def _attempt_dependent(self, group: str, plural: str, dep: Obj) -> int:
        refs: list[dict[str, Any]] = dep["metadata"]["ownerReferences"]
        states = [self._owner_state(str(ref.get("uid", ""))) for ref in refs]
        info = self.api.info_for(group, plural)
        if info is None:
            return 0
        if "solid" in states:
            if all(s == "solid" for s in states):
                return 0
            dep["metadata"]["ownerReferences"] = [r for r, s in zip(refs, states, strict=True) if s == "solid"]
            self.store.put(group, plural, dep)
            return 1
        foreground = "waiting" in states and bool(self.store.owned_by(dep["metadata"]["uid"]))
        self.api.delete_object(info, dep, "Foreground" if foreground else "Background")
        return 1

    def _attempt_foreground_owner(self, group: str, plural: str, owner: Obj) -> int:
        uid = owner["metadata"]["uid"]
        for _, _, dep in self.store.owned_by(uid):
            for ref in dep["metadata"].get("ownerReferences") or []:
                if ref.get("uid") == uid and ref.get("blockOwnerDeletion") is True:
                    return 0  # still waiting for a blocking dependent
        info = self.api.info_for(group, plural)
        if info is None:
            return 0
        self.api.finish_foreground(info, owner)
        return 1


def _in_foreground_deletion(obj: Obj) -> bool:
    meta = obj["metadata"]
    return bool(meta.get("deletionTimestamp")) and FOREGROUND in (meta.get("finalizers") or [])
