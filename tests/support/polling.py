"""Waiting on a condition with a timeout, for every test module: tests synchronise by polling what they
expect to happen, never by sleeping a fixed time (`poll` returns the last value, `wait_for` fails). The one
copy: harnesses pass their own timeout and interval (minute-long Terraform runs poll less often)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def poll(cond: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Call `cond` until it returns something truthy or `timeout` passes; return its last value, so that
    `assert poll(...), details` can add its own diagnostics."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    return cond()


def wait_for(cond: Callable[[], Any], timeout: float = 15.0, what: str = "condition", interval: float = 0.05) -> Any:
    """Poll `cond` until it returns something truthy; return that, or fail naming `what`, the time waited
    and the last value `cond` returned (a falsy value such as `[]` or `None` often says why)."""
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last value: {value!r:.300})")
        time.sleep(interval)
