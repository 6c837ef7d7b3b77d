"""The read verbs of the dev cluster: get, list (resourceVersion/limit/continue semantics of listing.py)
and watch (replayed from the store's event log, 410 when older, bookmarks)."""

from __future__ import annotations

import builtins
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from tfcontroller.dev.cluster import errors, listing
from tfcontroller.dev.cluster.api_base import ApiBase, key_of
from tfcontroller.dev.cluster.resources import ResourceInfo
from tfcontroller.dev.cluster.selectors import Predicate, field_selector, label_equalities, label_selector
from tfcontroller.dev.cluster.store import Event, Obj


class ReadVerbs(ApiBase):
    """get, list and watch; they never change the store."""

    def get(self, info: ResourceInfo, namespace: str | None, name: str) -> Obj:
        """The object (a read-only view: callers must not change it)."""
        obj = self.store.view(info.group, info.plural, self._ns_of(info, namespace), name)
        if obj is None:
            raise errors.not_found(info.group, info.plural, name)
        return self._view_out(info, obj)

    def list(
        self,
        info: ResourceInfo,
        namespace: str | None,
        label: str | None = None,
        field: str | None = None,
        limit: int = 0,
        continue_token: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
    ) -> Obj:
        """A list with the real server's resourceVersion/limit/continue semantics (listing.py). Its items
        are read-only views of the stored objects (`_view_out`); the store lock is held only while their
        references are collected, so selecting, paging and serialising never block writers."""
        plan = listing.plan(resource_version, resource_version_match, limit, continue_token)
        match = self._matcher(label, field)
        hint = label_equalities(label)
        ns = namespace or None
        with self.store.changed:
            if plan.at_least > self.store.rv:  # a version not reached yet: wait a little, like the cache
                self.store.changed.wait_for(lambda: self.store.rv >= plan.at_least, self.too_large_wait)
                if plan.at_least > self.store.rv:
                    raise listing.too_large(plan.at_least, self.store.rv)
            rv = self.store.rv if plan.exact is None else plan.exact
            page = self.store.select(info.group, info.plural, ns, hint, match, plan.after, limit, plan.exact)
            if page is None:  # the snapshot of an exact version or of a continue token has left the log
                if plan.after is None:
                    raise errors.gone(listing.EXPIRED_LIST)
                left = self.store.select(info.group, info.plural, ns, after=plan.after, limit=1)
                raise listing.expired_continue(plan.after, bool(left and left.items))
        list_meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if page.more:
            list_meta["continue"] = listing.ContinueToken(key_of(page.items[-1]), rv).encode()
            if not label and not field:  # as the real server: unknown (omitted) when a selector is set
                list_meta["remainingItemCount"] = page.remaining
        return {
            "kind": info.list_kind,
            "apiVersion": info.api_version,
            "metadata": list_meta,
            "items": [self._view_out(info, o) for o in page.items],
        }

    def encode_list(self, info: ResourceInfo, doc: Obj) -> bytes:
        """The JSON of a list from `list`, the same bytes as json.dumps of it, with each item's JSON taken
        from the store's cache: an object is serialised once per version, not once per LIST."""
        head = {k: v for k, v in doc.items() if k != "items"}
        items = b",".join(self.encode_object(info, o) for o in doc["items"])
        return json.dumps(head, separators=(",", ":")).encode()[:-1] + b',"items":[' + items + b"]}"

    def encode_object(self, info: ResourceInfo, view: Obj) -> bytes:
        """The JSON of an object from `get`, `list` or `watch` (cached per version by the store)."""
        return self.store.encoded(info.group, info.plural, view)

    @staticmethod
    def _matcher(label: str | None, field: str | None) -> Predicate:
        by_label, by_field = label_selector(label), field_selector(field)
        return lambda o: by_label(o) and by_field(o)

    def watch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        label: str | None,
        field: str | None,
        resource_version: str | None,
        timeout: float,
        bookmark_interval: float | None,
        stop: threading.Event,
    ) -> Iterator[Obj]:
        """Watch events as dicts `{"type", "object"}`; validates arguments before the first yield."""
        match = self._matcher(label, field)
        ns = namespace or None

        def visible(o: Obj | None) -> bool:
            return o is not None and (ns is None or o["metadata"].get("namespace") == ns) and match(o)

        def translate(ev: Event) -> Obj | None:
            if (ev.group, ev.plural) != (info.group, info.plural):
                return None
            now_in, was_in = visible(ev.obj), visible(ev.old)
            if ev.type == "ADDED":
                kind = "ADDED" if now_in else None
            elif ev.type == "DELETED":
                kind = "DELETED" if was_in else None
            else:
                kind = "MODIFIED" if now_in and was_in else "ADDED" if now_in else "DELETED" if was_in else None
            if kind is None:
                return None
            return {"type": kind, "object": self._view_out(info, ev.obj)}

        initial: list[Obj] = []
        with self.store.lock:
            if resource_version in (None, "", "0"):
                cursor = self.store.rv
                initial = [
                    {"type": "ADDED", "object": self._view_out(info, o)}
                    for o in self.store.view_list(info.group, info.plural, ns, label_equalities(label))
                    if visible(o)
                ]
                gone = False
            else:
                try:
                    cursor = int(resource_version)
                except ValueError:
                    raise errors.bad_request(f"invalid resource version {resource_version!r}") from None
                gone = cursor < self.store.compacted_rv
        return self._watch_stream(info, initial, cursor, gone, translate, timeout, bookmark_interval, stop)

    def _watch_stream(
        self,
        info: ResourceInfo,
        initial: builtins.list[Obj],
        cursor: int,
        gone: bool,
        translate: Callable[[Event], Obj | None],
        timeout: float,
        bookmark_interval: float | None,
        stop: threading.Event,
    ) -> Iterator[Obj]:
        if gone:
            yield {"type": "ERROR", "object": self._too_old(cursor)}
            return
        yield from initial
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + bookmark_interval if bookmark_interval else float("inf")
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with self.store.changed:
                if self.store.rv == cursor:
                    self.store.changed.wait(min(left, next_bookmark - time.monotonic(), 1.0))
                if cursor < self.store.compacted_rv:
                    expired = True
                    events: list[Event] = []
                else:
                    expired = False
                    events = self.store.events_after(cursor)
                    cursor = self.store.rv
            if expired:
                yield {"type": "ERROR", "object": self._too_old(cursor)}
                return
            for ev in events:
                out = translate(ev)
                if out is not None:
                    yield out
            if time.monotonic() >= next_bookmark:
                yield {
                    "type": "BOOKMARK",
                    "object": {"kind": info.kind, "apiVersion": info.api_version, "metadata": {"resourceVersion": str(cursor)}},
                }
                next_bookmark = time.monotonic() + (bookmark_interval or 0)

    def _too_old(self, rv: int) -> Obj:
        return errors.gone(f"too old resource version: {rv} ({self.store.compacted_rv})").status()
