"""The init cache's directory functions (terraform/initcache.py) as a local runner uses them on the
object's directory mounted into its sandbox: a stale directory is emptied, never removed (a mount point
cannot be), and a half-done init (key dropped) is never reused."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tfcontroller.terraform.initcache import LOCK_FILE, attach_dir, invalidate_dir, record_dir


def test_a_stale_directory_is_emptied_in_place(tmp_path: Path) -> None:
    base = tmp_path / "mounted"
    base.mkdir()
    (base / "data" / "providers").mkdir(parents=True)
    (base / "key").write_text("old")
    (base / "stray").write_text("x")
    inode = base.stat().st_ino
    module = tmp_path / "module"
    module.mkdir()
    data, reusable = attach_dir(base, module, "new")
    assert not reusable and data == base / "data" and list(data.iterdir()) == []
    assert base.stat().st_ino == inode and not (base / "stray").exists()


def test_reuse_after_record_and_not_after_invalidate(tmp_path: Path) -> None:
    base, module, next_module = tmp_path / "c", tmp_path / "m1", tmp_path / "m2"
    for d in (module, next_module):
        d.mkdir()
    attach_dir(base, module, "k")
    (module / LOCK_FILE).write_text("# lock\n")
    record_dir(base, module, "k")
    assert attach_dir(base, next_module, "k")[1] is True
    assert (next_module / LOCK_FILE).read_text() == "# lock\n"  # the lock file init wrote comes back
    invalidate_dir(base)
    assert attach_dir(base, next_module, "k")[1] is False


@pytest.mark.parametrize("planted", ["key", "lock.hcl"])
def test_recording_replaces_what_a_module_left_in_the_cache_and_never_blocks_on_it(tmp_path: Path,
                                                                                   planted: str) -> None:
    """The cache directory is writable to the module's code in a local run: a FIFO at a name the runner
    writes would block an open for writing for ever; the runner writes a new file and renames it."""
    base, module = tmp_path / "cache", tmp_path / "module"
    base.mkdir()
    module.mkdir()
    (module / ".terraform.lock.hcl").write_text("# lock\n")
    os.mkfifo(base / planted)
    done = threading.Thread(target=record_dir, args=(base, module, "key-1"), daemon=True)
    done.start()
    done.join(10)  # the bound of the test only
    assert not done.is_alive(), f"a FIFO at {planted} blocked the runner"
    assert (base / "key").read_text() == "key-1" and (base / "lock.hcl").read_text() == "# lock\n"
