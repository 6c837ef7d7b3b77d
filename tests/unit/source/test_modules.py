"""Module-call discovery, on `module_reads` (the one implementation; `module_inputs` digests the
directories it reaches): which `module` calls are local directories of the artifact, transitively, from
`.tf` and `.tf.json`, and path normalisation. A file python-hcl2 cannot parse widens the digest instead
of being guessed at."""

from __future__ import annotations

import pytest

from tfcontroller.source.artifact import normalize_path
from tfcontroller.source.errors import InvalidSpecError
from tfcontroller.source.module_reads import module_reads

TF = """
module "a" {
  source = "../a"
  tags   = { x = "}" }
}
module "registry" {
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "4.0.0"
}
module "git" {
  source = "git::https://example.com/x.git//sub"
}
"""


def modules(files: dict[str, dict[str, str]], root: str) -> set[str]:
    found = module_reads(files, root)
    assert not found.unresolved, found.unresolved
    return found.modules


def test_local_calls_from_hcl_and_json_registry_and_git_are_not_followed() -> None:
    assert modules({"infra/app": {"main.tf": TF}}, "infra/app") == {"infra/app", "infra/a"}
    json_call = {"infra/app": {"m.tf.json": '{"module": {"c": {"source": "../c"}}}'}}
    assert modules(json_call, "infra/app") == {"infra/app", "infra/c"}


def test_unparseable_file_widens_instead_of_guessing() -> None:
    broken = 'module "b" {\n  source = "./b"\n  x = ${{{\n}\n'
    assert module_reads({"": {"main.tf": broken}}, "").unresolved
    assert module_reads({"": {"m.tf.json": "not json"}}, "").unresolved


def test_local_module_dirs() -> None:
    sources = ["../a", "./b", "../../modules/c", "registry/x/aws", "../../../outside", "git::x"]
    main = "".join(f'module "m{i}" {{ source = "{s}" }}\n' for i, s in enumerate(sources))
    assert modules({"infra/app": {"main.tf": main}}, "infra/app") == {
        "infra/app", "infra/a", "infra/app/b", "modules/c"}
    assert modules({"": {"main.tf": 'module "m" { source = "./m" }\n'}}, "") == {"", "m"}


def test_calls_are_followed_transitively_with_subdirs_and_evaluated_sources() -> None:
    files = {
        "": {"main.tf": 'module "net" { source = "./modules/net" }\n'
                        'module "remote" { source = "hashicorp/consul/aws" }\n'},
        "modules/net": {"main.tf": 'module "sub" { source = "../sub" }\n'},
        "modules/sub": {"main.tf": 'locals { d = "../leaf" }\nmodule "leaf" { source = "${local.d}" }\n'},
        "modules/leaf": {"main.tf": 'module "deep" { source = "./pkg//inner" }\n'},
        "modules/other": {"main.tf": 'output "x" { value = 1 }\n'},
    }
    assert modules(files, "") == {"", "modules/net", "modules/sub", "modules/leaf", "modules/leaf/pkg"}


def test_call_cycles_end() -> None:
    files = {"a": {"main.tf": 'module "b" { source = "../b" }\n'}, "b": {"main.tf": 'module "a" { source = "../a" }\n'}}
    assert modules(files, "a") == {"a", "b"}


def test_normalize_path() -> None:
    assert normalize_path("./infra/app/") == "infra/app"
    assert normalize_path("") == normalize_path(".") == normalize_path("/") == ""
    assert normalize_path("a/./b/../c") == "a/c"
    with pytest.raises(InvalidSpecError):
        normalize_path("../x")
