"""Ctrl-C under `make demo`: the demo takes the terminal's foreground so that make does not see the signal.

A terminal sends SIGINT to its whole foreground process group. Under `make demo` that group is make's, and
GNU make treats SIGINT as fatal whatever its child does: it waits for the child, prints
`make: *** [Makefile:NN: demo] Interrupt` and kills itself with SIGINT. Ctrl-C is how a person ends the demo,
not an error, so the demo moves into a process group of its own and makes it the terminal's foreground
group (what a shell does for a job), and gives the terminal back when it ends. Then Ctrl-C reaches only the
demo, which stops everything it started, prints "stopped" and exits 0, and make exits 0 after it.

Without a controlling terminal (CI, tests) or when the demo already leads its process group (started from a
shell), this does nothing. While the demo holds the terminal, Ctrl-Z is ignored: a stopped demo would keep
the terminal while the shell waits for make, which is not stopped, and nothing could resume it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def _no_sigttou() -> Iterator[None]:
    """tcsetpgrp from a background group stops the caller with SIGTTOU unless it is ignored."""
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTTOU, old)


def take_foreground() -> Callable[[], None]:
    """Become the terminal's foreground process group if our parent's group has it; returns the undo."""
    if os.getpgrp() == os.getpid():
        return lambda: None
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return lambda: None
    try:
        previous = os.tcgetpgrp(fd)
        if previous != os.getpgrp():  # we run in the background: leave the terminal alone
            os.close(fd)
            return lambda: None
        os.setpgid(0, 0)
        with _no_sigttou():
            os.tcsetpgrp(fd, os.getpgrp())
    except OSError:
        os.close(fd)
        return lambda: None
    old_tstp = signal.signal(signal.SIGTSTP, signal.SIG_IGN)

    def give_back() -> None:
        signal.signal(signal.SIGTSTP, old_tstp)
        try:
            with _no_sigttou():
                os.tcsetpgrp(fd, previous)
        except OSError:
            pass  # the previous group is gone (make was killed): the shell takes the terminal back itself
        finally:
            os.close(fd)

    return give_back
