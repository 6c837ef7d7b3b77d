"""The reaper of run directories (terraform/reaper.py, issue 21): removal is off the caller's thread (the
directory leaves its place at once, its files go later), what a killed controller left behind is removed by
the next one (its trash, and the run directories of its instance directory, whose flock the kernel dropped
when it died), and a live controller's runs are never touched. Real files, real processes, real SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from tests.support.polling import wait_for
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.reaper import Reaper, instance_dir
from tfcontroller.terraform.workspace import Workspace

ROOT = Path(__file__).resolve().parents[3]


def tree(root: Path, files: int = 50) -> Path:
    """A run-directory-like tree: nested directories, files, a symlink pointing out of it."""
    for i in range(files):
        sub = root / f"d{i % 5}" / "x"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}").write_text("x" * 100)
    (root / "link").symlink_to("/etc")
    return root


def test_discard_takes_the_directory_away_at_once_and_removes_it_in_the_background(tmp_path: Path) -> None:
    reaper = Reaper(tmp_path / "trash")
    runs = [tree(tmp_path / "runs" / f"run-{i}") for i in range(5)]
    for run in runs:
        reaper.discard(run)
        assert not run.exists()  # gone from its place before discard returns
    assert reaper.drain(30)
    assert list((tmp_path / "trash").iterdir()) == []
    assert Path("/etc").is_dir()  # a symlink in the tree is removed, never followed


def test_discard_of_a_missing_path_or_a_file_is_fine(tmp_path: Path) -> None:
    reaper = Reaper(tmp_path / "trash")
    reaper.discard(tmp_path / "never-existed")
    (tmp_path / "a-file").write_text("x")
    reaper.discard(tmp_path / "a-file")
    assert reaper.drain(30)
    assert not (tmp_path / "a-file").exists()
    assert list((tmp_path / "trash").iterdir()) == []


def test_a_path_on_another_filesystem_is_removed_where_it_is(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        return  # no second filesystem here: nothing to check
    elsewhere = tree(Path(os.path.realpath(shm)) / f"tfc-reaper-{os.getpid()}-{threading.get_ident()}", 5)
    reaper = Reaper(tmp_path / "trash")
    reaper.discard(elsewhere)  # rename fails with EXDEV: queued as it is
    assert reaper.drain(30)
    assert not elsewhere.exists()


def test_a_new_reaper_empties_the_trash_a_previous_one_left(tmp_path: Path) -> None:
    trash = tmp_path / "trash"
    trash.mkdir()
    for i in range(3):
        tree(trash / f"left-{i}", 10)
    (trash / "a-file").write_text("x")
    reaper = Reaper(trash)
    assert reaper.drain(30)
    assert list(trash.iterdir()) == []


def test_instance_dirs_of_dead_controllers_are_reaped_live_ones_and_unknown_ones_left(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    reaper = Reaper(tmp_path / "trash")
    live = instance_dir(base, reaper)  # this process holds its lock
    tree(live / "run-live", 5)
    dead = base / "deadbeef"  # a lock file nobody holds: its controller died
    tree(dead / "run-dead", 5)
    (base / "deadbeef.lock").write_text("")
    legacy = tree(base / "ns-name-abc123", 5)  # no lock file: not ours to judge
    mine = instance_dir(base, reaper)  # a second controller starting beside the live one
    assert reaper.drain(30)
    assert mine != live and mine.is_dir()
    assert (live / "run-live").is_dir()
    assert legacy.is_dir()
    assert not dead.exists() and not (base / "deadbeef.lock").exists()


def test_runs_of_a_sigkilled_controller_are_reaped_by_the_next_one(tmp_path: Path) -> None:
    """A real process makes its instance directory, hands one run to the reaper and dies by SIGKILL
    with another run still in place (the reaper had no time; the lock is released by the kernel)."""
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from tfcontroller.terraform.reaper import Reaper, instance_dir
        base = Path({str(tmp_path)!r})
        reaper = Reaper(base / "trash")
        own = instance_dir(base / "runs", reaper)
        for name in ("in-flight", "handed-over"):
            for i in range(200):
                (own / name / str(i % 7)).mkdir(parents=True, exist_ok=True)
                (own / name / str(i % 7) / str(i)).write_text("x")
        import tfcontroller.terraform.reaper as module
        module.remove = lambda path: time.sleep(600)  # the reaper's thread is busy: killed before it removed it
        reaper.discard(own / "handed-over")
        print(own, flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    try:
        assert proc.stdout is not None
        own = Path(proc.stdout.readline().strip())
        assert (own / "in-flight").is_dir()
        assert [p for p in (tmp_path / "trash").iterdir()], "the handed-over run waits in the trash"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    reaper = Reaper(tmp_path / "trash")  # the next controller
    new = instance_dir(tmp_path / "runs", reaper)
    assert reaper.drain(30)
    assert not own.exists()
    assert list((tmp_path / "trash").iterdir()) == []
    assert [p for p in (tmp_path / "runs").iterdir() if p.suffix != ".lock"] == [new]


def test_workspace_cleanup_hands_the_run_directory_to_the_reaper(tmp_path: Path) -> None:
    reaper = Reaper(tmp_path / "trash")
    root = tree(tmp_path / "runs" / "run-1", 20)
    (root / "tmp").mkdir()
    ws = Workspace(root=root, module_dir=root, config=TerraformConfig(binary="terraform"), env={}, tmp_dir=root / "tmp", reaper=reaper)
    assert ws.cleanup(success=True)
    assert not root.exists()
    wait_for(lambda: reaper.pending() == 0, 30, "the reaper to finish")
    assert list((tmp_path / "trash").iterdir()) == []


def test_the_thread_ends_when_idle_and_a_new_discard_starts_it_again(tmp_path: Path) -> None:
    reaper = Reaper(tmp_path / "trash", idle_exit=0.05)
    reaper.discard(tree(tmp_path / "one", 5))
    assert reaper.drain(30)
    wait_for(lambda: reaper._thread is None, 10, "the idle reaper thread to end")
    reaper.discard(tree(tmp_path / "two", 5))
    assert reaper.drain(30)
    assert list((tmp_path / "trash").iterdir()) == []
