"""spec.runnerPod: defaults, Kubernetes-shaped fields passed through, and what the controller refuses."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.errors import SpecError
from tfcontroller.api.runner_pod import RUNNER_SERVICE_ACCOUNT, reserved_key
from tfcontroller.api.terraform import Terraform


def _tf(runner_pod: Any) -> Terraform:
    spec: dict[str, Any] = {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "interval": "1m"}
    if runner_pod is not None:
        spec["runnerPod"] = runner_pod
    return Terraform.from_dict({"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
                                "metadata": {"name": "app", "namespace": "team-a"}, "spec": spec})


def test_defaults_without_runner_pod() -> None:
    pod = _tf(None).spec.runner_pod
    assert pod.service_account_name == RUNNER_SERVICE_ACCOUNT
    assert pod.image == "" and pod.env == () and pod.labels == {}


def test_kubernetes_fields_pass_through_unchanged() -> None:
    spec = {
        "serviceAccountName": "team-a-runner", "image": "registry/tf:1",
        "resources": {"limits": {"memory": "1Gi", "cpu": 2}},
        "nodeSelector": {"pool": "runners"},
        "tolerations": [{"key": "runners", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
        "labels": {"team": "a"}, "annotations": {"example.com/cost": "x"},
        "securityContext": {"runAsUser": 1000},
        "volumes": [{"name": "ca", "configMap": {"name": "ca-bundle"}}],
        "volumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/private-ca", "readOnly": True}],
        "env": [{"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "aws", "key": "secret"}}}],
        "envFrom": [{"secretRef": {"name": "aws"}}],
        "terminationGracePeriodSeconds": 120,
    }
    pod = _tf(spec).spec.runner_pod
    assert pod.service_account_name == "team-a-runner" and pod.image == "registry/tf:1"
    assert pod.resources == spec["resources"] and pod.affinity == spec["affinity"]
    assert pod.env[0]["valueFrom"] == {"secretKeyRef": {"name": "aws", "key": "secret"}}  # a reference, kept
    assert pod.env_from == ({"secretRef": {"name": "aws"}},)
    assert pod.volumes[0]["configMap"] == {"name": "ca-bundle"} and pod.termination_grace_period_seconds == 120


@pytest.mark.parametrize("key", ["tfcontroller.io/run-id", "tfcontroller.io/terraform", "tfcontroller.io/anything",
                                 "app.kubernetes.io/managed-by"])
@pytest.mark.parametrize("field", ["labels", "annotations"])
def test_our_labels_and_annotations_cannot_be_overridden(field: str, key: str) -> None:
    with pytest.raises(SpecError) as err:
        _tf({field: {key: "x"}})
    assert f"spec.runnerPod.{field}.{key}" in str(err.value) and "cannot be overridden" in str(err.value)


@pytest.mark.parametrize(("spec", "where"), [
    ({"serviceAccountName": "Not_A_Name"}, "spec.runnerPod.serviceAccountName"),
    ({"terminationGracePeriodSeconds": -1}, "spec.runnerPod.terminationGracePeriodSeconds"),
    ({"terminationGracePeriodSeconds": "30"}, "spec.runnerPod.terminationGracePeriodSeconds"),
    ({"volumes": [{"name": "tfcontroller-run", "emptyDir": {}}]}, "spec.runnerPod.volumes[0].name"),
    ({"volumes": [{"name": "a", "emptyDir": {}}, {"name": "a", "emptyDir": {}}]}, "spec.runnerPod.volumes[1].name"),
    ({"volumeMounts": [{"name": "a", "mountPath": "/var/run/tfcontroller/run"}]},
     "spec.runnerPod.volumeMounts[0].mountPath"),
    ({"volumeMounts": [{"name": "a", "mountPath": "/var/run"}]}, "spec.runnerPod.volumeMounts[0].mountPath"),
    ({"volumeMounts": [{"name": "a", "mountPath": "relative"}]}, "spec.runnerPod.volumeMounts[0].mountPath"),
    ({"labels": {"team": 1}}, "spec.runnerPod.labels.team"),
    ({"env": [{"value": "x"}]}, "spec.runnerPod.env[0].name"),
    ({"tolerations": ["x"]}, "spec.runnerPod.tolerations[0]"),
    ("not an object", "spec.runnerPod"),
])
def test_refusals_name_the_field(spec: Any, where: str) -> None:
    with pytest.raises(SpecError) as err:
        _tf(spec)
    assert where in str(err.value)


def test_reserved_key_is_exactly_ours() -> None:
    assert reserved_key("tfcontroller.io/x") and not reserved_key("example.com/tfcontroller.io")
    assert not reserved_key("app.kubernetes.io/name")
