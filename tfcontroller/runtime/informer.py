"""An informer: list + watch one resource into a local cache, and tell handlers what changed.

Why: reconcilers must be level-triggered (they read the world, not the event), but something has to
notice changes cheaply and keep a cache to answer "which Terraforms point at GitRepository X" without
listing the API server every time. Rules:
- list, then watch from the list's resourceVersion; bookmarks advance the resourceVersion;
- a watch that ends (server timeout) is reopened from the last resourceVersion;
- a broken connection or API error is retried with backoff, from the last resourceVersion;
- 410 Gone (history compacted, server restarted) means relist: the cache is replaced and handlers see
  the difference (adds, updates, and deletes of objects that vanished meanwhile);
- index functions map an object to keys (`sourceRef` → `ns/name`); `by_index` answers from the cache;
- an optional `transform` shrinks each object before it is cached (`metadata_only`: a watch that only needs
  to know *that* a Secret changed need not hold every Secret's data, state Secrets included, in memory).
Handlers run on the informer thread and must be quick (they enqueue keys).
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, Gone
from tfcontroller.kube.resources import Resource, object_key
from tfcontroller.kube.watch import WatchStream
from tfcontroller.runtime.backoff import Backoff

log = logging.getLogger(__name__)

Obj = dict[str, Any]
IndexFn = Callable[[Obj], Iterable[str]]
Transform = Callable[[Obj], Obj]

_KEPT_METADATA = ("name", "namespace", "uid", "resourceVersion", "generation", "labels", "deletionTimestamp")


def metadata_only(obj: Obj) -> Obj:
    """apiVersion, kind, type and the identifying metadata of an object; no data, no annotations (kubectl's
    last-applied-configuration annotation repeats a Secret's data), no managedFields."""
    meta = obj.get("metadata") or {}
    slim: Obj = {k: obj[k] for k in ("apiVersion", "kind", "type") if k in obj}
    slim["metadata"] = {k: meta[k] for k in _KEPT_METADATA if k in meta}
    return slim


@dataclass
class Handler:
    on_add: Callable[[Obj], None] | None = None
    on_update: Callable[[Obj, Obj], None] | None = None
    on_delete: Callable[[Obj], None] | None = None


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


class Informer:
    def __init__(
        self,
        kube: KubeClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        watch_timeout: int = 60,
        backoff: Backoff | None = None,
        transform: Transform | None = None,
    ) -> None:
        self.kube = kube
        self.transform = transform
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.watch_timeout = watch_timeout
        self.backoff = backoff or Backoff(base=0.2, cap=10.0, jitter=0.2)
        self._lock = threading.RLock()
        self._cache: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFn] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}  # index -> value -> keys
        self._indexed: dict[str, dict[str, list[str]]] = {}  # index -> key -> values (for removal)
        self._handlers: list[Handler] = []
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: WatchStream | None = None
        self._rv = ""
        self.relists = 0  # how many times the informer listed (1 + relists after 410/errors)

    # ---- configuration ---------------------------------------------------------------------
    def add_handler(self, on_add: Callable[[Obj], None] | None = None,
                    on_update: Callable[[Obj, Obj], None] | None = None,
                    on_delete: Callable[[Obj], None] | None = None) -> None:
        """Register handlers; objects already cached are replayed to `on_add`, as client-go does."""
        handler = Handler(on_add, on_update, on_delete)
        with self._lock:
            self._handlers.append(handler)
            existing = list(self._cache.values())
        if on_add:
            for obj in existing:
                on_add(obj)

    def add_index(self, name: str, fn: IndexFn) -> None:
        with self._lock:
            self._indexers[name] = fn
            self._indices[name] = {}
            self._indexed[name] = {}
            for key, obj in self._cache.items():
                self._index_add(name, key, obj)

    # ---- cache reads -----------------------------------------------------------------------
    def get(self, name: str, namespace: str | None = None) -> Obj | None:
        with self._lock:
            return self._cache.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> list[Obj]:
        with self._lock:
            return list(self._cache.values())

    def keys(self) -> builtins.list[str]:
        with self._lock:
            return list(self._cache)

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:
        with self._lock:
            return [self._cache[k] for k in sorted(self._indices[name].get(value, ())) if k in self._cache]

    def keys_by_index(self, name: str, value: str) -> builtins.list[str]:
        with self._lock:
            return sorted(self._indices[name].get(value, ()))

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.resource.plural}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                self._watch()
                failures = 0
            except Gone:
                log.info("watch of %s expired (410 Gone); relisting", self.resource)
                need_list = True
            except (ApiError, ValueError) as exc:
                if self._stop.is_set():
                    return
                delay = self.backoff.delay(failures)
                failures += 1
                log.warning("list/watch of %s failed (%s); retrying in %.1fs", self.resource,
                            getattr(exc, "reason", type(exc).__name__), delay)
                self._stop.wait(delay)
            except Exception:  # noqa: BLE001 - a handler bug must not kill the informer
                log.exception("informer for %s: unexpected error", self.resource)
                self._stop.wait(self.backoff.delay(failures))
                failures += 1
                need_list = True

    def _list(self) -> None:
        items, rv = self.kube.list_all(self.resource, self.namespace, label_selector=self.label_selector)
        self.relists += 1
        if self.transform is not None:
            items = [self.transform(o) for o in items]
        fresh = {object_key(o): o for o in items}
        with self._lock:
            old = self._cache
            self._cache = dict(fresh)
            for name in self._indexers:
                self._indices[name] = {}
                self._indexed[name] = {}
                for key, obj in fresh.items():
                    self._index_add(name, key, obj)
            self._rv = rv
        for key, obj in fresh.items():
            prev = old.get(key)
            if prev is None:
                self._dispatch("ADDED", obj, None)
            elif _rv(prev) != _rv(obj):
                self._dispatch("MODIFIED", obj, prev)
        for key, prev in old.items():
            if key not in fresh:
                self._dispatch("DELETED", prev, None)
        self._synced.set()

    def _watch(self) -> None:
        stream = self.kube.watch(
            self.resource, self.namespace, label_selector=self.label_selector,
            resource_version=self._rv, timeout_seconds=self.watch_timeout,
        )
        self._stream = stream
        if self._stop.is_set():
            stream.close()
            return
        try:
            for etype, obj in stream:
                rv = _rv(obj)
                if etype == "BOOKMARK":
                    if rv:
                        self._rv = rv
                    continue
                obj.setdefault("apiVersion", self.resource.api_version)
                obj.setdefault("kind", self.resource.kind)
                self._apply(etype, obj if self.transform is None else self.transform(obj))
                if rv:
                    self._rv = rv
        finally:
            self._stream = None
            stream.close()

    def _apply(self, etype: str, obj: Obj) -> None:
        key = object_key(obj)
        with self._lock:
            prev = self._cache.get(key)
            if etype == "DELETED":
                self._cache.pop(key, None)
                self._reindex(key, prev, None)
            else:
                self._cache[key] = obj
                self._reindex(key, prev, obj)
        if etype == "DELETED":
            self._dispatch("DELETED", obj, None)
        elif prev is None:
            self._dispatch("ADDED", obj, None)
        else:
            self._dispatch("MODIFIED", obj, prev)

    # ---- indices and dispatch --------------------------------------------------------------
    def _index_add(self, name: str, key: str, obj: Obj) -> None:
        try:
            values = list(self._indexers[name](obj))
        except Exception:  # noqa: BLE001 - a malformed object must not break the cache
            log.exception("index %s failed for %s", name, key)
            return
        self._indexed[name][key] = values
        for v in values:
            self._indices[name].setdefault(v, set()).add(key)

    def _reindex(self, key: str, prev: Obj | None, new: Obj | None) -> None:
        for name in self._indexers:
            for v in self._indexed[name].pop(key, []):
                keys = self._indices[name].get(v)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._indices[name][v]
            if new is not None:
                self._index_add(name, key, new)

    def _dispatch(self, etype: str, obj: Obj, prev: Obj | None) -> None:
        with self._lock:
            handlers = list(self._handlers)
        for h in handlers:
            try:
                if etype == "ADDED" and h.on_add:
                    h.on_add(obj)
                elif etype == "MODIFIED" and h.on_update:
                    h.on_update(prev or {}, obj)
                elif etype == "DELETED" and h.on_delete:
                    h.on_delete(obj)
            except Exception:  # noqa: BLE001 - one bad handler must not starve the others
                log.exception("handler for %s %s failed", etype, self.resource)
