"""Artifacts built from real mirrors: reproducible bytes (two builds, two mirrors → one sha256), tar
metadata normalised, no `.git`, `ignore` patterns honoured, symlinks kept; `digest_of` covering a path
and the local modules it calls (transitively) but not the rest of the repository; safe extraction."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from tfcontroller.source.artifact import digest_of, module_inputs
from tfcontroller.source.errors import PathNotFoundError
from tfcontroller.source.git import GitFetcher
from tfcontroller.source.refs import RefSpec
from tfcontroller.terraform.archive import extract_artifact
from tfcontroller.terraform.errors import MaliciousArtifactError

APP = 'module "bucket" {\n  source = "../../modules/bucket"\n  name   = "x"\n}\n'
BUCKET = 'module "policy" {\n  source = "../policy"\n}\nresource "null_resource" "b" {}\n'
POLICY = 'variable "p" {\n  default = 1\n}\n'
TREE = {
    "infra/app/main.tf": APP,
    "infra/app/files/init.sh": "echo hi\n",
    "modules/bucket/main.tf": BUCKET,
    "modules/policy/main.tf": POLICY,
    "modules/unused/main.tf": "# unused\n",
    "docs/readme.md": "docs\n",
    "build/out.bin": "junk",
    "run.sh": "#!/bin/sh\n",
}


def _build(tmp_path: Path, url: str, name: str, ignore: str | None = None) -> Path:
    fetcher = GitFetcher(tmp_path / f"cache-{name}")
    result = fetcher.fetch(url, RefSpec(branch="main"))
    dest = tmp_path / f"{name}.tar.gz"
    fetcher.build_artifact(result, dest, ignore)
    assert fetcher.stats.repacks == 1
    return dest


def test_archive_is_reproducible_and_normalised(git_file_remote, tmp_path):
    remote = git_file_remote()
    remote.commit(TREE, executable=("run.sh",), symlinks={"link-to-docs": "docs/readme.md"})
    one = _build(tmp_path, remote.url, "one", ignore="build/\n*.md\n")
    two = _build(tmp_path, remote.url, "two", ignore=["build/", "*.md"])
    assert one.read_bytes() == two.read_bytes()

    with gzip.open(one) as gz:
        gz.read()
    with open(one, "rb") as raw:
        header = raw.read(10)
    assert header[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert not header[3] & 0x08  # no file name in the gzip header

    with tarfile.open(one, "r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert not any(n == ".git" or n.startswith(".git/") for n in names)
    assert "docs/readme.md" not in names and not any(n.startswith("build") for n in names)
    assert "infra/app/main.tf" in names
    by_name = {m.name: m for m in members}
    assert by_name["run.sh"].mode == 0o755 and by_name["infra/app/main.tf"].mode == 0o644
    assert by_name["link-to-docs"].issym() and by_name["link-to-docs"].linkname == "docs/readme.md"
    assert by_name["infra"].isdir()
    assert all(
        m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "" for m in members
    )


def test_content_change_changes_digest_and_same_content_does_not(git_file_remote, tmp_path):
    remote = git_file_remote()
    remote.commit(TREE)
    first = _build(tmp_path, remote.url, "first").read_bytes()
    remote.commit({}, message="empty commit: same tree")
    assert _build(tmp_path, remote.url, "same").read_bytes() == first
    remote.commit({"docs/readme.md": "changed\n"})
    assert _build(tmp_path, remote.url, "changed").read_bytes() != first


def test_digest_of_covers_path_and_called_local_modules_only(git_file_remote, tmp_path):
    remote = git_file_remote()
    remote.commit(TREE)
    base = _build(tmp_path, remote.url, "base")
    app = digest_of(base, "infra/app")
    assert app.startswith("sha256:") and len(app) == 71
    assert digest_of(base, "./infra/app/") == app

    remote.commit({"docs/readme.md": "other\n", "modules/unused/main.tf": "# changed\n"})
    elsewhere = _build(tmp_path, remote.url, "elsewhere")
    assert digest_of(elsewhere, "infra/app") == app
    assert digest_of(elsewhere, "") != digest_of(base, "")

    remote.commit({"modules/policy/main.tf": POLICY + "# transitively called\n"})
    transitive = _build(tmp_path, remote.url, "transitive")
    assert digest_of(transitive, "infra/app") != app

    remote.commit({"infra/app/files/init.sh": "echo changed\n"})
    own = _build(tmp_path, remote.url, "own")
    assert digest_of(own, "infra/app") != digest_of(transitive, "infra/app")

    with pytest.raises(PathNotFoundError):
        digest_of(base, "infra/missing")


READS_TREE = {
    "stacks/app/main.tf": 'output "motd" {\n  value = templatefile("${path.module}/../../templates/motd.tpl", {})\n}\n',
    "stacks/link/main.tf": 'output "motd" {\n  value = file("${path.module}/../../templates/link.tpl")\n}\n',
    "stacks/computed/main.tf": 'variable "name" {}\noutput "x" {\n  value = file("${path.module}/${var.name}.txt")\n}\n',
    "stacks/default/main.tf": 'variable "name" {\n  default = "motd"\n}\n'
                              'output "x" {\n  value = file("${path.module}/../../templates/${var.name}.tpl")\n}\n',
    "stacks/calls-template/main.tf": 'output "x" {\n  value = templatefile("${path.root}/t.tpl", {})\n}\n',
    "stacks/calls-template/t.tpl": "plain\n",
    "templates/motd.tpl": "Hello\n",
    "templates/other.tpl": "Other\n",
    "shared/real.tpl": "Real\n",
    "README.md": "hi\n",
}


def test_module_inputs_cover_files_read_outside_the_module_and_widen_when_not_static(git_file_remote, tmp_path):
    """Design §4.9: the file a module reads outside its directory is in the digest; an unrelated file is
    not; a path that cannot be resolved statically widens the digest to the whole artifact, saying why."""
    remote = git_file_remote()
    remote.commit(READS_TREE, symlinks={"templates/link.tpl": "../shared/real.tpl"})
    base = _build(tmp_path, remote.url, "base")
    stacks = ("stacks/app", "stacks/link", "stacks/computed", "stacks/default", "stacks/calls-template")
    before = {s: module_inputs(base, s) for s in stacks}
    assert [s for s in stacks if before[s].widened] == ["stacks/computed"]
    assert "stacks/computed/main.tf:3:" in before["stacks/computed"].widened[0]
    assert "var.name" in before["stacks/computed"].widened[0]
    assert module_inputs(base, "stacks/default", provided_vars={"name"}).widened  # the object sets it

    remote.commit({"README.md": "changed\n", "templates/other.tpl": "changed\n"})
    unrelated = _build(tmp_path, remote.url, "unrelated")
    after = {s: module_inputs(unrelated, s) for s in stacks}
    assert {s for s in stacks if after[s].digest != before[s].digest} == {"stacks/computed"}

    remote.commit({"templates/motd.tpl": "Changed\n"})
    motd = _build(tmp_path, remote.url, "motd")
    changed = {s for s in stacks if module_inputs(motd, s).digest != after[s].digest}
    assert changed == {"stacks/app", "stacks/default", "stacks/computed"}

    remote.commit({"shared/real.tpl": "Changed\n"})  # read through the symlink templates/link.tpl
    real = _build(tmp_path, remote.url, "real")
    assert module_inputs(real, "stacks/link").digest != module_inputs(motd, "stacks/link").digest

    remote.commit({"stacks/calls-template/t.tpl": '${file("../../README.md")}\n'})
    template = _build(tmp_path, remote.url, "template")
    assert "the template calls file() itself" in module_inputs(template, "stacks/calls-template").widened[0]


def test_built_artifact_extracts_with_the_one_safe_extraction(git_file_remote, tmp_path):
    remote = git_file_remote()
    remote.commit(TREE, symlinks={"infra/app/link": "main.tf"})
    artifact = _build(tmp_path, remote.url, "x")
    dest = tmp_path / "out"
    extract_artifact(artifact, dest)
    assert (dest / "infra/app/main.tf").read_text() == APP
    assert (dest / "infra/app/link").is_symlink()


def test_extract_archive_refuses_path_traversal(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(MaliciousArtifactError):
        extract_artifact(evil, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
