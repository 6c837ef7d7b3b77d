"""Where a thread is blocked, read from its live stack: the condition that replaces "sleep a little so the
other threads are waiting by now" in tests of concurrency (a thread is proven to be parked in a wait
called from a given function of a given module)."""

from __future__ import annotations

import sys
import threading
from types import FrameType


def _frames(thread: threading.Thread) -> list[FrameType]:
    frame = sys._current_frames().get(thread.ident or -1)
    out = []
    while frame is not None:
        out.append(frame)
        frame = frame.f_back
    return out


def blocked_in(thread: threading.Thread, function: str, module_file: str, not_in: str | None = None) -> bool:
    """True when `thread` is parked in a `threading` wait called (directly or not) from `function` of the
    module whose file name ends with `module_file`, and (when given) not from a function named `not_in`."""
    frames = _frames(thread)
    if not frames or not frames[0].f_code.co_filename.endswith("threading.py"):
        return False
    names = {(f.f_code.co_name, f.f_code.co_filename.endswith(module_file)) for f in frames}
    return (function, True) in names and (not_in is None or all(n != not_in for n, _ in names))
