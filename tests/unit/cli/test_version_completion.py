"""`version` / `--version` (the installed distribution's version and the API served, text or JSON) and
`completion bash|zsh|fish` (issue 13, point 12). The bash script is sourced in a real `bash` and its
completion function asked, as the shell asks it on Tab, for commands, flags and KIND words."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tfcontroller", *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO_ROOT)


def test_version_flag_and_command() -> None:
    flag = _cli("--version")
    assert flag.returncode == 0, flag.stderr
    assert flag.stdout.splitlines() == [f"tfcontroller {version('tfcontroller')}",
                                        "API: tfcontroller.io/v1alpha1 (GitRepository, Terraform, ManifestSet)"]
    assert _cli("version").stdout == flag.stdout
    doc = json.loads(_cli("version", "-o", "json").stdout)
    assert doc["version"] == version("tfcontroller")
    assert doc["api"] == {"group": "tfcontroller.io", "version": "v1alpha1", "apiVersion": "tfcontroller.io/v1alpha1",
                          "kinds": ["GitRepository", "Terraform", "ManifestSet"]}


BASH_PROBE = """
source "$1"
comp() {
  COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE="${COMP_WORDS[*]}"
  COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _shtab_tfcontroller
  echo "${COMPREPLY[*]}"
}
complete -p tfcontroller
comp tfcontroller ""
comp tfcontroller ve
comp tfcontroller get ""
comp tfcontroller get tf --ou
comp tfcontroller completion ""
comp tfcontroller run --leader
comp tfcontroller seal --na
"""


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    proc = _cli("completion", "bash")
    assert proc.returncode == 0, proc.stderr
    path = tmp_path_factory.mktemp("completion") / "tfcontroller.bash"
    path.write_text(proc.stdout)
    return path


def test_bash_completion_completes_commands_flags_and_kinds(bash_script: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    proc = subprocess.run([bash, "--norc", "--noprofile", "-c", BASH_PROBE, "probe", str(bash_script)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    registered, commands, ve, kinds, output, completion, run, seal = proc.stdout.splitlines()
    assert registered.endswith(" tfcontroller") and "-F _shtab_tfcontroller" in registered
    assert {"get", "approve", "reconcile", "plan", "seal", "outputs", "logs", "version", "completion", "run"} <= set(
        commands.split())
    assert ve.split() == ["version"]
    assert {"terraform", "tf", "gitrepo", "ms", "all"} <= set(kinds.split())
    assert output.split() == ["--output"]
    assert completion.split() == ["bash", "zsh", "fish"]
    assert run.split() == ["--leader-elect"]  # `run`'s flags are declared on demand; completed all the same
    assert seal.split() == ["--name", "--namespace"]  # seal takes -n/--namespace like every command


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "#compdef tfcontroller"), ("fish", "complete -c tfcontroller")])
def test_zsh_and_fish_scripts_name_the_commands(shell: str, marker: str) -> None:
    proc = _cli("completion", shell)
    assert proc.returncode == 0, proc.stderr
    assert marker in proc.stdout
    for command in ("get", "approve", "outputs", "version", "completion"):
        assert command in proc.stdout
    if shutil.which(shell):  # syntax-check where the shell is installed
        check = subprocess.run([shell, "-n"], input=proc.stdout, capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr


def test_unknown_shell_is_a_usage_error() -> None:
    proc = _cli("completion", "tcsh")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
