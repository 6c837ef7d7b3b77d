"""Live pages: a server-sent-events stream per open page that says `changed` soon after what the page
shows has changed, so the page (static/live.js) fetches its new content without a reload.

Each stream watches the page's `WatchTarget`s **as the viewer** (their client), one thread per target,
from the resourceVersion the page showed: the page's live URL carries, per target, the version its own
GET or LIST returned (`since_params`), so a change between the render and the opening of the stream is
replayed by the watch and announced at once. Where that version is too old (410 Gone) or missing (a gap:
what happened since the render is unknown), the target is listed again and `changed` is sent at once.
The stream's first line is sent only once every target has its start, so that a client that sees the
stream open (`body[data-live=connected]`) knows no later change can be missed; the watch resumes from the
last version seen when the server ends it, and relists (announcing `changed`) after 410 Gone. Changes are debounced: `changed` goes out once nothing more arrived for `live_debounce`
seconds, at most one second after the first change (so within 2 s even while an object keeps changing).
A comment every `live_heartbeat` seconds keeps proxies from closing an idle stream and lets the server
notice a viewer who left (waitress raises on writing to a closed connection); with waitress's request
lookahead the stream also polls `waitress.client_disconnected` every second. Either way the watches are
closed and their threads end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, Forbidden, Gone, NotFound, Unauthorized
from tfcontroller.kube.resources import Resource
from tfcontroller.kube.watch import WatchStream

log = logging.getLogger(__name__)

WATCH_SECONDS = 240  # the server ends each watch after this; it is resumed from the last version
RETRY_SECONDS = 1.0
MAX_DELAY = 1.0  # a change is announced at most this long after it arrived, however busy the object
START_TIMEOUT = 5.0  # at most this long for the watches' starting lists before the stream opens anyway


class Target(Protocol):
    """What a page asks to be watched (pages.WatchTarget): a kind, a namespace (None: all), a name (None: all)."""

    @property
    def resource(self) -> Resource: ...

    @property
    def namespace(self) -> str | None: ...

    @property
    def name(self) -> str | None: ...

    @property
    def version(self) -> str: ...


def target_key(resource: Resource, namespace: str | None, name: str | None) -> str:
    """A target's identity in a live URL: `<plural>.<api version>/<namespace>/<name>` ("" for all). Pure."""
    return f"{resource.plural}.{resource.api_version}/{namespace or ''}/{name or ''}"


def since_params(targets: Iterable[Target]) -> list[str]:
    """The `since` query values of a page's live URL: `<target key>=<resourceVersion>` for each target whose
    version the page knows. Pure."""
    return [f"{target_key(t.resource, t.namespace, t.name)}={t.version}" for t in targets if t.version]


def parse_since(values: Iterable[str]) -> dict[str, str]:
    """The versions of a live URL's `since` values by target key (malformed values are ignored: a target
    without a version is listed afresh and announced, never missed). Pure."""
    found: dict[str, str] = {}
    for value in values:
        key, sep, version = value.partition("=")
        if sep and key and version:
            found.setdefault(key, version)
    return found


def name_selector(name: str | None) -> str | None:
    """The field selector that narrows a watch to one object. Pure."""
    return f"metadata.name={name}" if name else None


