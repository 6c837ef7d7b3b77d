"""Admission of `spec.backendConfig.secretSuffix`: the CRD refuses every suffix Terraform's kubernetes
backend would refuse on each run (a `-<number>` ending), with the pattern of api.statenames (one copy of
the rule) and, for real clusters, a CEL rule whose message says why; the dev cluster (no CEL) enforces the
pattern. Suffixes Terraform accepts, and objects whose *name* ends in a number, are admitted."""

from __future__ import annotations

import pytest
import yaml

from tests.fixtures.devcluster import install_crds
from tests.support.paths import REPO_ROOT
from tfcontroller.api.statenames import EXPLICIT_SUFFIX_PATTERN
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError
from tfcontroller.kube.resources import TERRAFORMS

ROOT = REPO_ROOT


def _suffix_schema() -> dict:
    crd = yaml.safe_load((ROOT / "crds" / "terraforms.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec["properties"]["backendConfig"]["properties"]["secretSuffix"]


def test_crd_carries_the_rule_and_says_why() -> None:
    schema = _suffix_schema()
    assert schema["pattern"] == EXPLICIT_SUFFIX_PATTERN
    assert schema["maxLength"] == 63
    rule = schema["x-kubernetes-validations"][0]
    assert "-[0-9]+$" in rule["rule"] and "'-<number>'" in rule["message"] and "Terraform" in rule["message"]
    assert "-<number>" in schema["description"]


def _tf(name: str, suffix: str | None) -> dict:
    spec: dict = {"sourceRef": {"kind": "GitRepository", "name": "src"}, "interval": "1m"}
    if suffix is not None:
        spec["backendConfig"] = {"secretSuffix": suffix}
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


@pytest.mark.parametrize(("suffix", "admitted"), [
    ("sbx-390", False), ("vpc-1", False), ("a-b-2024", False), ("x-007", False), ("a-99999999999999999999", False),
    ("shared", True), ("net-v1", True), ("a-1b", True), ("390", True),
])
def test_admission(kube: KubeClient, suffix: str, admitted: bool) -> None:
    install_crds(kube)
    if admitted:
        kube.create(TERRAFORMS, _tf("t", suffix))
        return
    with pytest.raises(ApiError) as err:
        kube.create(TERRAFORMS, _tf("t", suffix))
    assert err.value.status == 422
    assert "spec.backendConfig.secretSuffix" in str(err.value)


def test_names_ending_in_a_number_are_admitted(kube: KubeClient) -> None:
    install_crds(kube)
    for name in ("vpc-1", "sbx-390", "a-0"):
        kube.create(TERRAFORMS, _tf(name, None))
