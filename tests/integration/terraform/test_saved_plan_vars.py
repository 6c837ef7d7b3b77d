"""Applying a saved plan reads the object's variables again, with REAL Terraform (review s19, finding 1).

Terraform 1.10+ does not store an `ephemeral = true` variable in a saved plan: the apply must be given it
again, or it fails ("was set during the plan phase, and so must also be set during the apply phase"). The
object's vars and tfVarsFiles are `-var-file` arguments (not automatic files of the module), so the apply
gets the same arguments as the plan. These tests plan and apply (and destroy) modules with an ephemeral
variable set from the object's vars or from a listed file, and a module with ordinary variables set from
every place a value can come from (the apply must not be refused for repeating them). The apply runs in a
fresh workspace of the same inputs, as after a manual approval or in another runner Pod."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.workspace import LocalBackend, Workspace

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform not on PATH")

EPHEMERAL = """
variable "pw" {
  type      = string
  ephemeral = true
}
variable "size" { type = number }
resource "terraform_data" "x" {
  input = var.size
  lifecycle {
    precondition {
      condition     = var.pw == "s3cret-value"
      error_message = "the ephemeral variable did not arrive with its value"
    }
  }
}
output "size" { value = terraform_data.x.output }
"""
ORDINARY = """
variable "v" { type = string }
variable "only_module" { type = string }
resource "terraform_data" "x" {
  input = [var.v, var.only_module]
}
output "v" { value = terraform_data.x.output }
"""
FILES = {
    "eph/main.tf": EPHEMERAL,
    "eph/zz.auto.tfvars": "size = 1\n",  # the object's values beat it on plan and apply alike
    "eph/listed.tfvars": 'pw = "s3cret-value"\n',
    "ord/main.tf": ORDINARY,
    "ord/terraform.tfvars": 'v = "terraform.tfvars"\nonly_module = "terraform.tfvars"\n',
    "ord/zz.auto.tfvars": 'v = "zz.auto.tfvars"\n',
    "ord/values.auto.tfvars.json": json.dumps({"v": "values.auto.tfvars.json"}),
    "cfg/listed.tfvars.json": json.dumps({"v": "listed"}),
}


@pytest.fixture
def workspaces(make_artifact, tf_config: TerraformConfig, tmp_path: Path) -> Iterator[Callable[..., Workspace]]:
    """A fresh workspace of the artifact per call; calls with the same `state` share one local state."""
    art = make_artifact(FILES)
    made: list[Workspace] = []

    def create(subpath: str, variables: dict[str, Any], var_files: tuple[str, ...] = (),
               state: str = "s") -> Workspace:
        ws = Workspace.create(tmp_path / "runs", art, subpath, config=tf_config,
                              backend=LocalBackend(str(tmp_path / f"{state}.tfstate")),
                              variables=variables, var_files=var_files, secrets=["s3cret-value"])
        made.append(ws)
        return ws

    yield create
    for ws in made:
        ws.cleanup(True)


def plan_then_apply(create: Callable[..., Workspace], *, destroy: bool = False, **inputs: Any) -> dict[str, Any]:
    """Plan in one workspace, apply the saved plan in a fresh one of the same inputs; the outputs."""
    planned = create(**inputs)
    runner = planned.runner()
    runner.init()
    assert runner.plan(planned.plan_path, destroy=destroy).has_changes
    applying = create(**inputs)
    shutil.copyfile(planned.plan_path, applying.plan_path)
    runner = applying.runner()
    runner.init()
    runner.apply(applying.plan_path)
    return {name: out["value"] for name, out in runner.output_json().items()}


@pytest.mark.parametrize("inputs", [
    {"variables": {"pw": "s3cret-value", "size": 3}},  # the object's vars (or varsFrom)
    {"variables": {"size": 3}, "var_files": ("eph/listed.tfvars",)},  # a listed tfVarsFile
], ids=["vars", "tfVarsFiles"])
def test_an_ephemeral_variable_is_set_on_plan_apply_and_destroy(
        workspaces: Callable[..., Workspace], inputs: dict[str, Any]) -> None:
    assert plan_then_apply(workspaces, subpath="eph", **inputs) == {"size": 3}
    assert plan_then_apply(workspaces, subpath="eph", destroy=True, **inputs) == {}


def test_ordinary_variables_from_every_source_still_apply(workspaces: Callable[..., Workspace]) -> None:
    """Terraform refuses a saved-plan apply only when a variable's value differs from the plan's; the same
    files give the same values, whichever file each value comes from."""
    inputs = {"subpath": "ord", "variables": {"only_module": "spec.vars"}, "var_files": ("cfg/listed.tfvars.json",)}
    assert plan_then_apply(workspaces, **inputs) == {"v": ["listed", "spec.vars"]}
    assert plan_then_apply(workspaces, subpath="ord", variables={}, state="other") == \
        {"v": ["zz.auto.tfvars", "terraform.tfvars"]}  # nothing from the object: the module's own files
    assert plan_then_apply(workspaces, destroy=True, **inputs) == {}


@pytest.mark.parametrize("base", ["runs", "./runs", "x/../runs/deeper"])
def test_a_relative_work_dir_plans_and_applies(make_artifact, tf_config: TerraformConfig, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    """`--terraform-work-dir=./work` (review s19, finding 6): the run directory is made absolute, so the
    `-var-file`s and the CLI configuration given to Terraform (which runs in the module's directory) name
    the run's own files."""
    art = make_artifact(FILES)
    monkeypatch.chdir(tmp_path)
    ws = Workspace.create(Path(base), art, "ord", config=tf_config, backend=LocalBackend(str(tmp_path / "s.tfstate")),
                          variables={"only_module": "spec.vars"}, var_files=("cfg/listed.tfvars.json",))
    try:
        assert ws.root.is_absolute() and ws.root.is_relative_to(tmp_path / base.replace("x/../", ""))
        assert all(os.path.isabs(path) for path in ws.var_file_args)
        runner = ws.runner()
        runner.init()
        assert runner.plan(ws.plan_path).has_changes
        runner.apply(ws.plan_path)
        assert runner.output_json()["v"]["value"] == ["listed", "spec.vars"]
    finally:
        ws.cleanup(True)
