"""`artifact_relative`: the one normalisation of a path inside an artifact (spec.path), used by the
module digest, the module reads, reading module files from the tarball and resolving the run directory."""

from __future__ import annotations

import pytest

from tfcontroller.api.refs import artifact_relative


@pytest.mark.parametrize(("path", "want"), [
    ("", ""), (".", ""), ("./", ""), ("/", ""), (None, ""), ("  ", ""),
    ("infra/tf", "infra/tf"), ("./infra/tf/", "infra/tf"), ("/infra", "infra"), (" infra ", "infra"),
    ("a/./b/../c", "a/c"), ("a/..", ""), ("a//b", "a/b"), ("..a", "..a"),
])
def test_normalised(path: str | None, want: str) -> None:
    assert artifact_relative(path) == want


@pytest.mark.parametrize("path", ["..", "../", "../x", "a/../..", "./../x", "/../x"])
def test_leaving_the_artifact_is_none(path: str) -> None:
    assert artifact_relative(path) is None


# `unstorable_path` (issue 21, the Terraform fuzz): a path no artifact can hold is refused when the spec is
# parsed, for every field that names one (spec.path of each kind, spec.tfVarsFiles), instead of failing
# every run with `OSError: File name too long`.
@pytest.mark.parametrize("path", ["x" * 256, "a/" + "b" * 300, "ü" * 128, "✓" * 86 + "/main", "a/" * 600,
                                  "x" * 255 + "/" + "y" * 256, "a\0b"])
def test_unstorable_paths_are_named(path: str) -> None:
    from tfcontroller.api.refs import unstorable_path

    assert unstorable_path(path)


@pytest.mark.parametrize("path", [".", "infra/tf", "x" * 255, "ü" * 127, "/".join(["d" * 200] * 5), "a b/ü"])
def test_storable_paths_pass(path: str) -> None:
    from tfcontroller.api.refs import unstorable_path

    assert unstorable_path(path) is None


@pytest.mark.parametrize("kind", ["Terraform", "ManifestSet", "PlanPolicy"])
@pytest.mark.parametrize("path", ["x" * 300, "ok/" + "ü" * 200])
def test_every_kind_refuses_an_unstorable_spec_path(kind: str, path: str) -> None:
    from tfcontroller.api.errors import SpecError
    from tfcontroller.api.manifestset import ManifestSet
    from tfcontroller.api.planpolicy import PlanPolicy
    from tfcontroller.api.terraform import Terraform

    parse = {"Terraform": Terraform.from_dict, "ManifestSet": ManifestSet.from_dict,
             "PlanPolicy": PlanPolicy.from_dict}[kind]
    obj = {"apiVersion": "tfcontroller.io/v1alpha1", "kind": kind, "metadata": {"name": "x", "namespace": "ns"},
           "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "interval": "1m", "path": path}}
    with pytest.raises(SpecError, match="spec.path.*names no directory"):
        parse(obj)


@pytest.mark.parametrize("name", ["x" * 300 + ".tfvars", "d/" + "é" * 130 + ".tfvars.json"])
def test_an_unstorable_tf_vars_file_is_refused(name: str) -> None:
    from tfcontroller.api.errors import SpecError
    from tfcontroller.api.terraform import Terraform

    obj = {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform", "metadata": {"name": "x", "namespace": "ns"},
           "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "interval": "1m", "tfVarsFiles": [name]}}
    with pytest.raises(SpecError, match=r"tfVarsFiles\[0\].*names no file"):
        Terraform.from_dict(obj)
