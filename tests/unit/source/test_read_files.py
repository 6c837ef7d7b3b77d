"""`source.artifact.read_files` (spec.tfVarsFiles before a run) on real gzip tarballs: regular files by
artifact-relative name, links followed while they stay inside the artifact, anything else absent; and
`module_reads.var_file_names`, the variables such files set (all of them when one cannot be parsed)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from tfcontroller.source.artifact import read_files
from tfcontroller.source.module_reads import ANY_VARIABLE, var_file_names


def _tar(path: Path, files: dict[str, bytes], links: dict[str, str], dirs: tuple[str, ...] = ()) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def test_files_and_links_inside_only(tmp_path: Path) -> None:
    tar = _tar(tmp_path / "a.tar.gz", {"infra/app/prod.tfvars": b"a = 1", "infra/common.tfvars.json": b"{}"},
               {"infra/app/common.tfvars.json": "../common.tfvars.json", "infra/app/chain.tfvars": "prod.tfvars",
                "infra/app/out.tfvars": "../../../etc/passwd", "infra/app/abs.tfvars": "/etc/passwd",
                "infra/app/loop.tfvars": "loop.tfvars"}, dirs=("infra/app/dir.tfvars",))
    names = ["infra/app/prod.tfvars", "infra/app/common.tfvars.json", "infra/app/chain.tfvars",
             "infra/app/out.tfvars", "infra/app/abs.tfvars", "infra/app/loop.tfvars", "infra/app/dir.tfvars",
             "infra/app/missing.tfvars"]
    assert read_files(tar, names) == {"infra/app/prod.tfvars": b"a = 1", "infra/app/common.tfvars.json": b"{}",
                                      "infra/app/chain.tfvars": b"a = 1"}


def test_var_file_names() -> None:
    assert var_file_names({"a.tfvars": 'region = "eu"\nsize = 3\n', "b.tfvars.json": '{"tags": {"a": "b"}}'}) == {
        "region", "size", "tags"}
    assert var_file_names({"a.tfvars": "region = "}) == {ANY_VARIABLE}
    assert var_file_names({"a.tfvars.json": "[1]"}) == {ANY_VARIABLE}
    assert var_file_names({}) == set()
