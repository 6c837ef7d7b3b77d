"""Module inspection with python-hcl2: variables (required/defaulted, type, sensitive), outputs, user
backend and cloud blocks, and missing-variable checks. (Local module calls: tests/unit/source/test_modules.py,
on `module_reads`, the one module-call discovery.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tfcontroller.terraform.errors import MissingVariablesError, StallingError
from tfcontroller.terraform.inspect import (
    ModuleInfo,
    ModuleParseError,
    VariableInfo,
    check_module,
    declared_variables,
    inspect_module,
    missing_required_variables,
    module_info_of,
    sensitive_values,
    undeclared_variables,
)

MAIN = '''
terraform {
  backend "s3" {
    bucket = "b"
  }
}
variable "region" { type = string }
variable "tags" {
  type    = map(string)
  default = {}
}
variable "maybe" {
  type    = string
  default = null
}
variable "password" {
  type      = string
  sensitive = true
}
output "url" { value = "x" }
output "token" {
  value     = var.password
  sensitive = true
}
module "net" { source = "./modules/net" }
module "remote" { source = "hashicorp/consul/aws" }
'''


@pytest.fixture
def module(tmp_path: Path) -> Path:
    (tmp_path / "main.tf").write_text(MAIN)
    (tmp_path / "modules/net").mkdir(parents=True)
    (tmp_path / "modules/net/main.tf").write_text('module "sub" { source = "../sub" }\n')
    (tmp_path / "modules/sub").mkdir()
    (tmp_path / "modules/sub/main.tf").write_text('output "x" { value = 1 }\n')
    (tmp_path / "extra.tf.json").write_text('{"variable": {"json_var": {"type": "number"}}}')
    (tmp_path / "backend_override.tf").write_text('terraform {\n  backend "kubernetes" {}\n}\n')
    return tmp_path


def test_inspect_module(module: Path) -> None:
    info = inspect_module(module)
    assert set(info.variables) == {"region", "tags", "maybe", "password", "json_var"}
    assert info.variables["region"].required and info.variables["region"].type == "string"
    assert not info.variables["tags"].required and info.variables["tags"].type == "map(string)"
    assert not info.variables["maybe"].required  # default = null is a default
    assert info.variables["password"].sensitive and not info.variables["region"].sensitive
    assert info.variables["json_var"].required
    assert info.outputs["token"].sensitive and not info.outputs["url"].sensitive
    assert info.backend == "s3"  # the generated override file is not the user's declaration
    assert not info.has_cloud_block


def test_declarations_sent_to_the_runner_give_it_the_same_types_and_secrets(module: Path) -> None:
    """The controller's reading of the module, handed over in the run request (issue 21), serves the
    runner as its own parse would: the same types to decode referenced values with, and the same values to
    scrub (a sensitive variable given directly, as TF_VAR_, as a list element)."""
    info = inspect_module(module)
    declared = declared_variables(info)
    assert declared is not None and declared_variables(None) is None
    assert declared["tags"].type == "map(string)" and declared["password"].sensitive
    again = module_info_of(declared)
    assert {n: (v.type, v.sensitive) for n, v in again.variables.items()} == \
        {n: (v.type, v.sensitive) for n, v in info.variables.items()}
    for variables, env in [({"password": "hunter2-secret"}, {}), ({}, {"TF_VAR_password": "hunter2-secret"}),
                           ({"password": ["a-long-secret", "b-long-secret"], "region": "eu-west-1"}, {})]:
        assert sensitive_values(again, variables, env) == sensitive_values(info, variables, env)
        assert sensitive_values(again, variables, env)


def test_missing_required_variables(module: Path) -> None:
    info = inspect_module(module)
    assert missing_required_variables(info, ["region"]) == ["json_var", "password"]
    assert missing_required_variables(info, ["region", "json_var"], env={"TF_VAR_password": "x"}) == []
    with pytest.raises(MissingVariablesError) as err:
        check_module(info, ["region"])
    assert err.value.names == ["json_var", "password"]
    assert "json_var, password" in str(err.value)


def test_cloud_block_is_refused(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('terraform {\n  cloud {\n    organization = "o"\n  }\n}\n')
    info = inspect_module(tmp_path)
    assert info.has_cloud_block
    with pytest.raises(StallingError) as err:
        check_module(info, [])
    assert err.value.reason == "CloudBlockUnsupported" and "cloud" in err.value.message


def test_unparsable_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "broken.tf").write_text('resource "x" "y" {\n  a = \n')
    with pytest.raises(ModuleParseError) as err:
        inspect_module(tmp_path)
    assert err.value.location == "broken.tf"


@pytest.mark.parametrize(("given", "want"), [
    (["region", "password"], []),  # declared
    (["region", "regoin"], ["regoin"]),  # a typo
    (["region", "password", "extra_b", "extra_a"], ["extra_a", "extra_b"]),  # sorted
    ([], []),
])
def test_undeclared_variables(tmp_path: Path, given: list[str], want: list[str]) -> None:
    """Values for variables the root module does not declare (Terraform ignores them with a warning)."""
    (tmp_path / "main.tf").write_text(MAIN)
    assert undeclared_variables(inspect_module(tmp_path), given) == want


# The module's own automatic variables files (issue 21, found by the Terraform fuzz): a required variable set
# by `terraform.tfvars` or `*.auto.tfvars(.json)` is provided — the pre-run check stalled such a valid module
# with MissingVariables. A file this parser cannot read may set anything: nothing is reported missing, and
# Terraform judges the file. Files Terraform does not load by itself provide nothing.
REQUIRED = b'variable "a" {\n  type = string\n}\nvariable "b" {\n  type = number\n}\n'


@pytest.mark.parametrize(("files", "missing"), [
    ({"terraform.tfvars": b'a = "x"\nb = 1\n'}, []),
    ({"terraform.tfvars.json": b'{"a": "x", "b": 1}'}, []),
    ({"x.auto.tfvars": b'a = "x"\n', "y.auto.tfvars.json": b'{"b": 2}'}, []),
    ({"x.auto.tfvars": b'a = "x"\n'}, ["b"]),
    ({"prod.tfvars": b'a = "x"\nb = 1\n'}, ["a", "b"]),  # only with -var-file (spec.tfVarsFiles)
    ({"vars.tfvars.json": b'{"a": "x", "b": 1}'}, ["a", "b"]),
    ({"x.auto.tfvars.json": b'{"a": "x"} trailing'}, []),  # unreadable: Terraform judges it
    ({"x.auto.tfvars.json": b"[1]"}, []),
    ({"x.auto.tfvars": b'a = "unterminated\n'}, []),
    ({"terraform.tfvars": b"\xff\xfe"}, []),
    ({}, ["a", "b"]),
])
def test_automatic_variables_files_provide_variables(files: dict[str, bytes], missing: list[str]) -> None:
    from tfcontroller.terraform.inspect import inspect_files

    info = inspect_files({"main.tf": REQUIRED, **files})
    assert missing_required_variables(info, []) == missing


def test_automatic_variables_files_are_read_from_a_directory_too(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_bytes(REQUIRED)
    (tmp_path / "terraform.tfvars").write_text('a = "x"\n')
    (tmp_path / "b.auto.tfvars.json").write_text('{"b": 1}')
    assert missing_required_variables(inspect_module(tmp_path), []) == []


@pytest.mark.parametrize("name", ["päss", "пароль", "db.pass", "a b", "名前"])
def test_a_module_declaring_a_name_the_protocol_cannot_carry_sends_no_declarations(tmp_path: Path, name: str) -> None:
    """Terraform accepts `variable "päss"`; the run request's check would refuse it, so the controller sends
    no declarations at all (the runner parses the module itself, as before) instead of every run failing."""
    info = ModuleInfo({"region": VariableInfo(required=False, type="string"),
                       name: VariableInfo(required=False, sensitive=True)})
    assert declared_variables(info) is None
    assert declared_variables(ModuleInfo({"region": VariableInfo(required=False), "a-b_2": VariableInfo(
        required=False)})) is not None
