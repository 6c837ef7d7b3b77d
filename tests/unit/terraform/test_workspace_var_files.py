"""spec.tfVarsFiles in the run directory (terraform/workspace.py `place_var_files`): each listed file of
the extracted artifact is copied into the module directory under a name Terraform loads as an automatic
variables file, in list order and before our own variables file (so the object's vars/varsFrom win); a
missing file, a directory or a link leading out of the artifact stalls `TfVarsFilesInvalid`; a file the
artifact put at the copy's name is replaced, never written through. Real files and links, no Terraform."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tfcontroller.api.run_files import WORKING_DIR, path_problem
from tfcontroller.terraform.errors import StallingError
from tfcontroller.terraform.workspace import TFVARS_FILE, TFVARS_FILES_INVALID, place_var_files, var_file_name


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    module = src / "infra" / "app"
    module.mkdir(parents=True)
    (module / "prod.tfvars").write_text('region = "eu"\n')
    (src / "infra" / "common.tfvars.json").write_text('{"size": 1}')
    return src, module


def test_copies_in_order_under_names_loaded_before_ours(tmp_path: Path) -> None:
    src, module = _tree(tmp_path)
    place_var_files(src, module, ["infra/common.tfvars.json", "infra/app/prod.tfvars"])
    assert (module / "tfcontroller-000.auto.tfvars.json").read_text() == '{"size": 1}'
    assert (module / "tfcontroller-001.auto.tfvars").read_text() == 'region = "eu"\n'
    # Terraform loads automatic files in lexical order (JSON and HCL in one list): ours come last
    names = [var_file_name(i, n) for i, n in enumerate(["a.tfvars.json", "b.tfvars"] * 6)] + [TFVARS_FILE]
    assert sorted(names) == names
    assert sorted(["terraform.auto.tfvars", "app.auto.tfvars", *names])[-1] == TFVARS_FILE


def test_a_file_the_artifact_put_there_is_replaced_not_followed(tmp_path: Path) -> None:
    src, module = _tree(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, module / "tfcontroller-000.auto.tfvars")
    place_var_files(src, module, ["infra/app/prod.tfvars"])
    assert victim.read_text() == "keep"
    assert not (module / "tfcontroller-000.auto.tfvars").is_symlink()


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
        place_var_files(src, module, ["infra/app/prod.tfvars", rel])
    assert err.value.reason == TFVARS_FILES_INVALID and "spec.tfVarsFiles[1]" in str(err.value)


@pytest.mark.parametrize("index", [0, 7, 123, 1000])
@pytest.mark.parametrize("source", ["a.tfvars", "dir/b.tfvars.json"])
def test_a_file_mapping_cannot_take_the_name_of_a_var_file_copy(index: int, source: str) -> None:
    """Merge of issue 20 I1 and I2: a `fileMappings` entry in workingDir is refused where the controller
    writes (api/run_files.path_problem); the tfVarsFiles copies are such files, whatever their index."""
    assert "spec.tfVarsFiles" in (path_problem(WORKING_DIR, var_file_name(index, source)) or "")
