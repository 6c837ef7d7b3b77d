"""The one safe extraction of artifacts (Terraform runs and ManifestSets): ordinary trees (with in-tree
links) extract; path traversal, absolute paths, symlinks and hardlinks leaving the tree, device and FIFO
members, overwrites are refused by name, size is bounded, and a refused artifact leaves no run directory
behind."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from tfcontroller.terraform.archive import extract_artifact, resolve_subpath
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.errors import ArtifactError, MaliciousArtifactError
from tfcontroller.terraform.workspace import Workspace


def build(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            if isinstance(m, tuple):
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                info.mode = 0o4755  # setuid must not survive
                tar.addfile(info, io.BytesIO(m[1]))
            else:
                tar.addfile(m)
    return path


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return info


def test_ordinary_tree_with_inner_links(tmp_path: Path) -> None:
    tar = build(tmp_path / "a.tgz", [("mod/main.tf", b"# hi"), ("shared/vars.tf", b"# v"),
                                     link("mod/vars.tf", "../shared/vars.tf"), ("./mod/sub/x.tf", b"x")])
    dest = tmp_path / "out"
    extract_artifact(tar, dest)
    assert (dest / "mod/vars.tf").read_text() == "# v"
    assert (dest / "mod/sub/x.tf").read_text() == "x"
    assert not (dest / "mod/main.tf").stat().st_mode & (stat.S_ISUID | stat.S_IWOTH)
    assert resolve_subpath(dest, "./mod/") == dest / "mod"


@pytest.mark.parametrize(("members", "bad"), [
    ([("../escape.tf", b"x")], "../escape.tf"),
    ([("mod/../../escape.tf", b"x")], "mod/../../escape.tf"),
    ([("/etc/cron.d/evil", b"x")], "/etc/cron.d/evil"),
    ([link("mod/passwd", "/etc/passwd")], "mod/passwd"),
    ([link("mod/up", "../../..")], "mod/up"),
    ([("mod/a.tf", b"x"), link("mod/dot", "."), link("mod/esc", "dot/../..")], "mod/esc"),
    ([link("mod/hard", "/etc/passwd", tarfile.LNKTYPE)], "mod/hard"),
    ([link("mod/hard", "../outside", tarfile.LNKTYPE)], "mod/hard"),
    ([special("mod/null", tarfile.CHRTYPE)], "mod/null"),
    ([special("mod/disk", tarfile.BLKTYPE)], "mod/disk"),
    ([special("mod/pipe", tarfile.FIFOTYPE)], "mod/pipe"),
    ([link("mod/l", "inner"), ("mod/l", b"overwrite through the link")], "mod/l"),
])
def test_malicious_members_refused(tmp_path: Path, members: list, bad: str) -> None:
    tar = build(tmp_path / "bad.tgz", members)
    with pytest.raises(MaliciousArtifactError) as err:
        extract_artifact(tar, tmp_path / "out")
    assert err.value.member == bad
    assert bad in str(err.value)
    assert err.value.reason == "ArtifactRejected"
    assert not (tmp_path / "escape.tf").exists()


def test_link_made_to_escape_by_a_later_member(tmp_path: Path) -> None:
    # "esc" points at "later/.." (inside while "later" is absent); "later" then becomes a link to ".",
    # which makes "esc" resolve to the parent of the tree. The final check catches it.
    tar = build(tmp_path / "bad.tgz", [link("m/esc", "later/.."), link("m/later", "..")])
    with pytest.raises(MaliciousArtifactError):
        extract_artifact(tar, tmp_path / "out")


def test_refused_artifact_leaves_nothing(tmp_path: Path) -> None:
    tar = build(tmp_path / "bad.tgz", [("mod/main.tf", b"x"), link("mod/k", "/root/.kube/config")])
    base = tmp_path / "runs"
    cfg = TerraformConfig(binary="terraform")
    with pytest.raises(MaliciousArtifactError):
        Workspace.create(base, tar, "mod", config=cfg)
    assert list(base.iterdir()) == []


def test_missing_or_escaping_subpath(tmp_path: Path) -> None:
    tar = build(tmp_path / "a.tgz", [("mod/main.tf", b"x")])
    cfg = TerraformConfig(binary="terraform")
    for sub in ("nope", "../", "mod/../.."):
        with pytest.raises(ArtifactError) as err:
            Workspace.create(tmp_path / "runs", tar, sub, config=cfg)
        assert err.value.reason == "PathNotFound"
    assert os.listdir(tmp_path / "runs") == []


def test_size_bounds_refuse_too_many_members_or_bytes(tmp_path: Path) -> None:
    """A small archive may unpack to gigabytes: members and written bytes are bounded (Stalled)."""
    many = build(tmp_path / "many.tgz", [(f"m/{i}.tf", b"x") for i in range(6)])
    extract_artifact(many, tmp_path / "ok", max_members=6)
    with pytest.raises(ArtifactError) as err:
        extract_artifact(many, tmp_path / "out1", max_members=5)
    assert err.value.reason == "ArtifactTooLarge" and "spec.ignore" in str(err.value)
    assert not isinstance(err.value, MaliciousArtifactError)

    big = build(tmp_path / "big.tgz", [("m/a.tf", b"a" * 600), ("m/b.tf", b"b" * 600)])
    extract_artifact(big, tmp_path / "ok2", max_bytes=1200)
    with pytest.raises(ArtifactError) as err:
        extract_artifact(big, tmp_path / "out2", max_bytes=1199)
    assert err.value.reason == "ArtifactTooLarge"


def test_size_bound_counts_hardlink_copies(tmp_path: Path) -> None:
    """A hardlink is extracted as a copy, so each link spends the file's size again."""
    members = [("m/a.tf", b"a" * 500)] + [link(f"m/h{i}", "m/a.tf", tarfile.LNKTYPE) for i in range(3)]
    tar = build(tmp_path / "hard.tgz", members)
    extract_artifact(tar, tmp_path / "ok", max_bytes=2000)
    assert (tmp_path / "ok/m/h2").read_bytes() == b"a" * 500
    with pytest.raises(ArtifactError) as err:
        extract_artifact(tar, tmp_path / "out", max_bytes=1999)
    assert err.value.reason == "ArtifactTooLarge"