class ChangeFeed:
    """Watches targets in threads as `client`; `wait(timeout)` says whether something changed since `clear()`."""

    def __init__(self, client: KubeClient, targets: Iterable[Target], since: Mapping[str, str] | None = None) -> None:
        """`since`: the version to start each target from, by `target_key` (what the page showed)."""
        self._client = client
        self._targets = list(dict.fromkeys((t.resource, t.namespace, t.name) for t in targets))
        self._since = dict(since or {})
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._streams: set[WatchStream] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listed = threading.Semaphore(0)  # released once per target when its watch has a start

    def start(self) -> ChangeFeed:
        for resource, namespace, name in self._targets:
            thread = threading.Thread(target=self._follow, args=(resource, namespace, name), daemon=True,
                                      name=f"dashboard-watch-{resource.plural}")
            thread.start()
            self._threads.append(thread)
        return self

    def wait_started(self, timeout: float) -> bool:
        """Block until every target has its starting version (listed, or given up: not allowed), so that
        any change from now on is announced; False if that took longer than `timeout`."""
        end = time.monotonic() + timeout
        return all(self._listed.acquire(timeout=max(0.0, end - time.monotonic())) for _ in self._targets)

    def wait(self, timeout: float) -> bool:
        return self._changed.wait(timeout)

    def clear(self) -> None:
        self._changed.clear()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.close()
        for thread in self._threads:
            thread.join(2)

    @property
    def alive(self) -> int:
        """How many watch threads still run (tests check that leaving a page ends them)."""
        return sum(t.is_alive() for t in self._threads)

    def _follow(self, resource: Resource, namespace: str | None, name: str | None) -> None:
        started = threading.Event()

        def mark_started() -> None:
            if not started.is_set():
                started.set()
                self._listed.release()

        try:
            self._follow_from_list(resource, namespace, name, mark_started)
        finally:
            mark_started()  # never leave wait_started blocked: a target given up on counts as started

    def _follow_from_list(self, resource: Resource, namespace: str | None, name: str | None,
                          mark_started: Callable[[], None]) -> None:
        selector = name_selector(name)
        version: str | None = self._since.get(target_key(resource, namespace, name)) or None
        while not self._stop.is_set():
            try:
                if version is None:
                    listed = self._client.list(resource, namespace, field_selector=selector, limit=1)
                    version = str((listed.get("metadata") or {}).get("resourceVersion") or "") or None
                    self._changed.set()  # a gap: what changed since the page's render is unknown
                mark_started()
                version = self._watch_from(resource, namespace, selector, version)
            except Gone:
                version = None  # too old: list again (announced: the page may have missed a change)
            except (Forbidden, Unauthorized, NotFound) as exc:
                # the viewer may not watch this (or the kind is gone): the page shows what it may read
                log.info("live: not watching %s in %s: %s", resource, namespace or "all namespaces", exc.reason)
                return
            except ApiError as exc:
                if self._stop.is_set():
                    return
                log.debug("live: watch of %s broke (%s); resuming", resource, exc)
                self._stop.wait(RETRY_SECONDS)

    def _watch_from(self, resource: Resource, namespace: str | None, selector: str | None,
                    version: str | None) -> str | None:
        stream = self._client.watch(resource, namespace, field_selector=selector, resource_version=version,
                                    timeout_seconds=WATCH_SECONDS)
        with self._lock:
            self._streams.add(stream)
        try:
            if self._stop.is_set():
                return version
            for kind, obj in stream:
                version = str((obj.get("metadata") or {}).get("resourceVersion") or "") or version
                if kind != "BOOKMARK":
                    self._changed.set()
                if self._stop.is_set():
                    break
            return version
        finally:
            with self._lock:
                self._streams.discard(stream)
            stream.close()


class StreamSlots:
    """How many live streams may be open at once, in all and per viewer. Each open stream holds one of the
    server's request threads for as long as the page stays open, so without a bound a few tabs (or anyone
    who can log in, whatever their RBAC) would take every thread and stall every other request. Thread-safe."""

    def __init__(self, total: int, per_viewer: int) -> None:
        self.total = total
        self.per_viewer = per_viewer
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, viewer: str) -> bool:
        """Take a slot for `viewer`; False when the viewer's or the server's bound is reached."""
        with self._lock:
            if sum(self._open.values()) >= self.total or self._open.get(viewer, 0) >= self.per_viewer:
                return False
            self._open[viewer] = self._open.get(viewer, 0) + 1
            return True

    def release(self, viewer: str) -> None:
        with self._lock:
            left = self._open.get(viewer, 0) - 1
            if left > 0:
                self._open[viewer] = left
            else:
                self._open.pop(viewer, None)

    def open(self) -> int:
        with self._lock:
            return sum(self._open.values())


class released:  # noqa: N801 - used like a function wrapping a body
    """`body`, giving the viewer's stream slot back once however the stream ends: exhausted, the connection
    broke, the server stopped — or closed before its first byte (the WSGI server then calls `close()` on a
    body never iterated, which would not run a generator's `finally`)."""

    def __init__(self, body: Iterator[bytes], slots: StreamSlots, viewer: str) -> None:
        self._body = body
        self._slots = slots
        self._viewer = viewer
        self._closed = False
        self._lock = threading.Lock()

    def __iter__(self) -> released:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._body)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._slots.release(self._viewer)


def event_stream(feed: ChangeFeed, *, debounce: float, heartbeat: float, gone: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic) -> Iterator[bytes]:
    """The SSE body: `changed` events (debounced), heartbeats, until `gone()` (viewer left, server
    stopping) or the connection breaks; the feed is closed in every case."""
    try:
        feed.wait_started(START_TIMEOUT)  # ": connected" then means: every change from now on is announced
        yield b"retry: 2000\n: connected\n\n"
        beat = clock()
        while not gone():
            if feed.wait(1.0):
                first = clock()
                feed.clear()
                while clock() - first < MAX_DELAY and feed.wait(debounce):
                    feed.clear()
                yield b"event: changed\ndata: {}\n\n"
                beat = clock()
            elif clock() - beat >= heartbeat:
                yield b": heartbeat\n\n"
                beat = clock()
    finally:
        feed.close()


def client_gone(environ: dict[str, Any], stopping: threading.Event, session_ends: float,
                wall: Callable[[], float] = time.time) -> Callable[[], bool]:
    """True once the server stops, the viewer's session ends (epoch seconds: a stream does not outlive the
    login that opened it; the browser then reconnects, is refused 401 and reloads to the login), or (with
    waitress' request lookahead) the viewer disconnected."""
    disconnected = environ.get("waitress.client_disconnected")

    def gone() -> bool:
        return (stopping.is_set() or wall() >= session_ends
                or bool(disconnected is not None and disconnected()))

    return gone
