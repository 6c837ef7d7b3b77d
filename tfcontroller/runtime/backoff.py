"""Exponential backoff with jitter: the delay before the n-th retry of a failing key.

Pure, with the random source injectable, so that bounds are unit-tested. The base may differ per
object (a Terraform's `retryInterval`), so it is an argument rather than configuration only.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base: float = 1.0  # seconds before the first retry
    cap: float = 300.0  # never wait longer than this
    factor: float = 2.0
    jitter: float = 0.1  # +/- fraction of the delay, spreads retries of many keys apart
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, failures: int, base: float | None = None) -> float:
        """Delay before retry number `failures + 1` (failures counts earlier attempts, from 0)."""
        b = self.base if base is None else base
        raw = min(self.cap, b * (self.factor ** max(0, failures)))
        spread = raw * self.jitter * (2.0 * self.rand() - 1.0)
        return max(0.0, min(self.cap, raw + spread))
