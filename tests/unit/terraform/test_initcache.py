"""The init cache's directory functions (terraform/initcache.py) as a local runner uses them on the
object's directory mounted into its sandbox: a stale directory is emptied, never removed (a mount point
cannot be), and a half-done init (key dropped) is never reused."""

from __future__ import annotations

from pathlib import Path

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
