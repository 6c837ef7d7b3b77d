"""Rate limiting per provider (issue 19): a token bucket, as a pure value the outbox keeps per provider.

Why: a burst of events (a module change that plans fifty objects, a source that breaks every
ManifestSet) must not get a chat webhook to answer 429 for everything, nor flood a channel. Slack
documents about one message a second per webhook, Discord a few per second with a per-minute cap; the
default here (one a second, bursts of ten) stays under both. Nothing is dropped: a message the bucket
refuses now waits the returned delay and is tried again (the outbox requeues it), like a 429.

Pure: time is passed in (a monotonic clock in the controller, plain numbers in tests), and `take`
returns the new bucket instead of changing it, so it is safe to share between threads by replacing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

DEFAULT_RATE = 1.0  # tokens a second
DEFAULT_BURST = 10
_EPSILON = 1e-9


@dataclass(frozen=True)
class TokenBucket:
    """`tokens` available at time `at` (seconds, monotonic); refills at `rate` a second up to `burst`."""

    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    tokens: float = float(DEFAULT_BURST)
    at: float = 0.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")

    @classmethod
    def full(cls, now: float, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST) -> TokenBucket:
        return cls(rate, burst, float(burst), now)

    def _refilled(self, now: float) -> float:
        return min(float(self.burst), self.tokens + max(0.0, now - self.at) * self.rate)

    def take(self, now: float) -> tuple[TokenBucket, float]:
        """Try to send one message at `now`: the new bucket, and 0.0 to send now, or the seconds to wait
        before a token is there (the bucket unchanged apart from its refill)."""
        tokens = self._refilled(now)
        if tokens >= 1.0 - _EPSILON:  # waiting exactly the returned delay must be enough, rounding or not
            return replace(self, tokens=max(0.0, tokens - 1.0), at=now), 0.0
        return replace(self, tokens=tokens, at=now), (1.0 - tokens) / self.rate
