"""Work queue and backoff: dedup, no concurrent processing of a key, requeue-after, rate-limited
retries with exponential backoff and bounded jitter, forget, shutdown and metrics hooks."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.polling import wait_for
from tests.support.threads import blocked_in
from tfcontroller.runtime.backoff import Backoff
from tfcontroller.runtime.workqueue import MAX_DELAY, QueueHooks, WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_duplicate_adds_are_one_entry() -> None:
    q = WorkQueue()
    for _ in range(5):
        q.add("ns/a")
    q.add("ns/b")
    assert len(q) == 2
    assert q.get(timeout=0) == "ns/a"
    assert q.get(timeout=0) == "ns/b"
    assert q.get(timeout=0) is None


def test_key_added_while_processing_is_held_until_done() -> None:
    q = WorkQueue()
    q.add("k")
    assert q.get(timeout=0) == "k"
    q.add("k")  # an event arrives while a worker reconciles k
    assert q.get(timeout=0) is None, "a second worker must not get k while it is processing"
    q.done("k")
    assert q.get(timeout=0) == "k"
    q.done("k")
    assert q.get(timeout=0) is None


def test_no_two_workers_process_a_key_at_once() -> None:
    q = WorkQueue()
    active: dict[str, int] = {}
    overlaps: list[str] = []
    lock = threading.Lock()
    processed = 0

    def worker() -> None:
        nonlocal processed
        while True:
            key = q.get(timeout=0.5)
            if key is None:
                return
            with lock:
                active[key] = active.get(key, 0) + 1
                if active[key] > 1:
                    overlaps.append(key)
            time.sleep(0.001)
            with lock:
                active[key] -= 1
                processed += 1
            q.done(key)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(300):
        q.add(f"k{i % 3}")
    for t in threads:
        t.join(timeout=10)
    assert not overlaps
    assert processed >= 3


def test_add_after_holds_key_back_and_earliest_deadline_wins() -> None:
    clock = FakeClock()
    q = WorkQueue(clock=clock)
    q.add_after("k", 10)
    q.add_after("k", 30)  # later deadline is ignored
    assert q.get(timeout=0) is None
    clock.now += 9.9
    assert q.get(timeout=0) is None
    clock.now += 0.2
    assert q.get(timeout=0) == "k"
    q.done("k")
    clock.now += 30
    assert q.get(timeout=0) is None, "the superseded deadline must not add the key again"


@pytest.mark.parametrize("delay", [1e15, 2.0**70, float("inf"), 365 * 24 * 3600.0 * 2])
def test_huge_delays_are_clamped_and_a_waiting_worker_survives(delay: float) -> None:
    """A requeue delay from a spec (e.g. interval 99999999999h) once overflowed time_t in `get`, killing
    the worker thread: it is clamped to MAX_DELAY, and a blocked `get` still returns a key added later."""
    q = WorkQueue()
    q.add_after("far", delay)
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(q.get()), daemon=True)
    worker.start()
    wait_for(lambda: blocked_in(worker, "get", "workqueue.py"), 10, "the worker waiting in get()")
    assert worker.is_alive(), "get() raised instead of waiting"
    q.add("now")
    worker.join(10)
    assert got == ["now"]


def test_far_deadline_is_clamped_to_max_delay() -> None:
    clock = FakeClock()
    q = WorkQueue(clock=clock)
    q.add_after("k", 1e18)
    clock.now += MAX_DELAY - 1
    assert q.get(timeout=0) is None
    clock.now += 2
    assert q.get(timeout=0) == "k"


def test_nan_delay_is_now() -> None:
    q = WorkQueue()
    q.add_after("k", float("nan"))
    assert q.get(timeout=0) == "k"


def test_immediate_add_supersedes_delayed_add() -> None:
    clock = FakeClock()
    q = WorkQueue(clock=clock)
    q.add_after("k", 60)
    q.add("k")
    assert q.get(timeout=0) == "k"
    q.done("k")
    clock.now += 61
    assert q.get(timeout=0) is None
    assert q.waiting() == 0


def test_get_wakes_up_for_a_delayed_key_in_real_time() -> None:
    q = WorkQueue()
    q.add_after("k", 0.05)
    assert q.get(timeout=60) == "k"  # returns when the key is due, not at the timeout


def test_rate_limited_retries_back_off_exponentially_until_forget() -> None:
    clock = FakeClock()
    q = WorkQueue(backoff=Backoff(base=1, cap=8, jitter=0), clock=clock)
    delays = [q.add_rate_limited("k") for _ in range(6)]
    assert delays == [1, 2, 4, 8, 8, 8]
    assert q.num_requeues("k") == 6
    q.forget("k")
    assert q.num_requeues("k") == 0
    assert q.add_rate_limited("k", base=5) == 5  # a per-object base (retryInterval)


@pytest.mark.parametrize("r", [0.0, 0.25, 0.5, 0.999])
def test_jitter_stays_within_bounds(r: float) -> None:
    b = Backoff(base=2, cap=100, jitter=0.2, rand=lambda: r)
    for n in range(10):
        raw = min(100, 2 * 2**n)
        d = b.delay(n)
        assert raw * 0.8 - 1e-9 <= d <= min(100, raw * 1.2) + 1e-9


def test_jitter_spreads_delays() -> None:
    b = Backoff(base=10, cap=1000, jitter=0.5)
    assert len({round(b.delay(0), 6) for _ in range(20)}) > 1


def test_shutdown_hands_out_nothing_more() -> None:
    q = WorkQueue()
    q.add("a")
    q.add("b")
    assert q.get(timeout=0) == "a"
    q.shut_down()
    assert q.get(timeout=0) is None
    q.add("c")
    assert len(q) == 1  # only b from before; c was refused
    q.done("a")


def test_shutdown_wakes_a_blocked_getter() -> None:
    q = WorkQueue()
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(q.get()))
    t.start()
    wait_for(lambda: blocked_in(t, "get", "runtime/workqueue.py"), 5, "the getter blocked in WorkQueue.get")
    q.shut_down()
    t.join(timeout=5)
    assert got == [None]


def test_hooks_report_depth_adds_and_in_flight() -> None:
    depth: list[int] = []
    flight: list[int] = []
    adds = 0

    def on_add() -> None:
        nonlocal adds
        adds += 1

    q = WorkQueue(hooks=QueueHooks(on_add=on_add, on_depth=depth.append, on_in_flight=flight.append))
    q.add("a")
    q.add("a")
    q.add("b")
    key = q.get(timeout=0)
    assert adds == 2
    assert depth[-1] == 1
    assert flight[-1] == 1
    q.done(key)
    assert flight[-1] == 0
