"""tfcontroller.terraform.workspace.build_env selects the run's Terraform workspace with TF_WORKSPACE,
so that every command, `init` included, opens that workspace only (an `init` in the default workspace
followed by `workspace select` left an empty default-workspace state); an object cannot set it itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfcontroller.terraform.errors import StallingError
from tfcontroller.terraform.workspace import build_env


def _env(tmp_path: Path, **kwargs) -> dict[str, str]:
    return build_env(kwargs.pop("user", {}), home=tmp_path, tmp=tmp_path, data_dir=tmp_path, cli_config=tmp_path,
                     controller_env={"TF_WORKSPACE": "from-controller"}, **kwargs)


@pytest.mark.parametrize("workspace", ["default", "myworkspace", "a-b"])
def test_workspace_is_tf_workspace(tmp_path: Path, workspace: str) -> None:
    assert _env(tmp_path, workspace=workspace)["TF_WORKSPACE"] == workspace


def test_no_workspace_no_variable_and_never_the_controllers(tmp_path: Path) -> None:
    assert "TF_WORKSPACE" not in _env(tmp_path)
    with pytest.raises(StallingError):
        _env(tmp_path, user={"TF_WORKSPACE": "other"}, workspace="mine")


def test_git_never_prompts_unless_the_object_says_otherwise(tmp_path: Path) -> None:
    """A private module source without credentials fails at once instead of waiting for a user name."""
    assert _env(tmp_path)["GIT_TERMINAL_PROMPT"] == "0"
    assert _env(tmp_path, user={"GIT_TERMINAL_PROMPT": "1"})["GIT_TERMINAL_PROMPT"] == "1"
