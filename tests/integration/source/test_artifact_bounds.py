"""The artifact bounds where artifacts are packed and read (issue 21): a commit above the entries or bytes
bound is refused by `build_archive` before any file of it is read (`ArtifactTooLarge`, naming
`spec.ignore`), and honouring `spec.ignore` makes the same commit pack; every reader of an existing
artifact (`module_inputs`, `read_files`) stops at the member that crosses a bound instead of reading on."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tfcontroller.api.constants import ARTIFACT_MAX_ENTRIES
from tfcontroller.source.artifact import bounded_members, build_archive, check_artifact_bounds
from tfcontroller.source.errors import ArtifactTooLargeError


def test_check_bounds_counts_entries_and_bytes() -> None:
    check_artifact_bounds("c" * 40, 10, 100, max_entries=10, max_bytes=100)
    with pytest.raises(ArtifactTooLargeError, match=r"11 files and directories.*spec\.ignore"):
        check_artifact_bounds("c" * 40, 11, 1, max_entries=10, max_bytes=100)
    with pytest.raises(ArtifactTooLargeError, match=r"101 bytes.*spec\.ignore"):
        check_artifact_bounds("c" * 40, 1, 101, max_entries=10, max_bytes=100)


def test_a_commit_with_10000_files_is_refused_and_ignore_fixes_it(git_file_remote, tmp_path: Path) -> None:
    remote = git_file_remote("many")
    files = {f"gen/f{i}.txt": "x" for i in range(10_000)}
    commit = remote.commit({"main.tf": "# module\n", **files})
    with pytest.raises(ArtifactTooLargeError, match=rf"more than {ARTIFACT_MAX_ENTRIES}") as err:
        build_archive(remote.bare, commit, tmp_path / "a.tar.gz")
    assert err.value.reason == "ArtifactTooLarge"
    assert not (tmp_path / "a.tar.gz").exists() and not list(tmp_path.glob(".build-*"))
    info = build_archive(remote.bare, commit, tmp_path / "b.tar.gz", ignore="gen/\n")
    assert info.entries == 1


def test_a_large_file_is_refused_by_size(git_file_remote, tmp_path: Path) -> None:
    remote = git_file_remote("big")
    commit = remote.commit({"main.tf": "# module\n", "blob.bin": "y" * 300_000})
    with pytest.raises(ArtifactTooLargeError, match="bytes of files"):
        build_archive(remote.bare, commit, tmp_path / "a.tar.gz", max_bytes=200_000)
    build_archive(remote.bare, commit, tmp_path / "a.tar.gz", max_bytes=400_000)


def _tar(path: Path, members: list[tuple[str, int]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, size in members:
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(b"\0" * size))
    return path


@pytest.mark.parametrize(("members", "ok"), [
    ([("a", 10), ("b", 10)], True), ([("a", 10), ("b", 11)], False), ([(f"f{i}", 0) for i in range(4)], False),
])
def test_bounded_members_stop_at_the_member_crossing_a_bound(tmp_path: Path, members: list, ok: bool) -> None:
    tar_path = _tar(tmp_path / "t.tgz", members)
    with tarfile.open(tar_path, "r:gz") as tar:
        if ok:
            assert [m.name for m in bounded_members(tar, max_entries=3, max_bytes=20)] == [n for n, _ in members]
        else:
            with pytest.raises(ArtifactTooLargeError):
                list(bounded_members(tar, max_entries=3, max_bytes=20))
