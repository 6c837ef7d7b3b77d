"""The pure part of tfcontroller.controllers.terraform.inputs: `resolve_inputs` on an object whose
inputs are all inline (vars and env as written, later wins, no Secret or ConfigMap read, the sealing key
never asked for, values kept out of repr). The typing of `varsFrom` strings is tested with
terraform/inputs.py (tests/unit/terraform/test_inputs.py). The reads of Secrets and ConfigMaps run
against the dev cluster in tests/integration/controllers/terraform/test_terraform_inputs.py."""

from __future__ import annotations

from typing import Any

from tfcontroller.api.terraform import Terraform
from tfcontroller.controllers.terraform.inputs import ResolvedInputs, resolve_inputs
from tfcontroller.kube.client import KubeClient


def _tf(**spec: Any) -> Terraform:
    return Terraform.from_dict({
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
        "metadata": {"name": "app", "namespace": "ns", "generation": 1, "uid": "u"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "path": "./", "interval": "1h", **spec},
    })


class _NoCluster(KubeClient):
    """Stands for a cluster that must not be asked: inline inputs read nothing."""

    def __init__(self) -> None:  # no connection at all
        pass

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__"):
            return object.__getattribute__(self, name)
        raise AssertionError(f"inline inputs touched the cluster ({name})")


def test_inline_inputs_need_no_cluster_and_no_key() -> None:
    def no_key() -> bytes:
        raise AssertionError("the sealing key was asked for without a sealed value")

    tf = _tf(vars=[{"name": "greeting", "value": "hi"}, {"name": "count", "value": "2"}],
             env=[{"name": "APP_MODE", "value": "blue"}, {"name": "EMPTY", "value": ""}])
    got = resolve_inputs(_NoCluster(), tf, sealing_key=no_key, variable_types={"count": "number"})
    assert got.variables == {"greeting": "hi", "count": "2"}  # inline values are passed as written
    assert got.env == {"APP_MODE": "blue", "EMPTY": ""}
    assert got.secrets == ()
    assert got.origins == {"greeting": "spec.vars", "count": "spec.vars"}


def test_resolved_inputs_keep_values_out_of_repr() -> None:
    inputs = ResolvedInputs({"password": "hunter2"}, {"TOKEN": "s3cr3t"}, ("hunter2", "s3cr3t"))
    assert "hunter2" not in repr(inputs) and "s3cr3t" not in repr(inputs)
