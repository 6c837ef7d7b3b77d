"""Run directories removed off the reconcile path (issue 21).

A run directory (the extracted artifact, TF_DATA_DIR, HOME, the runner's exchange directory) holds
hundreds of files; `shutil.rmtree` of it on the worker thread cost a fifth of the controller's time at
scale, with the worker (and the GIL) held meanwhile. A `Reaper` makes removal one `rename` into its trash
directory (same filesystem: atomic and O(1)) and deletes the trash on a background thread, one directory
at a time, so the reconcile that used the directory finishes at once.

It survives restarts: what was renamed into the trash is no longer a run directory of anyone, so a
controller killed before the thread got to it leaves it in the trash, and the next `Reaper` on the same
trash removes it when it starts. Run directories a killed controller never handed over (it died in the
middle of the run) are found through `instance_dir`: each controller process makes its run directories in
a directory of its own, `<base>/<id>/`, and holds an exclusive `flock` on `<base>/<id>.lock` while it lives
(the kernel drops it when the process dies, however it dies); a controller starting finds the siblings
whose lock it can take and hands them to the reaper. Controllers sharing one work directory never touch
each other's runs: a live one holds its lock. A path that cannot be renamed there (another filesystem: a run's TMPDIR
outside its directory) is queued as it is (removed in the background, not across a restart: it lives in
the system temp directory). Nothing is ever removed outside the trash unless it was handed over.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import threading
import uuid
from collections import deque
from pathlib import Path

log = logging.getLogger(__name__)


IDLE_EXIT = 5.0  # seconds without work after which the thread ends (started again by the next discard)


class Reaper:
    """Removes handed-over directories on a daemon thread; `discard` returns at once. The thread lives
    while there is work (and IDLE_EXIT seconds after), so an idle controller has none."""

    def __init__(self, trash: Path, idle_exit: float = IDLE_EXIT) -> None:
        self.trash = trash
        self.idle_exit = idle_exit
        trash.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._todo: deque[Path] = deque()
        self._cond = threading.Condition()
        self._pending = 0  # handed over and not yet removed (the one being removed included)
        self._thread: threading.Thread | None = None
        for left in sorted(trash.iterdir()):  # a previous controller's, killed before it removed them
            self._put(left)

    def discard(self, path: Path) -> None:
        """Take `path` (a directory or file) out of its place now and remove it in the background."""
        target = self.trash / f"{uuid.uuid4().hex[:12]}-{path.name[:40]}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return
        except OSError:  # another filesystem (EXDEV) or a busy mount point: remove it where it is
            target = path
        self._put(target)

    def pending(self) -> int:
        with self._cond:
            return self._pending

    def drain(self, timeout: float) -> bool:
        """Wait until everything handed over so far is removed; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def _put(self, path: Path) -> None:
        with self._cond:
            self._pending += 1
            self._todo.append(path)
            self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="reaper", daemon=True)
                self._thread.start()

    def _next(self) -> Path | None:
        with self._cond:
            if not self._todo:
                self._cond.wait(self.idle_exit)
            if not self._todo:
                self._thread = None  # under the lock: a `_put` after this starts a new thread
                return None
            return self._todo.popleft()

    def _run(self) -> None:
        while (path := self._next()) is not None:
            try:
                remove(path)
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any one directory
                log.warning("reaper: could not remove %s: %s", path, exc)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()


def remove(path: Path) -> None:
    """A directory tree or a file, whichever `path` is; gone already is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


_LOCK_SUFFIX = ".lock"
_held: list[int] = []  # the lock files of this process's instance directories, open for its lifetime


def instance_dir(base: Path, reaper: Reaper) -> Path:
    """`base/<id>/`, this process's own (its lock held until the process ends); the instance directories of
    controllers that died are handed to `reaper` first. Directories without a lock file are left alone."""
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    for lock in sorted(base.glob(f"*{_LOCK_SUFFIX}")):
        _reap_if_dead(lock, reaper)
    name = uuid.uuid4().hex[:16]
    fd = os.open(base / f"{name}{_LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new name: nobody else can hold it
    _held.append(fd)
    own = base / name
    own.mkdir(mode=0o700)
    return own


def _reap_if_dead(lock: Path, reaper: Reaper) -> None:
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return  # removed meanwhile by another controller that found it dead
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return  # its controller lives
    try:
        reaper.discard(lock.with_suffix(""))
        lock.unlink(missing_ok=True)
    finally:
        os.close(fd)
