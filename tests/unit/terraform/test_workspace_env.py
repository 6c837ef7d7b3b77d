"""tfcontroller.terraform.workspace.build_env selects the run's Terraform workspace with TF_WORKSPACE,
so that every command, `init` included, opens that workspace only (an `init` in the default workspace
followed by `workspace select` left an empty default-workspace state); an object cannot set it itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfcontroller.terraform.errors import StallingError
from tfcontroller.terraform.workspace import build_env, check_env


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


@pytest.mark.parametrize(("env", "why"), [
    ({"TOKEN": "a\0b"}, "NUL byte"), ({"OK": "plain-value", "LAST": "secret\0value"}, "NUL byte"), ({"X": "\0" * 3}, "NUL byte"),
    ({"A=B": "x"}, "invalid environment variable name"), ({"": "x"}, "invalid environment variable name"),
    ({"TF_DATA_DIR": "/x"}, "set by the controller"),
])
def test_check_env_refuses_what_no_process_environment_carries(env: dict[str, str], why: str) -> None:
    """Issue 21 (fuzz): a NUL byte in a value failed the run's start with `ValueError: embedded null byte`,
    retried for ever. The message names the variable, never the value (it may come from a Secret)."""
    with pytest.raises(StallingError) as err:
        check_env(env)
    assert err.value.reason == "EnvInvalid" and why in err.value.message
    assert all(v not in err.value.message for v in env.values() if v.strip("\0"))


def test_check_env_accepts_ordinary_values() -> None:
    check_env({"AWS_REGION": "eu-west-1", "EMPTY": "", "UNICODE": "ünïcødé ✓", "NEWLINES": "a\nb"})
