"""Issue 20 input fields of the typed Terraform view (api/terraform.py), on plain dicts: `tfVarsFiles`
(relative to `path`, inside the artifact, variable definitions files only, each once), `vars[].valueFrom`
(exactly one of value / sealedValue / valueFrom; one key of a Secret or ConfigMap) and
`writeOutputsToSecret` renaming, labels and annotations — each bad input refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.errors import SpecError
from tfcontroller.api.refs import KeyRef
from tfcontroller.api.terraform import Terraform, renamed_outputs, tf_vars_file_shown


def _tf(**spec: Any) -> Terraform:
    return Terraform.from_dict({"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
                                "metadata": {"name": "app", "namespace": "team"},
                                "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "interval": "1h",
                                         **spec}})


@pytest.mark.parametrize(("path", "files", "want"), [
    ("infra/app", ["prod.tfvars"], ("infra/app/prod.tfvars",)),
    ("infra/app", ["../common.tfvars.json", "./env/prod.tfvars"], ("infra/common.tfvars.json", "infra/app/env/prod.tfvars")),
    ("./", ["vars/a.tfvars", "vars/b.tfvars"], ("vars/a.tfvars", "vars/b.tfvars")),
    ("infra", ["../top.tfvars"], ("top.tfvars",)),  # the artifact's root is still inside
    ("infra/app", [], ()),
])
def test_tfvars_files_are_artifact_relative_in_order(path: str, files: list[str], want: tuple[str, ...]) -> None:
    assert _tf(path=path, tfVarsFiles=files).spec.tf_vars_files == want


@pytest.mark.parametrize(("path", "files", "want"), [
    ("infra/app", ["prod.tfvars"], ["'prod.tfvars' (artifact path 'infra/app/prod.tfvars')"]),
    ("infra/app", ["./env/../env/prod.tfvars"], ["'env/prod.tfvars' (artifact path 'infra/app/env/prod.tfvars')"]),
    ("infra/app", ["../common.tfvars.json"], ["'../common.tfvars.json' (artifact path 'infra/common.tfvars.json')"]),
    ("infra", ["../top.tfvars"], ["'../top.tfvars' (artifact path 'top.tfvars')"]),
    ("./", ["vars/a.tfvars"], ["'vars/a.tfvars'"]),  # at the root both spellings are one: shown once
    (".", ["./a.tfvars"], ["'a.tfvars'"]),
])
def test_a_var_file_is_named_as_written_relative_to_spec_path(path: str, files: list[str], want: list[str]) -> None:
    """Messages that say "relative to spec.path" show that spelling first (TfVarsFilesInvalid once printed
    only the artifact path)."""
    spec = _tf(path=path, tfVarsFiles=files).spec
    assert [tf_vars_file_shown(f, spec.path) for f in spec.tf_vars_files] == want


@pytest.mark.parametrize(("path", "files", "message"), [
    ("infra/app", ["/etc/passwd.tfvars"], "relative to spec.path"),
    ("infra/app", ["..\\secrets.tfvars"], "relative to spec.path"),
    ("infra/app", ["../../../outside.tfvars"], "leaves the artifact"),
    ("./", ["../x.tfvars"], "leaves the artifact"),
    ("infra/app", ["main.tf"], "not a variable definitions file"),
    ("infra/app", ["prod.tfvars.yaml"], "not a variable definitions file"),
    ("infra/app", ["dir/.tfvars"], "not a variable definitions file"),
    ("infra/app", ["a.tfvars", "./a.tfvars"], "listed twice"),
    ("infra/app", [""], "non-empty string"),
    ("infra/app", [3], "non-empty string"),
])
def test_bad_tfvars_files_name_the_entry(path: str, files: list[Any], message: str) -> None:
    with pytest.raises(SpecError, match=message) as err:
        _tf(path=path, tfVarsFiles=files)
    assert "spec.tfVarsFiles[" in str(err.value)


def test_vars_value_from_secret_or_configmap() -> None:
    spec = _tf(vars=[
        {"name": "token", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "api.token"}}},
        {"name": "port", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "port", "optional": True}}},
        {"name": "plain", "value": None},
    ]).spec
    assert spec.vars[0].value_from == KeyRef("Secret", "creds", "api.token", False)
    assert spec.vars[1].value_from == KeyRef("ConfigMap", "settings", "port", True)
    assert [v.literal for v in spec.vars] == [False, False, True]


@pytest.mark.parametrize(("var", "message"), [
    ({"name": "x"}, "exactly one of: value, sealedValue, valueFrom"),
    ({"name": "x", "value": 1, "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, "found value, valueFrom"),
    ({"name": "x", "sealedValue": "abc", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, "exactly one"),
    ({"name": "x", "valueFrom": {}}, "exactly one of: secretKeyRef, configMapKeyRef"),
    ({"name": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"},
                                 "configMapKeyRef": {"name": "c", "key": "k"}}}, "exactly one"),
    ({"name": "x", "valueFrom": {"secretKeyRef": {"key": "k"}}}, "name: Required value"),
    ({"name": "x", "valueFrom": {"secretKeyRef": {"name": "Bad_Name", "key": "k"}}}, "invalid value"),
    ({"name": "x", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "a/b"}}}, "invalid value 'a/b'"),
    ({"name": "x", "valueFrom": {"configMapKeyRef": {"name": "c"}}}, "key: Required value"),
])
def test_bad_value_from_names_the_field(var: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message) as err:
        _tf(vars=[{"name": "ok", "value": 1}, var])
    assert "spec.vars[1]" in str(err.value)


def test_outputs_renamed_labelled_annotated() -> None:
    w = _tf(writeOutputsToSecret={"name": "out", "outputs": ["vpc_id:network_id", "region", "db-host:db.host"],
                                  "labels": {"team": "net", "example.com/tier": "gold", "empty": ""},
                                  "annotations": {"example.com/note": "any text: even spaces"}}).spec.write_outputs_to_secret
    assert w is not None
    assert w.outputs == ("vpc_id", "region", "db-host")
    assert [w.key_of(n) for n in ("vpc_id", "region", "db-host", "unlisted")] == \
        ["network_id", "region", "db.host", "unlisted"]
    assert dict(w.labels) == {"team": "net", "example.com/tier": "gold", "empty": ""}
    assert dict(w.annotations) == {"example.com/note": "any text: even spaces"}
    every = _tf(writeOutputsToSecret={"name": "out"}).spec.write_outputs_to_secret
    assert every is not None and every.outputs is None and every.keys == () and every.key_of("a") == "a"


@pytest.mark.parametrize(("w", "field", "message"), [
    ({"outputs": ["1bad"]}, "outputs[0]", "invalid output name"),
    ({"outputs": ["ok:bad/key"]}, "outputs[0]", "invalid Secret key"),
    ({"outputs": ["ok:"]}, "outputs[0]", "invalid Secret key"),
    ({"outputs": [":key"]}, "outputs[0]", "invalid output name"),
    ({"outputs": ["a", "a:b"]}, "outputs[1]", "listed twice"),
    ({"outputs": ["a:k", "b:k"]}, "outputs[1]", "Secret key 'k' is used twice"),
    ({"outputs": ["b", "a:b"]}, "outputs[1]", "Secret key 'b' is used twice"),
    ({"labels": {"tfcontroller.io/terraform": "other"}}, "labels", "are the controller's"),
    ({"labels": {"x.tfcontroller.io/y": "v"}}, "labels", "are the controller's"),
    ({"annotations": {"tfcontroller.io/outputs-metadata": "{}"}}, "annotations", "are the controller's"),
    ({"labels": {"bad key!": "v"}}, "labels", "invalid key"),
    ({"labels": {"Example.com/x": "v"}}, "labels", "invalid key"),
    ({"labels": {"k": "not a valid value"}}, "labels", "invalid label value"),
    ({"labels": {"k": "x" * 64}}, "labels", "invalid label value"),
    ({"labels": {"k": 3}}, "labels", "must be a string"),
    ({"labels": ["k"]}, "labels", "must be a map of strings"),
    ({"annotations": {"k": None}}, "annotations", "must be a string"),
])
def test_bad_outputs_secret_fields(w: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as err:
        _tf(writeOutputsToSecret={"name": "out", **w})
    assert f"spec.writeOutputsToSecret.{field}" in str(err.value)


def test_renamed_outputs_reads_any_spec_leniently() -> None:
    assert renamed_outputs({"name": "o", "outputs": ["a:x", "b", 3, None]}) == {"a": "x"}
    assert renamed_outputs({"name": "o"}) == {} and renamed_outputs(None) == {} and renamed_outputs("x") == {}


# `.tfvars.json` content that can never load (issue 21, the Terraform fuzz): every plan failed with
# TerraformFailed; now TfVarsFilesInvalid before any run. Each case is refused by terraform 1.11.4 too.
@pytest.mark.parametrize(("data", "why"), [
    (b'{"s": \n', "not valid JSON"), (b"[1, 2]", "JSON object"), (b'"text"', "JSON object"), (b"", "not valid JSON"),
    (b'\xef\xbb\xbf{"s": "a"}', "not valid JSON"), (b'{"s": "a" // c\n}', "not valid JSON"),
    (b'{"s": "a"} x', "not valid JSON"), (b"\xff\xfe{}", "not UTF-8"), (b"null", "JSON object"),
])
def test_a_tfvars_json_that_cannot_load_is_named(data: bytes, why: str) -> None:
    from tfcontroller.api.terraform import tf_vars_json_problem

    problem = tf_vars_json_problem(data)
    assert problem is not None and why in problem
    assert "s3cr3t" not in str(tf_vars_json_problem(b'{"token": "s3cr3t"'))  # positions only, never content


@pytest.mark.parametrize("data", [b"{}", b'{"s": "a", "n": 1, "l": [1, {"k": null}]}', '{"ü": "✓"}'.encode()])
def test_a_loadable_tfvars_json_passes(data: bytes) -> None:
    from tfcontroller.api.terraform import tf_vars_json_problem

    assert tf_vars_json_problem(data) is None
