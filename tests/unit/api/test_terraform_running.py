"""The typed view of issue 20's running fields: targets, replace (and the one-shot annotation),
parallelism, planOnly, remediation.retries — defaults, values, and several bad inputs of each kind refused
with the field named (a SpecError stalls: retrying cannot help)."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_REPLACE
from tfcontroller.api.errors import SpecError
from tfcontroller.api.terraform import PlanOptions, Terraform


def tf(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
            "metadata": {"name": "web", "namespace": "infra", "annotations": annotations or {}},
            "spec": {"sourceRef": {"name": "repo"}, "interval": "5m", **spec}}


def test_defaults_run_as_before() -> None:
    spec = Terraform.from_dict(tf()).spec
    assert (spec.targets, spec.replace, spec.parallelism, spec.plan_only, spec.remediation.retries) == \
        ((), (), 0, False, None)


def test_values_are_read() -> None:
    spec = Terraform.from_dict(tf(targets=["module.net", "a.b"], replace=['a.b["x"]'], parallelism=3,
                                  planOnly=True, remediation={"retries": 0})).spec
    assert spec.targets == ("module.net", "a.b") and spec.replace == ('a.b["x"]',)
    assert (spec.parallelism, spec.plan_only, spec.remediation.retries) == (3, True, 0)
    assert PlanOptions(spec.targets, spec.replace, spec.parallelism).parallelism == 3


@pytest.mark.parametrize(("spec", "field"), [
    ({"targets": ["-destroy"]}, "spec.targets[0]"),
    ({"targets": ["a.b", "a.b"]}, "spec.targets[1]"),
    ({"targets": ["a.b", "not an address"]}, "spec.targets[1]"),
    ({"targets": [f"a.b{i}" for i in range(101)]}, "spec.targets"),
    ({"replace": ["module.app"]}, "spec.replace[0]"),
    ({"replace": ["data.aws_ami.x"]}, "spec.replace[0]"),
    ({"replace": ["a.b\n-auto-approve"]}, "spec.replace[0]"),
    ({"parallelism": 0}, "spec.parallelism"),
    ({"parallelism": 257}, "spec.parallelism"),
    ({"parallelism": "4"}, "spec.parallelism"),
    ({"parallelism": True}, "spec.parallelism"),
    ({"remediation": {"retries": -1}}, "spec.remediation.retries"),
    ({"remediation": {"retries": 1.5}}, "spec.remediation.retries"),
    ({"remediation": {"retries": 1001}}, "spec.remediation.retries"),
])
def test_bad_values_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        Terraform.from_dict(tf(**spec))
    assert info.value.field == field


def test_the_replace_annotation_is_read_and_checked() -> None:
    assert Terraform.from_dict(tf({ANNOTATION_REPLACE: 'a.b[0], c.d["k"],a.b[0]'})).replace_requested == \
        ("a.b[0]", 'c.d["k"]')
    assert Terraform.from_dict(tf()).replace_requested == ()
    for bad in ("module.app", "-lock=false", "a.b,data.x.y"):
        with pytest.raises(SpecError) as info:
            _ = Terraform.from_dict(tf({ANNOTATION_REPLACE: bad})).replace_requested
        assert ANNOTATION_REPLACE in info.value.field


# review of issue 20, finding 9: a plan-only stack is never applied, a destroy on deletion included


@pytest.mark.parametrize("extra", [{}, {"destroy": True}, {"approvePlan": "auto"},
                                   {"driftDetection": {"interval": "10m"}}])
def test_plan_only_with_destroy_on_deletion_is_refused_naming_both_fields(extra: dict[str, Any]) -> None:
    with pytest.raises(SpecError) as err:
        Terraform.from_dict(tf(planOnly=True, destroyResourcesOnDeletion=True, **extra))
    assert err.value.field == "spec.destroyResourcesOnDeletion"
    assert "spec.planOnly" in str(err.value) and "remove destroyResourcesOnDeletion" in str(err.value)
    assert err.value.reason == c.SPEC_INVALID  # SpecValidationFailed: Stalled, no retry loop


@pytest.mark.parametrize(("plan_only", "on_deletion"), [(True, False), (False, True), (False, False),
                                                        (True, None), (None, True)])
def test_either_field_alone_is_accepted(plan_only: bool | None, on_deletion: bool | None) -> None:
    fields = {k: v for k, v in (("planOnly", plan_only), ("destroyResourcesOnDeletion", on_deletion))
              if v is not None}
    spec = Terraform.from_dict(tf(**fields)).spec
    assert (spec.plan_only, spec.destroy_resources_on_deletion) == (bool(plan_only), bool(on_deletion))


def test_the_crd_carries_the_same_rule() -> None:
    from pathlib import Path

    import yaml

    crd = yaml.safe_load((Path(__file__).parents[3] / "crds" / "terraforms.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = [v["rule"] for v in spec.get("x-kubernetes-validations", [])]
    assert any("self.planOnly" in r and "self.destroyResourcesOnDeletion" in r for r in rules)


# destroy + replace (issue 21, the Terraform fuzz): Terraform allows -replace only in normal planning mode, so
# the pair failed every plan (TerraformFailed, re-planned every backoff); it is refused before any run, from
# the spec and from the annotation, and each field alone (or an empty list) stays accepted.
@pytest.mark.parametrize("replace", [["terraform_data.this"], ["a.b", 'c.d["k"]'], ["module.m.x.y[0]"]])
def test_destroy_with_spec_replace_is_refused_naming_the_field(replace: list[str]) -> None:
    with pytest.raises(SpecError) as err:
        Terraform.from_dict(tf(destroy=True, replace=replace))
    assert err.value.field == "spec.replace"
    assert "spec.destroy" in str(err.value) and "normal planning mode" in str(err.value)


@pytest.mark.parametrize("value", ["terraform_data.this", "a.b,c.d@2", 'x.y["k"]@now'])
def test_destroy_with_the_replace_annotation_is_refused_naming_it(value: str) -> None:
    obj = Terraform.from_dict(tf({ANNOTATION_REPLACE: value}, destroy=True))  # the spec itself is fine
    with pytest.raises(SpecError) as err:
        _ = obj.replace_requested
    assert ANNOTATION_REPLACE in err.value.field


@pytest.mark.parametrize(("destroy", "replace", "annotation"), [
    (True, [], ""), (True, None, ""), (False, ["a.b"], "c.d"), (None, ["a.b"], ""),
])
def test_destroy_or_replace_alone_is_accepted(destroy: bool | None, replace: list[str] | None,
                                              annotation: str) -> None:
    fields = {k: v for k, v in (("destroy", destroy), ("replace", replace)) if v is not None}
    obj = Terraform.from_dict(tf({ANNOTATION_REPLACE: annotation} if annotation else None, **fields))
    assert obj.replace_requested == (tuple(annotation.split(",")) if annotation else ())


def test_the_crd_refuses_destroy_with_replace() -> None:
    from pathlib import Path

    import yaml

    crd = yaml.safe_load((Path(__file__).parents[3] / "crds" / "terraforms.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = [v["rule"] for v in spec.get("x-kubernetes-validations", [])]
    assert any("self.destroy" in r and "self.replace" in r for r in rules)
