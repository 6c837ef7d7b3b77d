"""What a reconcile function returns to the manager: when to look at the object again.

A reconcile either finishes (`Result()`), asks to be called again after a delay (intervals, waiting),
or failed (`error` set: the manager retries with exponential backoff whose base is `retry_base` when
the object has a `retryInterval`, else the manager's configured base). Raising an exception from a
reconcile function is the same as returning `Result(error=exc)`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None
    error: BaseException | None = None
    retry_base: float | None = None

    @property
    def label(self) -> str:
        """The `result` label of the reconcile metrics."""
        if self.error is not None:
            return "error"
        if self.requeue_after is not None:
            return "requeue"
        return "success"
