"""Built-in kinds against the real 1.32 schemas (dev/cluster/builtin.py), on plain dicts: the general rule
is "a value the real server's Go types cannot hold is reported with the real decoder's words, for every
built-in kind and every field type" — ints, int32 ranges, floats, strings, bools, nested structs, lists,
maps, int-or-string and quantities — plus unknown fields (dropped, with their paths) and required fields."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tfcontroller.dev.cluster import builtin


def deployment(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "a"}},
        "template": {"metadata": {"labels": {"app": "a"}},
                     "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]}},
    }
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": base}


def container(**fields: Any) -> dict[str, Any]:
    return deployment(template={"spec": {"containers": [{"name": "c", "image": "i", **fields}]}})


def check(obj: dict[str, Any], prune: bool = False) -> builtin.Report:
    group, _, version = obj["apiVersion"].rpartition("/")
    report = builtin.check(group, version, obj["kind"], obj, prune=prune)
    assert report is not None
    return report


def test_valid_objects_of_several_kinds_pass() -> None:
    objs = [
        deployment(),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
         "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}], "selector": {"a": "b"}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"x": "y"}}, "data": {"k": "v"}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
         "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
             {"name": "c", "image": "i", "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": 1}}}]}}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}, "type": "Opaque"},
    ]
    for obj in objs:
        report = check(obj)
        assert (report.types, report.unknown, report.invalid) == ([], [], []), obj["kind"]


@pytest.mark.parametrize(("obj", "decode", "apply"), [
    (deployment(replicas="3"),
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
     ".spec.replicas: expected numeric (int or float), got string"),
    (deployment(replicas=True),
     "json: cannot unmarshal bool into Go struct field DeploymentSpec.spec.replicas of type int32",
     ".spec.replicas: expected numeric (int or float), got bool"),
    (deployment(replicas=2.5),
     "json: cannot unmarshal number 2.5 into Go struct field DeploymentSpec.spec.replicas of type int32", None),
    (deployment(replicas=2**31),
     "json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas of type int32",
     None),
    (container(ports=[{"containerPort": "8080"}]),
     "json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports"
     ".containerPort of type int32",
     '.spec.template.spec.containers[name="c"].ports[containerPort="8080"].containerPort: '
     "expected numeric (int or float), got string"),
    (container(env=[{"name": "A", "value": 3}]),
     "json: cannot unmarshal number into Go struct field EnvVar.spec.template.spec.containers.env.value of type string",
     '.spec.template.spec.containers[name="c"].env[name="A"].value: expected string, '
     "got &value.valueUnstructured{Value:3}"),
    (container(env=[{"name": "A", "value": False}]),
     "json: cannot unmarshal bool into Go struct field EnvVar.spec.template.spec.containers.env.value of type string",
     '.spec.template.spec.containers[name="c"].env[name="A"].value: expected string, '
     "got &value.valueUnstructured{Value:false}"),
    (container(stdin="yes"),
     "json: cannot unmarshal string into Go struct field Container.spec.template.spec.containers.stdin of type bool",
     '.spec.template.spec.containers[name="c"].stdin: expected boolean, got &{yes}'),
    (deployment(selector="app=a"),
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.selector of type v1.LabelSelector",
     ".spec.selector: expected map, got &{app=a}"),
    (deployment(template={"spec": {"containers": {"name": "c"}}}),
     "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container",
     ".spec.template.spec.containers: expected list, got &{map[name:c]}"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"n": 1}}, "data": {"port": 8080}},
     "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
     ".metadata.labels.n: expected string, got &value.valueUnstructured{Value:1}"),
    ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "targetPort": True}]}},
     "json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32", None),
    (container(resources={"limits": {"cpu": "lots"}}), builtin.QUANTITY_FORMAT, None),
    (container(resources={"limits": {"memory": "1Qi"}}), builtin.QUANTITY_FORMAT, None),
    ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
      "spec": {"backoffLimit": "0", "template": {"spec": {"containers": [{"name": "c"}]}}}},
     "json: cannot unmarshal string into Go struct field JobSpec.spec.backoffLimit of type int32",
     ".spec.backoffLimit: expected numeric (int or float), got string"),
])
def test_wrong_types_are_reported_in_the_real_servers_words(obj: dict[str, Any], decode: str, apply: str | None) -> None:
    issues = check(obj).types
    assert issues, obj
    assert issues[0].decode_message() == decode
    assert issues[0].apply_message() == apply


def test_strategic_merge_patch_wording_is_the_unstructured_converters() -> None:
    messages = [builtin.unstructured_message(check(o).types[0]) for o in (
        deployment(replicas="3"), container(env=[{"name": "A", "value": 3}]), deployment(selector="x"),
        deployment(template={"spec": {"containers": "c"}}), deployment(replicas=1.5),
    )]
    assert messages == ["cannot convert string to int32", "cannot convert int64 to string",
                        "cannot restore struct from: string", "cannot restore slice from string",
                        "cannot convert float64 to int32"]


def test_go_v_prints_like_go() -> None:
    assert builtin.go_v({"spec": {"replicas": "3", "b": [1, 2.5, None, True]}}) == "map[spec:map[b:[1 2.5 <nil> true] replicas:3]]"


def test_nulls_are_zero_values_not_errors() -> None:
    report = check(deployment(replicas=None, paused=None))
    assert report.types == [] and report.invalid == []


def test_unknown_fields_are_found_everywhere_and_pruned_on_request() -> None:
    obj = container(imagePullPolicyy="Always")
    obj["spec"]["bogus"] = 1
    obj["spec"]["template"]["metadata"] = {"labels": {"app": "a"}, "extra": True}
    report = check(obj)
    assert report.unknown == ["spec.template.spec.containers[0].imagePullPolicyy", "spec.template.metadata.extra",
                              "spec.bogus"]
    assert report.smd_unknown[0] == '.spec.template.spec.containers[name="c"].imagePullPolicyy'
    assert "bogus" in obj["spec"]  # not pruned without prune=True
    pruned = copy.deepcopy(obj)
    check(pruned, prune=True)
    assert "bogus" not in pruned["spec"] and "imagePullPolicyy" not in pruned["spec"]["template"]["spec"]["containers"][0]


def test_required_fields() -> None:
    obj = deployment()
    del obj["spec"]["selector"]
    obj["spec"]["template"]["spec"]["containers"].append({"image": "x", "ports": [{"protocol": "TCP"}]})
    assert check(obj).invalid == [
        ("spec.template.spec.containers[1].ports[0].containerPort", "Required value", "FieldValueRequired"),
        ("spec.template.spec.containers[1].name", "Required value", "FieldValueRequired"),
        ("spec.selector", "Required value", "FieldValueRequired"),
    ]


def test_custom_kinds_have_no_builtin_schema() -> None:
    assert builtin.check("tfcontroller.io", "v1alpha1", "Terraform", {}) is None
    assert builtin.definition_of("apps", "v1", "Deployment") == "io.k8s.api.apps.v1.Deployment"
