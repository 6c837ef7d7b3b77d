"""A short-lived cache of `git ls-remote` answers, shared by every GitRepository of one controller.

Why: polling is cheap only if the network round trips scale with the number of distinct remotes, not
with the number of objects. Many GitRepositories often track one URL (different refs, paths or
namespaces); within one polling round they all want the same advertised refs. Entries are keyed by
URL and a fingerprint of the credentials (so one tenant's answer is never served to a tenant with
other or no credentials), live for a few seconds, and concurrent callers of one key wait for the
single `ls-remote` in flight instead of starting their own (single flight). Failures are cached for
the same short time, so a dead server costs one timeout per round rather than one per object.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tfcontroller.source.auth import GitAuth

T = TypeVar("T")


def auth_fingerprint(auth: GitAuth | None) -> str:
    """A digest of every credential field (never the values themselves) to key the cache by."""
    if auth is None:
        return "anonymous"
    h = hashlib.sha256()
    for value in (auth.username, auth.password, auth.bearer_token, auth.identity, auth.known_hosts):
        raw = value.encode() if isinstance(value, str) else (value or b"")
        h.update(len(raw).to_bytes(8, "big") + raw)
    return h.hexdigest()


@dataclass
class _Entry(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    at: float = 0.0
    value: T | None = None
    error: BaseException | None = None


class TTLCache(Generic[T]):
    """`get(key, ttl, load)`: a value no older than `ttl` seconds, loading it at most once at a time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = 4096) -> None:
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, _Entry[T]] = {}
        self._lock = threading.Lock()
        self.loads = 0  # how many times `load` ran (for tests and the benchmark)

    def get(self, key: str, ttl: float, load: Callable[[], T]) -> T:
        while True:
            with self._lock:
                entry = self._entries.get(key)
                now = self._clock()
                if entry is not None and entry.done.is_set() and now - entry.at > ttl:
                    entry = None
                if entry is None:
                    entry = _Entry()
                    self._entries[key] = entry
                    self._evict_locked()
                    owner = True
                else:
                    owner = False
            if owner:
                return self._load(entry, load)
            entry.done.wait()
            if entry.error is None or self._clock() - entry.at <= ttl:
                if entry.error is not None:
                    raise entry.error
                return entry.value  # type: ignore[return-value]

    def _load(self, entry: _Entry[T], load: Callable[[], T]) -> T:
        try:
            self.loads += 1
            entry.value = load()
            return entry.value
        except BaseException as exc:
            entry.error = exc
            raise
        finally:
            entry.at = self._clock()
            entry.done.set()

    def invalidate(self, key: str) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.done.is_set():
                del self._entries[key]

    def _evict_locked(self) -> None:
        if len(self._entries) <= self._max:
            return
        finished = sorted((e.at, k) for k, e in self._entries.items() if e.done.is_set())
        for _, key in finished[: len(self._entries) - self._max]:
            del self._entries[key]
