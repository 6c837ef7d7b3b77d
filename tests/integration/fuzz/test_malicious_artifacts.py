"""Malicious artifacts against the Terraform controller on the dev cluster (issue 21): a tar bomb (300
files of a MiB of zeros, a few hundred KiB of gzip), a 2 GiB file (its gzip is a few MiB: the zeros are
one compressed block repeated, as gzip allows), a symlink out of the tree, a `..` path and a module with
10,000 files are each refused with Ready=False, Stalled and a reason that says what is wrong
(`ArtifactTooLarge` naming spec.ignore, `ArtifactRejected` naming the member), never applied; meanwhile
the controller's work directory never holds more than the artifact byte bound (sampled while the
reconciles run), and a refused run leaves nothing of that size behind."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.fuzz_runs import PeakSampler, disk_usage
from tests.support.terraform_helpers import SIMPLE_TF, Harness, condition
from tfcontroller.api.constants import ARTIFACT_MAX_BYTES

pytestmark = pytest.mark.slow
MAIN = SIMPLE_TF.encode()


def _member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple[tarfile.TarInfo,
                                                                                                    bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname, info.mode = kind, len(data), link, 0o644
    return info, data


def plain_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def huge_file_tar(path: Path, size: int) -> Path:
    """main.tf and `big.bin` of `size` zero bytes, written as concatenated gzip members (one 64 MiB block
    of zeros compressed once and repeated): building it costs one compression, not `size` bytes of one."""
    block = 64 << 20
    assert size % block == 0
    head = io.BytesIO()
    with tarfile.open(fileobj=head, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_member("main.tf", MAIN)[0], io.BytesIO(MAIN))
        info = tarfile.TarInfo("big.bin")
        info.size = size
        tar.addfile(info)  # header only: its content follows in the gzip members below
        header = head.getvalue()
    header = header[: header.rfind(info.tobuf(tarfile.GNU_FORMAT)) + 512]
    zeros = gzip.compress(b"\0" * block, compresslevel=1, mtime=0)
    with open(path, "wb") as out:
        out.write(gzip.compress(header, mtime=0))
        for _ in range(size // block):
            out.write(zeros)
        out.write(gzip.compress(b"\0" * 1024, mtime=0))  # end of archive
    return path


CASES: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    "tar-bomb": (lambda p: plain_tar(p, [_member("main.tf", MAIN)] +
                                     [_member(f"z/{i}.bin", b"\0" * (1 << 20)) for i in range(300)]),
                 "ArtifactTooLarge", "spec.ignore"),
    "2GiB-file": (lambda p: huge_file_tar(p, 2 << 30), "ArtifactTooLarge", "spec.ignore"),
    "symlink-out": (lambda p: plain_tar(p, [_member("main.tf", MAIN),
                                            _member("passwd.tf", kind=tarfile.SYMTYPE, link="../../../etc/passwd")]),
                    "ArtifactRejected", "passwd.tf"),
    "dotdot-path": (lambda p: plain_tar(p, [_member("main.tf", MAIN), _member("../../escape.tf", b"# x")]),
                    "ArtifactRejected", "escape.tf"),
    "10000-files": (lambda p: plain_tar(p, [_member("main.tf", MAIN)] +
                                        [_member(f"gen/{i}.tf.txt", b"x") for i in range(10_000)]),
                    "ArtifactTooLarge", "spec.ignore"),
}


def test_malicious_artifacts_are_refused_with_clear_reasons(harness: Harness, tmp_path: Path) -> None:
    work = harness.tmp / "work"
    work.mkdir(parents=True, exist_ok=True)
    sampler = PeakSampler(work)
    sampler.start()
    try:
        for i, (case, (build, reason, names)) in enumerate(CASES.items()):
            tarball = build(tmp_path / f"{case}.tar.gz")
            harness.publish_tarball(f"src-{i}", tarball, f"main@sha1:{i:040x}")
            harness.create(f"m-{i}", source=f"src-{i}")
            obj = harness.reconcile_until(
                f"m-{i}", lambda o: (condition(o, "Stalled") or None) and condition(o, "Stalled").status == "True",
                timeout=120, what=f"{case}: Stalled")
            ready = condition(obj, "Ready")
            assert ready is not None and ready.status == "False", case
            assert (ready.reason, names in ready.message) == (reason, True), f"{case}: {ready}"
            assert harness.state(f"m-{i}") is None, f"{case}: something was applied"
            assert disk_usage(work) < 64 << 20, f"{case}: the refused run left {disk_usage(work)} bytes behind"
    finally:
        sampler.done.set()
        sampler.join()
    assert sampler.peak <= ARTIFACT_MAX_BYTES + (64 << 20), f"the work directory reached {sampler.peak} bytes"
