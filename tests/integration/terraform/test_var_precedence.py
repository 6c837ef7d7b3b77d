"""Where a variable's value comes from, with REAL Terraform (review of issue 20, finding 8): the object's
`spec.tfVarsFiles` (in list order) and then its `vars`/`varsFrom` win over EVERY variables file of the
module — `terraform.tfvars` and `*.auto.tfvars(.json)` whatever their names sort like (`a.`, `values.`,
`zz.`) — on every plan: an ordinary one, a destroy plan and a refresh-only (drift) plan. The module's own
files still set what the object does not, in Terraform's order, and `TF_VAR_*` from env only where nothing
else does. The values are read back from the plan itself (`show -json` variables)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.workspace import LocalBackend, Workspace

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform not on PATH")

MODULE = """
variable "v" { type = string }
variable "only_module" {
  type    = string
  default = "default"
}
variable "from_env" {
  type    = string
  default = "default"
}
variable "w" { type = string }  # set by the object only: a plan without its -var-files has no value
resource "terraform_data" "x" {
  input = [var.v, var.only_module, var.from_env, var.w]
}
"""
FILES = {
    "mod/main.tf": MODULE,
    # the module's own files, each setting v; Terraform loads them in this order: terraform.tfvars, then the
    # automatic files by name (a, values, zz)
    "mod/terraform.tfvars": 'v = "terraform.tfvars"\nonly_module = "terraform.tfvars"\n',
    "mod/a.auto.tfvars": 'v = "a.auto.tfvars"\n',
    "mod/values.auto.tfvars.json": json.dumps({"v": "values.auto.tfvars.json"}),
    "mod/zz.auto.tfvars": 'v = "zz.auto.tfvars"\nonly_module = "zz.auto.tfvars"\n',
    # files the object lists (spec.tfVarsFiles, artifact paths), one outside the module's directory
    "mod/first.tfvars": 'v = "first.tfvars"\n',
    "cfg/second.tfvars.json": json.dumps({"v": "second.tfvars.json"}),
}


@pytest.fixture
def plan_values(make_artifact, tf_config: TerraformConfig, tmp_path: Path) -> Iterator[Callable[..., dict]]:
    art = make_artifact(FILES)
    made: list[Workspace] = []

    def plan(var_files: list[str], variables: dict[str, Any], env: dict[str, str] | None = None,
             **kind: bool) -> dict[str, Any]:
        ws = Workspace.create(tmp_path / "runs", art, "mod", config=tf_config,
                              backend=LocalBackend(str(tmp_path / f"state-{len(made)}.tfstate")),
                              variables={"w": "object", **variables}, env=env or {}, var_files=var_files)
        made.append(ws)
        runner = ws.runner()
        runner.init()
        runner.plan(ws.plan_path, **kind)
        return {k: v["value"] for k, v in runner.show_json(ws.plan_path)["variables"].items()}

    yield plan
    for ws in made:
        ws.cleanup(True)


@pytest.mark.parametrize(("var_files", "variables", "expected"), [
    ([], {}, "zz.auto.tfvars"),  # nothing from the object: Terraform's own order among the module's files
    (["mod/first.tfvars"], {}, "first.tfvars"),  # a listed file beats zz.auto / values.auto
    (["mod/first.tfvars", "cfg/second.tfvars.json"], {}, "second.tfvars.json"),  # later listed wins
    (["cfg/second.tfvars.json", "mod/first.tfvars"], {}, "first.tfvars"),  # ... whatever its kind
    (["mod/first.tfvars", "cfg/second.tfvars.json"], {"v": "spec.vars"}, "spec.vars"),  # vars beat files
    ([], {"v": "spec.vars"}, "spec.vars"),
    (["mod/a.auto.tfvars"], {}, "a.auto.tfvars"),  # a module file listed explicitly takes the listed place
])
def test_the_object_wins_over_every_module_file_in_the_documented_order(
        plan_values: Callable[..., dict], var_files: list[str], variables: dict[str, Any], expected: str) -> None:
    values = plan_values(var_files, variables)
    assert values["v"] == expected
    assert values["only_module"] == "zz.auto.tfvars"  # the module's files still set what the object does not
    assert values["w"] == "object"


@pytest.mark.parametrize("kind", [{"destroy": True}, {"refresh_only": True}, {"refresh": False}])
def test_every_kind_of_plan_reads_the_object_files(plan_values: Callable[..., dict], kind: dict[str, bool]) -> None:
    values = plan_values(["cfg/second.tfvars.json"], {"only_module": "spec.vars"}, **kind)
    assert (values["v"], values["only_module"], values["w"]) == ("second.tfvars.json", "spec.vars", "object")


def test_env_sets_only_what_nothing_else_does(plan_values: Callable[..., dict]) -> None:
    values = plan_values(["mod/first.tfvars"], {},
                         env={"TF_VAR_from_env": "env", "TF_VAR_v": "env", "TF_VAR_only_module": "env"})
    assert (values["from_env"], values["v"], values["only_module"]) == ("env", "first.tfvars", "zz.auto.tfvars")
