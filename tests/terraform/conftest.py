"""Helpers for the Terraform library tests: building artifact tarballs and the controller's Terraform
configuration (real terraform from PATH, the provider mirror by its default lookup)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tfcontroller.terraform.config import TerraformConfig, Timeouts


def write_tar(path: Path, files: Mapping[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def make_artifact(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(files: Mapping[str, str]) -> Path:
        return write_tar(tmp_path / f"artifact-{next(counter)}.tar.gz", files)

    return make


@pytest.fixture
def tf_config() -> TerraformConfig:
    return TerraformConfig.from_env(timeouts=Timeouts(grace=5.0))
