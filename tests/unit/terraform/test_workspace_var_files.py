"""spec.tfVarsFiles in the run directory (terraform/workspace.py `place_var_files`): each listed file of
the extracted artifact is copied, in list order, into the run's `vars/` directory (outside the module
directory, under names Terraform never loads by itself), and every copy, then the object's own variables
file, becomes a `-var-file=` of every plan, lowest precedence first (`Workspace.var_file_args`,
`runner.plan_args`) — so they beat the module's automatic files whatever those are called. Every source is
read before anything is written; a missing file, a directory or a link leading out of the artifact stalls
`TfVarsFilesInvalid`. Real files and links, no Terraform (tests/integration/terraform/test_var_precedence.py
runs Terraform)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tfcontroller.api.run_files import WORKING_DIR, path_problem
from tfcontroller.terraform.errors import StallingError
from tfcontroller.terraform.runner import plan_args
from tfcontroller.terraform.workspace import TFVARS_FILES_INVALID, place_var_files, var_file_name


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    module = src / "infra" / "app"
    module.mkdir(parents=True)
    (module / "prod.tfvars").write_text('region = "eu"\n')
    (src / "infra" / "common.tfvars.json").write_text('{"size": 1}')
    return src, module


def _vars(tmp_path: Path) -> Path:
    out = tmp_path / "run" / "vars"
    out.mkdir(parents=True)
    return out


def test_copies_in_order_outside_the_module_under_names_terraform_never_loads_itself(tmp_path: Path) -> None:
    src, module = _tree(tmp_path)
    before = sorted(p.name for p in module.iterdir())
    copies = place_var_files(src, _vars(tmp_path), ["infra/common.tfvars.json", "infra/app/prod.tfvars"])
    assert [p.name for p in copies] == ["000-common.tfvars.json", "001-prod.tfvars"]
    assert copies[0].read_text() == '{"size": 1}' and copies[1].read_text() == 'region = "eu"\n'
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in copies)
    assert sorted(p.name for p in module.iterdir()) == before  # nothing added to the module directory
    for i, name in enumerate(["a.tfvars", "dir/b.tfvars.json", "terraform.tfvars", "x.auto.tfvars"]):
        copy = var_file_name(i, name)
        assert not copy.endswith((".auto.tfvars", ".auto.tfvars.json")) or copy.startswith(f"{i:03d}-")
        assert copy != "terraform.tfvars" and copy.startswith(f"{i:03d}-")


def test_a_long_name_still_fits() -> None:
    assert len(var_file_name(1000, "d/" + "x" * 250 + ".tfvars").encode()) <= 255
    assert var_file_name(3, "y" * 250 + ".tfvars.json").endswith(".tfvars.json")


def test_a_copy_never_replaces_a_file_another_entry_names(tmp_path: Path) -> None:
    """Sources are read first: even a source inside the target directory survives to be copied."""
    src, _ = _tree(tmp_path)
    out = src / "vars"
    out.mkdir()
    (out / "001-x.tfvars").write_text("b = 2\n")  # what entry 1 is copied to, and entry 0's... source
    (out / "000-a.tfvars").write_text("a = 1\n")
    copies = place_var_files(src, out, ["vars/001-x.tfvars", "vars/000-a.tfvars"])
    assert [p.read_text() for p in copies] == ["b = 2\n", "a = 1\n"]


@pytest.mark.parametrize(("files", "ours"), [
    ((), "/run/vars/tfcontroller.tfvars.json"),
    (("/run/vars/000-a.tfvars",), "/run/vars/tfcontroller.tfvars.json"),
    (("/run/vars/000-a.tfvars", "/run/vars/001-b.tfvars.json", "/run/vars/002-c d.tfvars"), "/r/t.json"),
])
def test_every_plan_gives_the_files_last_in_order(files: tuple[str, ...], ours: str) -> None:
    paths = (*files, ours)
    for kwargs in ({}, {"destroy": True}, {"refresh_only": True}, {"refresh": False}):
        args = plan_args("/run/plan.tfplan", var_files=paths, **kwargs)
        given = [a for a in args if a.startswith("-var-file=")]
        assert given == [f"-var-file={p}" for p in paths]
        assert args[-len(paths):] == given  # one argument each, after every other option


@pytest.mark.parametrize("bad", ["relative.tfvars", "-var=x", "", "/a\n-destroy"])
def test_a_var_file_that_is_not_an_absolute_path_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="absolute path"):
        plan_args("/run/plan.tfplan", var_files=[bad])


@pytest.mark.parametrize(("make", "rel", "message"), [
    (None, "infra/app/missing.tfvars", "is not a file in the artifact"),
    ("dir", "infra/app/dir.tfvars", "is not a file in the artifact"),
    ("outside", "infra/app/link.tfvars", "leads outside the artifact"),
    ("dangling", "infra/app/link.tfvars", "is not a file in the artifact"),
])
def test_bad_files_stall_naming_the_entry(tmp_path: Path, make: str | None, rel: str, message: str) -> None:
    src, module = _tree(tmp_path)
    if make == "dir":
        (module / "dir.tfvars").mkdir()
    elif make == "outside":
        (tmp_path / "secret.tfvars").write_text("x = 1")
        os.symlink(tmp_path / "secret.tfvars", module / "link.tfvars")
    elif make == "dangling":
        os.symlink("nowhere.tfvars", module / "link.tfvars")
    with pytest.raises(StallingError, match=message) as err:
        place_var_files(src, _vars(tmp_path), ["infra/app/prod.tfvars", rel])
    assert err.value.reason == TFVARS_FILES_INVALID and "spec.tfVarsFiles[1]" in str(err.value)


@pytest.mark.parametrize("index", [0, 7, 123, 1000])
@pytest.mark.parametrize("source", ["a.tfvars", "dir/b.tfvars.json"])
def test_a_file_mapping_cannot_reach_a_var_file_copy(index: int, source: str) -> None:
    """The copies live in the run's vars/, outside both mapping locations: no workingDir or home path can
    name them (`..` is refused), and a mapping with the copy's name is an ordinary file."""
    name = var_file_name(index, source)
    assert path_problem(WORKING_DIR, name) is None
    assert path_problem(WORKING_DIR, f"../../vars/{name}") is not None
