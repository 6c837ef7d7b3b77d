"""Relative paths given to the controller are made absolute once, against its own working directory
(review s19, finding 6): Terraform runs in the module's directory, so a relative `--terraform-binary`,
plugin mirror or plugin cache would name something else there. A bare binary name is still looked up
on PATH. (A relative `--terraform-work-dir`: tests/integration/terraform/test_saved_plan_vars.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tfcontroller.terraform.config import ENV_BINARY, ENV_PLUGIN_CACHE, ENV_PLUGIN_MIRROR, TerraformConfig


@pytest.mark.parametrize("given", ["bin/terraform", "./terraform", "../x/terraform", "a/../tf"])
def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    monkeypatch.chdir(tmp_path)
    config = TerraformConfig.from_env({}, binary=given, plugin_mirror_dir=given + "-mirror",
                                      plugin_cache_dir=given + "-cache")
    assert config.binary == os.path.normpath(tmp_path / given)
    assert config.plugin_mirror_dir == Path(os.path.normpath(tmp_path / (given + "-mirror")))
    assert config.plugin_cache_dir == Path(os.path.normpath(tmp_path / (given + "-cache")))
    cli = config.cli_config()
    assert all(os.path.isabs(m["path"]) for m in cli["provider_installation"][0]["filesystem_mirror"])
    assert os.path.isabs(cli["plugin_cache_dir"])


def test_the_environment_is_resolved_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = TerraformConfig.from_env({ENV_BINARY: "tools/terraform", ENV_PLUGIN_MIRROR: "mirror",
                                       ENV_PLUGIN_CACHE: "cache"})
    assert (config.binary, config.plugin_mirror_dir, config.plugin_cache_dir) == \
        (str(tmp_path / "tools/terraform"), tmp_path / "mirror", tmp_path / "cache")


def test_a_bare_name_and_absolute_paths_are_kept(tmp_path: Path) -> None:
    config = TerraformConfig.from_env({}, binary="terraform", plugin_mirror_dir=tmp_path / "m")
    assert (config.binary, config.plugin_mirror_dir) == ("terraform", tmp_path / "m")
