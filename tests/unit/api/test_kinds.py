"""tfcontroller.api.{gitrepository,terraform,manifestset}: parsing specs into dataclasses, resolved
defaults, and SpecError naming the field for every rule (including those the CRD schema cannot express)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.support.paths import REPO_ROOT
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN, plan_id
from tfcontroller.api.errors import SpecError, StallingError
from tfcontroller.api.gitrepository import GitRef, GitRepository
from tfcontroller.api.manifestset import ManifestSet
from tfcontroller.api.refs import KeyRef, ObjectRef, ValuesFrom
from tfcontroller.api.terraform import Terraform, Var

EXAMPLES = REPO_ROOT / "docs" / "api-examples"
PID = plan_id("main", "a" * 40, "b" * 64)


def example(file: str, name: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all((EXAMPLES / file).read_text()):
        if doc and doc["metadata"]["name"] == name:
            return doc
    raise KeyError(name)


def tf(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
            "metadata": {"name": "bucket", "namespace": "infra", "generation": 3},
            "spec": {"sourceRef": {"name": "repo"}, "interval": "5m", **spec}}


def tf_error(**spec: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        Terraform.from_dict(tf(**spec))
    return info.value


def test_manual_example_parses_fully() -> None:
    t = Terraform.from_dict(example("terraform-manual.yaml", "bucket"))
    s = t.spec
    assert (s.interval, s.retry_interval, s.timeout, s.workspace, s.path) == (600, 30, 900, "prod", "terraform/s3-bucket")
    assert not s.auto_approve and s.approve_plan == ""
    assert s.vars[1] == Var("tags", {"team": "platform", "cost-center": 42})
    assert s.vars[4].sealed and s.vars[4].sealed_value == "v1:Zm9vYmFy"
    assert s.vars_from[1] == ValuesFrom("Secret", "bucket-secrets", True, ("replication_token",))
    assert s.env[2].value_from == KeyRef("ConfigMap", "aws-endpoint", "url")
    assert s.write_outputs_to_secret is not None and s.write_outputs_to_secret.outputs == ("bucket_name", "bucket_arn")
    assert s.depends_on == (ObjectRef("Terraform", "queue", "default"),)
    assert s.drift_detection is not None and s.drift_detection.email_to == ("platform-team@example.com",)
    assert s.drift_detection.interval == 1800
    assert t.state_secret_name == "tfstate-prod-bucket-prod"
    assert t.state_lease_name == "lock-tfstate-prod-bucket-prod"
    assert t.plan_secret_name == "tfplan-prod-bucket"


def test_auto_example_and_resolved_defaults() -> None:
    t = Terraform.from_dict(example("terraform-auto.yaml", "queue"))
    assert t.spec.auto_approve
    assert t.spec.secret_suffix == "queue" and t.state_secret_name == "tfstate-default-queue"
    assert t.spec.retry_interval == t.spec.interval == 300
    assert t.spec.drift_detection is not None and t.spec.drift_detection.interval == 300
    assert t.spec.env_from == (ValuesFrom("Secret", "aws-credentials"),)


def test_minimal_terraform_defaults() -> None:
    t = Terraform.from_dict(tf())
    assert (t.spec.path, t.spec.workspace, t.spec.timeout) == (".", "default", 1200)
    assert t.spec.source_ref == ObjectRef("GitRepository", "repo", "infra")
    assert t.meta.key == "infra/bucket" and t.meta.generation == 3


def test_approval_from_spec_and_annotation() -> None:
    """What the apply step passes to policy.decide_approval: spec.approvePlan and the trimmed annotation
    (the rule itself is tested in tests/unit/controllers/terraform/test_policy.py)."""
    obj = tf(approvePlan=PID)
    got = Terraform.from_dict(obj)
    assert (got.spec.approve_plan, got.approval_annotation) == (PID, None)
    other = plan_id("dev", "c" * 40, "d" * 64)
    obj["metadata"]["annotations"] = {ANNOTATION_APPROVE_PLAN: f" {other} "}
    got = Terraform.from_dict(obj)
    assert (got.spec.approve_plan, got.approval_annotation) == (PID, other)
    obj["metadata"]["annotations"] = {ANNOTATION_APPROVE_PLAN: "  "}
    assert Terraform.from_dict(obj).approval_annotation is None
    auto = Terraform.from_dict(tf(approvePlan="auto"))
    assert auto.approval_annotation is None and auto.spec.auto_approve


def test_status_accessors() -> None:
    obj = tf()
    obj["status"] = {"plan": {"pending": PID}}
    assert Terraform.from_dict(obj).pending_plan == PID
    assert Terraform.from_dict(tf()).pending_plan == ""


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"interval": "banana"}, "spec.interval"),
        ({"interval": "0s"}, "spec.interval"),
        ({"interval": None}, "spec.interval"),
        ({"sourceRef": None}, "spec.sourceRef"),
        ({"sourceRef": {"kind": "Bucket", "name": "x"}}, "spec.sourceRef.kind"),
        ({"sourceRef": {"kind": "GitRepository"}}, "spec.sourceRef.name"),
        ({"approvePlan": "yes"}, "spec.approvePlan"),
        ({"workspace": "Prod"}, "spec.workspace"),
        ({"path": "../other"}, "spec.path"),
        ({"path": "/etc"}, "spec.path"),
        ({"path": "a/../../b"}, "spec.path"),
        ({"vars": [{"name": "a", "value": 1, "sealedValue": "x"}]}, "spec.vars[0]"),
        ({"vars": [{"name": "a"}]}, "spec.vars[0]"),
        ({"vars": [{"name": "a", "value": 1}, {"name": "a", "value": 2}]}, "spec.vars[1]"),
        ({"vars": [{"value": 1}]}, "spec.vars[0].name"),
        ({"vars": "x"}, "spec.vars"),
        ({"varsFrom": [{"kind": "Pod", "name": "x"}]}, "spec.varsFrom[0].kind"),
        ({"env": [{"name": "A", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
         "spec.env[0]"),
        ({"env": [{"name": "A", "valueFrom": {}}]}, "spec.env[0].valueFrom"),
        ({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}]},
         "spec.env[0].valueFrom.secretKeyRef.key"),
        ({"env": [{"name": "A", "value": 1}]}, "spec.env[0].value"),
        ({"envFrom": [{"kind": "Secret", "name": "s", "keys": ["a"]}]}, "spec.envFrom[0].keys"),
        ({"backendConfig": {"secretSuffix": "Bad_Suffix"}}, "spec.backendConfig.secretSuffix"),
        ({"writeOutputsToSecret": {}}, "spec.writeOutputsToSecret.name"),
        ({"writeOutputsToSecret": {"name": "o", "outputs": ["ok", "not ok"]}}, "spec.writeOutputsToSecret.outputs[1]"),
        ({"dependsOn": [{"name": "bucket"}]}, "spec.dependsOn[0]"),
        ({"driftDetection": {"email": {"to": []}}}, "spec.driftDetection.email.to"),
        ({"driftDetection": {"email": {"to": ["nobody"]}}}, "spec.driftDetection.email.to[0]"),
        ({"driftDetection": {"interval": "often"}}, "spec.driftDetection.interval"),
        ({"destroy": "yes"}, "spec.destroy"),
        ({"timeout": "1d"}, "spec.timeout"),
    ],
)
def test_terraform_errors_name_the_field(spec: dict[str, Any], field: str) -> None:
    err = tf_error(**spec)
    assert err.field == field
    assert str(err).startswith(f"{field}: ")
    assert isinstance(err, StallingError) and err.reason == "SpecValidationFailed"


def test_null_var_value_is_a_value() -> None:
    assert Terraform.from_dict(tf(vars=[{"name": "a", "value": None}])).spec.vars == (Var("a", None),)


def test_wrong_kind_and_missing_name() -> None:
    obj = tf()
    obj["kind"] = "ManifestSet"
    with pytest.raises(SpecError) as info:
        Terraform.from_dict(obj)
    assert info.value.field == "kind"
    obj = tf()
    del obj["metadata"]["name"]
    with pytest.raises(SpecError) as info:
        Terraform.from_dict(obj)
    assert info.value.field == "metadata.name"


def test_input_not_modified() -> None:
    obj = example("terraform-manual.yaml", "bucket")
    before = copy.deepcopy(obj)
    Terraform.from_dict(obj)
    assert obj == before


def git(**spec: Any) -> dict[str, Any]:
    return {"kind": "GitRepository", "metadata": {"name": "g", "namespace": "n"},
            "spec": {"url": "https://h/r.git", "interval": "1m", **spec}}


def test_git_examples() -> None:
    infra = GitRepository.from_dict(example("gitrepository.yaml", "infra")).spec
    assert infra.ref == GitRef("branch", "main") and infra.secret_ref == "infra-git-credentials"
    assert infra.ignore_patterns == ["/docs/", "*.md"] and infra.transport == "https" and infra.timeout == 60
    modules = GitRepository.from_dict(example("gitrepository.yaml", "modules")).spec
    assert modules.ref == GitRef("semver", ">=1.2.0 <2.0.0") and modules.transport == "ssh" and modules.timeout == 120
    assert GitRepository.from_dict(git()).spec.ref is None
    assert GitRepository.from_dict(git(url="file:///srv/r")).spec.transport == "file"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"url": "ftp://h/r"}, "spec.url"),
        ({"url": None}, "spec.url"),
        ({"interval": "1x"}, "spec.interval"),
        ({"ref": {"branch": "main", "tag": "v1"}}, "spec.ref"),
        ({"ref": {}}, "spec.ref"),
        ({"ref": {"commit": "abc123"}}, "spec.ref.commit"),
        ({"ref": {"name": "main"}}, "spec.ref.name"),
        ({"ref": {"branch": ""}}, "spec.ref.branch"),
        ({"secretRef": {}}, "spec.secretRef.name"),
        ({"suspend": 1}, "spec.suspend"),
    ],
)
def test_git_errors_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        GitRepository.from_dict(git(**spec))
    assert info.value.field == field


def ms(**spec: Any) -> dict[str, Any]:
    return {"kind": "ManifestSet", "metadata": {"name": "app", "namespace": "n"},
            "spec": {"sourceRef": {"name": "r", "namespace": "src"}, "interval": "5m", **spec}}


def test_manifestset_example_and_defaults() -> None:
    m = ManifestSet.from_dict(example("manifestset.yaml", "app")).spec
    assert m.depends_on == (ObjectRef("Terraform", "bucket", "default"),)
    assert m.substitute == {"ENVIRONMENT": "prod", "REPLICAS": "2"}
    assert m.substitute_from[0] == ValuesFrom("Secret", "bucket-outputs")
    assert (m.prune, m.wait, m.timeout, m.path, m.target_namespace) == (True, True, 180, "apps/uploader", "default")
    d = ManifestSet.from_dict(ms()).spec
    assert (d.prune, d.wait, d.force, d.timeout, d.path, d.retry_interval) == (False, False, False, 300, ".", 300)
    assert d.source_ref == ObjectRef("GitRepository", "r", "src")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"dependsOn": [{"kind": "GitRepository", "name": "x"}]}, "spec.dependsOn[0].kind"),
        ({"dependsOn": [{"kind": "ManifestSet", "name": "app"}]}, "spec.dependsOn[0]"),
        ({"substitute": {"BAD-KEY": "x"}}, "spec.substitute.BAD-KEY"),
        ({"substitute": {"N": 2}}, "spec.substitute.N"),
        ({"substituteFrom": [{"kind": "Secret"}]}, "spec.substituteFrom[0].name"),
        ({"targetNamespace": "Not_A_Namespace"}, "spec.targetNamespace"),
        ({"path": "../x"}, "spec.path"),
        ({"sourceRef": None}, "spec.sourceRef"),
    ],
)
def test_manifestset_errors_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        ManifestSet.from_dict(ms(**spec))
    assert info.value.field == field


def test_manifestset_may_depend_on_terraform_of_same_name() -> None:
    assert ManifestSet.from_dict(ms(dependsOn=[{"kind": "Terraform", "name": "app"}])).spec.depends_on
