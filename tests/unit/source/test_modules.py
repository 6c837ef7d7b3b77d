"""Pure helpers of `digest_of`: module sources from `.tf` (python-hcl2, with a regex fallback for
syntax it rejects) and `.tf.json`, which of them are local directories, and path normalisation."""

from __future__ import annotations

import pytest

from tfcontroller.source.artifact import local_module_dirs, module_sources, normalize_path
from tfcontroller.source.errors import InvalidSpecError

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


def test_sources_from_hcl_and_json_and_fallback():
    assert module_sources("main.tf", TF) == [
        "../a",
        "terraform-aws-modules/s3-bucket/aws",
        "git::https://example.com/x.git//sub",
    ]
    broken = 'module "b" {\n  source = "./b"\n  x = ${{{\n}\n'
    assert module_sources("main.tf", broken) == ["./b"]
    assert module_sources("m.tf.json", '{"module": {"c": {"source": "../c"}}}') == ["../c"]
    assert module_sources("m.tf.json", "not json") == []


def test_local_module_dirs():
    sources = ["../a", "./b", "../../modules/c", "registry/x/aws", "../../../outside", "git::x"]
    assert local_module_dirs("infra/app", sources) == ["infra/a", "infra/app/b", "modules/c"]
    assert local_module_dirs("", ["./m"]) == ["m"]


def test_normalize_path():
    assert normalize_path("./infra/app/") == "infra/app"
    assert normalize_path("") == normalize_path(".") == normalize_path("/") == ""
    assert normalize_path("a/./b/../c") == "a/c"
    with pytest.raises(InvalidSpecError):
        normalize_path("../x")
