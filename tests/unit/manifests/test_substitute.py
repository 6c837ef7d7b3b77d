"""Variable substitution: ${VAR}, defaults, escapes, the opt-out annotation, and missing-variable errors."""

import pytest

from tfcontroller.manifests.substitute import SubstitutionError, substitute_object, substitute_string


def sub(text: str, variables: dict[str, str]) -> str:
    missing: list[str] = []
    out = substitute_string(text, variables, missing)
    assert not missing
    return out


def test_plain_and_default_forms() -> None:
    assert sub("s3://${bucket}/x", {"bucket": "b1"}) == "s3://b1/x"
    assert sub("${region:=us-east-1}", {}) == "us-east-1"
    assert sub("${region:-eu-west-1}", {}) == "eu-west-1"
    assert sub("${region:=us-east-1}", {"region": "ap-south-1"}) == "ap-south-1"
    assert sub("${empty:=}", {}) == ""


def test_escape_leaves_reference() -> None:
    assert sub("$${HOME} and ${a}", {"a": "1"}) == "${HOME} and 1"
    assert sub("$${x:=y}", {}) == "${x:=y}"


def test_missing_variable_names_it_and_the_object() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "${nope}", "b": "${also}"}}
    with pytest.raises(SubstitutionError) as err:
        substitute_object(obj, {})
    assert err.value.missing == ["also", "nope"]
    assert "ConfigMap/cfg" in str(err.value)
    assert "nope" in str(err.value)


def test_walks_nested_strings_only() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"env": [{"name": "Q", "value": "${q}"}]}]}}},
    }
    out = substitute_object(obj, {"q": "https://sqs/queue"})
    assert out["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "https://sqs/queue"
    assert out["spec"]["replicas"] == 2
    assert obj["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "${q}"  # input untouched


def test_disabled_annotation_skips_object() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "raw", "annotations": {"tfcontroller.io/substitute": "disabled"}},
        "data": {"script": "echo ${HOME}"},
    }
    assert substitute_object(obj, {}) == obj
