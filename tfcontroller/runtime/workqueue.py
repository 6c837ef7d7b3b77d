"""A work queue of object keys, shaped like client-go's: dedup, no concurrent processing, delays.

Rules (the reason this exists rather than a `queue.Queue`):
- a key is queued at most once however many events arrive for it (`dirty` set);
- a key handed to a worker is `processing`; adding it again meanwhile only marks it dirty, and `done()`
  requeues it, so two workers never reconcile the same object at once;
- `add_after(key, s)` holds the key back (intervals, waiting errors); the earliest deadline wins;
- `add_rate_limited(key, base)` retries with exponential backoff per key until `forget(key)`;
- after `shut_down()` no key is handed out any more (running work finishes, queued work is dropped).
Delayed keys live in the same lock as the queue, so no timer thread is needed: `get()` waits until the
next deadline.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from tfcontroller.runtime.backoff import Backoff

# A requeue further away than a year is a year (spec durations can be far larger); a waiting worker wakes
# at least hourly, so that no computed timeout can exceed what the platform's wait accepts.
MAX_DELAY = 365 * 24 * 3600.0
MAX_WAIT = 3600.0


@dataclass
class QueueHooks:
    """Metrics callbacks; the manager wires them to Prometheus. All optional."""

    on_add: Callable[[], None] | None = None
    on_depth: Callable[[int], None] | None = None
    on_retry: Callable[[], None] | None = None
    on_in_flight: Callable[[int], None] | None = None


class WorkQueue:
    def __init__(self, backoff: Backoff | None = None, hooks: QueueHooks | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.backoff = backoff or Backoff()
        self.hooks = hooks or QueueHooks()
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._waiting: dict[Hashable, float] = {}  # key -> deadline (earliest wins)
        self._heap: list[tuple[float, int, Hashable]] = []
        self._seq = itertools.count()
        self._failures: dict[Hashable, int] = {}
        self._shutting_down = False

    # ---- adding ----------------------------------------------------------------------------
    def add(self, key: Hashable) -> None:
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: Hashable) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._waiting.pop(key, None)  # an immediate add supersedes a pending delayed one
        if self.hooks.on_add:
            self.hooks.on_add()
        if key not in self._processing:
            self._queue.append(key)
            self._depth_changed()
            self._cond.notify()

    def add_after(self, key: Hashable, seconds: float) -> None:
        """Add `key` after `seconds`, clamped to MAX_DELAY (a delay from a spec must never reach a
        deadline the platform cannot wait for: `Condition.wait` raises OverflowError past time_t, and in
        `get` that killed the worker thread)."""
        if not seconds > 0:  # also NaN
            self.add(key)
            return
        seconds = min(seconds, MAX_DELAY)
        with self._cond:
            if self._shutting_down or key in self._dirty:
                return  # already due now
            deadline = self._clock() + seconds
            current = self._waiting.get(key)
            if current is not None and current <= deadline:
                return
            self._waiting[key] = deadline
            heapq.heappush(self._heap, (deadline, next(self._seq), key))
            self._cond.notify()

    def add_rate_limited(self, key: Hashable, base: float | None = None) -> float:
        """Requeue after the key's next backoff delay; returns that delay."""
        with self._cond:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
        delay = self.backoff.delay(n, base)
        if self.hooks.on_retry:
            self.hooks.on_retry()
        self.add_after(key, delay)
        return delay

    def forget(self, key: Hashable) -> None:
        """Reset the key's failure count (after a success)."""
        with self._cond:
            self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    # ---- taking ----------------------------------------------------------------------------
    def get(self, timeout: float | None = None) -> Hashable | None:
        """Next key to process, or None on shutdown or timeout. Call `done(key)` when finished."""
        end = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                if self._shutting_down:
                    return None
                self._promote_due_locked()
                if self._queue:
                    key = self._queue.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    self._depth_changed()
                    self._in_flight_changed()
                    return key
                now = self._clock()
                wait = None
                if self._heap:
                    wait = max(0.0, self._heap[0][0] - now)
                if end is not None:
                    if now >= end:
                        return None
                    wait = end - now if wait is None else min(wait, end - now)
                self._cond.wait(None if wait is None else min(wait, MAX_WAIT))

    def done(self, key: Hashable) -> None:
        with self._cond:
            self._processing.discard(key)
            self._in_flight_changed()
            if key in self._dirty and not self._shutting_down:
                self._queue.append(key)
                self._depth_changed()
                self._cond.notify()

    def _promote_due_locked(self) -> None:
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            deadline, _, key = heapq.heappop(self._heap)
            if self._waiting.get(key) != deadline:
                continue  # superseded by an earlier deadline or an immediate add
            del self._waiting[key]
            self._add_locked(key)

    # ---- lifecycle and introspection -------------------------------------------------------
    def shut_down(self) -> None:
        with self._cond:
            self._shutting_down = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def in_flight(self) -> int:
        with self._cond:
            return len(self._processing)

    def _depth_changed(self) -> None:
        if self.hooks.on_depth:
            self.hooks.on_depth(len(self._queue))

    def _in_flight_changed(self) -> None:
        if self.hooks.on_in_flight:
            self.hooks.on_in_flight(len(self._processing))