def test_size_bound_does_not_trust_the_member_header(tmp_path: Path) -> None:
    """The header says 10 bytes, the bound is 100: the content written is what counts (here 10)."""
    tar = build(tmp_path / "h.tgz", [("m/a.tf", b"0123456789")])
    extract_artifact(tar, tmp_path / "ok", max_bytes=10)
    with pytest.raises(ArtifactError):
        extract_artifact(tar, tmp_path / "out", max_bytes=9)


@pytest.mark.parametrize(("members", "bad"), [
    ([link("m/hard", "m/later", tarfile.LNKTYPE), ("m/later", b"x")], "m/hard"),  # hardlink to a file not yet there
    ([("m/d/x", b"x"), link("m/hard", "m/d", tarfile.LNKTYPE)], "m/hard"),       # a hardlink to a directory
    ([("m/x", b"x"), ("m/x", b"again")], "m/x"),                                 # a repeated file
    ([("m/x", b"x"), ("m/x/y", b"under a file")], "m/x/y"),                      # a file where a directory goes
])
def test_more_refusals(tmp_path: Path, members: list, bad: str) -> None:
    with pytest.raises(MaliciousArtifactError) as err:
        extract_artifact(build(tmp_path / "bad.tgz", members), tmp_path / "out")
    assert err.value.reason == "ArtifactRejected" and err.value.member == bad


def test_unreadable_archive_is_an_artifact_failure(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"not a tarball at all")
    with pytest.raises(ArtifactError) as err:
        extract_artifact(junk, tmp_path / "out")
    assert err.value.reason == "ArtifactFailed"
