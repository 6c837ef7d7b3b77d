"""Garbage collection of the Terraform controller's artifact cache (<work_dir>/artifacts): the pure
selection (archives neither in use nor any object's latest; old unfinished downloads), the cache's
in-use counts winning over a collection, and on the dev cluster: a new commit's artifact replaces the
object's previous one while another object's latest artifact is kept."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.support.terraform_helpers import SIMPLE_TF, Harness, ready_reason
from tfcontroller.controllers.terraform.artifacts import ArtifactCache, files_to_remove

A, B, C = "a" * 64, "b" * 64, "c" * 64


def test_files_to_remove_keeps_used_and_latest() -> None:
    now = 10_000.0
    files = {f"{A}.tar.gz": now, f"{B}.tar.gz": now, f"{C}.tar.gz": now, ".download-old": now - 7200,
             ".download-new": now - 5, "unrelated.txt": now - 99999}
    assert files_to_remove(files, {f"sha256:{A}", B}, now) == [".download-old", f"{C}.tar.gz"]
    assert files_to_remove(files, {"", f"sha256:{A}", f"sha256:{B}", f"sha256:{C}"}, now) == [".download-old"]


def test_collect_never_removes_an_artifact_in_use(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "artifacts")
    for digest in (A, B, C):
        cache.path_for(f"sha256:{digest}").write_bytes(b"x")
    stale = cache.root / ".download-stale"
    stale.write_bytes(b"")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    cache.hold(f"sha256:{B}")
    cache.hold(f"sha256:{B}")
    cache.release(f"sha256:{B}")  # still held once
    assert cache.collect([f"sha256:{A}"]) == [".download-stale", f"{C}.tar.gz"]
    assert sorted(p.name for p in cache.root.iterdir()) == [f"{A}.tar.gz", f"{B}.tar.gz"]
    cache.release(f"sha256:{B}")
    assert cache.collect([]) == [f"{A}.tar.gz", f"{B}.tar.gz"]
    assert cache.cached(f"sha256:{A}") is None


def test_new_artifact_replaces_the_previous_one_others_are_kept(harness: Harness, git_file_remote) -> None:
    cache_dir = harness.tmp / "work" / "artifacts"

    def cached() -> set[str]:
        return {p.name.removesuffix(".tar.gz") for p in cache_dir.iterdir()}

    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"tf/main.tf": SIMPLE_TF}))
    harness.create("app", path="./tf")
    first = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    d1 = first["status"]["lastArtifactDigest"].split(":")[1]
    assert cached() == {d1}

    # Another object on another source: it only needs its artifact (it waits for a dependency).
    other_remote = git_file_remote("other")
    harness.publish("src2", other_remote.bare, other_remote.commit({"main.tf": SIMPLE_TF + "\n# other\n"}))
    harness.create("other", source="src2", dependsOn=[{"name": "missing"}])
    other = harness.reconcile("other")
    assert ready_reason(other) == "False/DependencyNotReady"
    d_other = other["status"]["lastArtifactDigest"].split(":")[1]
    assert cached() == {d1, d_other}  # app's latest is kept

    harness.publish("src", remote.bare, remote.commit({"README.md": "new commit"}))
    again = harness.reconcile("app")
    d2 = again["status"]["lastArtifactDigest"].split(":")[1]
    assert d2 != d1 and ready_reason(again) == "True/ApplySucceeded"
    assert cached() == {d2, d_other}  # app's previous archive removed, the other object's kept
