"""Pure parts of the tour: the commands it prints for exploring (issue 13, point 16: they must work as
printed, so `tfcontroller` comes with the virtualenv's activation and every path is absolute), the work dir
clean-up that keeps the user's repository (point 19), and the tour's commit, which must change the module
on every run over the same repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT
from tfcontroller.dev.demo.services import DemoError
from tfcontroller.dev.demo.tour import clear_workdir, explore_commands, toggle_owner


def test_explore_commands_activate_the_virtualenv_first_and_use_absolute_paths() -> None:
    cmds = explore_commands(Path("/w/.demo"), prefix="/w/.venv", base_prefix="/usr")
    assert cmds[0] == "source /w/.venv/bin/activate"
    assert cmds[1] == "export KUBECONFIG=/w/.demo/kubeconfig"
    assert any(c.startswith("tfcontroller ") for c in cmds)
    assert "kubectl get pods -n default" in cmds  # the runner Pods of --runner=pod
    for c in cmds:
        for word in c.split():
            assert not word.startswith(".demo"), c


def test_outside_a_virtualenv_nothing_is_activated() -> None:
    cmds = explore_commands(Path("/w/.demo"), prefix="/usr", base_prefix="/usr")
    assert not any(c.startswith("source ") for c in cmds)


def test_clear_workdir_keeps_only_the_users_repository(tmp_path: Path) -> None:
    for name in ("checkout", "checkout.backup-20260101-000000", "git", "terraform", "mail"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text("x")
    (tmp_path / "kubeconfig").write_text("x")
    (tmp_path / "controller.log").write_text("x")
    clear_workdir(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkout", "checkout.backup-20260101-000000"]
    assert (tmp_path / "checkout" / "f").read_text() == "x"


def test_clear_workdir_creates_a_missing_one(tmp_path: Path) -> None:
    clear_workdir(tmp_path / "new")
    assert (tmp_path / "new").is_dir()


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_tour_commit_changes_the_owner_each_time(tmp_path: Path, stack: str) -> None:
    main_tf = tmp_path / "main.tf"
    original = (REPO_ROOT / f"examples/infrastructure/terraform/aws/{stack}/main.tf").read_text()
    main_tf.write_text(original)
    assert toggle_owner(main_tf) == "platform-dev"
    first = main_tf.read_text()
    assert first != original and 'default     = "platform-dev"' in first
    assert 'default     = "sample-app"' in first  # only the owner's default changed
    assert toggle_owner(main_tf) == "platform"
    assert main_tf.read_text() == original


def test_the_tour_commit_names_a_module_without_an_owner(tmp_path: Path) -> None:
    main_tf = tmp_path / "main.tf"
    main_tf.write_text('variable "name" {\n  default = "x"\n}\n')
    with pytest.raises(DemoError, match="owner"):
        toggle_owner(main_tf)
