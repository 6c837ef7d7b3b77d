"""notify.ratelimit: a full bucket lets a burst through, then one message per 1/rate seconds; the wait
it returns is exactly when the next token is there; time going backwards (a clock jump) never mints
tokens; idle time refills only up to the burst."""

from __future__ import annotations

import pytest

from tfcontroller.notify.ratelimit import TokenBucket


def test_burst_then_steady_rate() -> None:
    bucket = TokenBucket.full(100.0, rate=2.0, burst=3)
    waits = []
    for _ in range(5):
        bucket, wait = bucket.take(100.0)
        waits.append(wait)
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.5) and waits[4] == pytest.approx(0.5)
    bucket, wait = bucket.take(100.5)
    assert wait == 0.0
    bucket, wait = bucket.take(100.5)
    assert wait == pytest.approx(0.5)


def test_waiting_the_returned_delay_always_succeeds() -> None:
    bucket, now = TokenBucket.full(0.0, rate=0.3, burst=2), 0.0
    sent = 0
    for _ in range(20):
        bucket, wait = bucket.take(now)
        if wait:
            now += wait
            bucket, again = bucket.take(now)
            assert again == 0.0
        sent += 1
    assert sent == 20 and now == pytest.approx((20 - 2) / 0.3)


def test_idle_refills_only_up_to_the_burst_and_a_clock_jump_back_mints_nothing() -> None:
    bucket = TokenBucket.full(0.0, rate=1.0, burst=2)
    for _ in range(2):
        bucket, _ = bucket.take(0.0)
    bucket, wait = bucket.take(-1000.0)
    assert wait == pytest.approx(1.0)
    bucket, _ = bucket.take(10_000.0)
    bucket, _ = bucket.take(10_000.0)
    _, wait = bucket.take(10_000.0)
    assert wait == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_nonsense_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)
