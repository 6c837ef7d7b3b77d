"""tfcontroller.dev.cluster.schema: pruning, defaulting and validation of custom objects against a
structural openAPIV3Schema, and server-like error messages naming the field."""

from __future__ import annotations

import copy

import pytest

from tfcontroller.dev.cluster.schema import (
    SchemaValidationError,
    apply_schema,
    apply_schema_detailed,
    to_json_schema,
)

DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"

SCHEMA = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["interval", "sourceRef"],
            "properties": {
                "interval": {"type": "string", "pattern": DURATION},
                "workspace": {"type": "string", "default": "default", "minLength": 1, "maxLength": 8},
                "suspend": {"type": "boolean", "default": False},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 5, "format": "int32"},
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "sourceRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "kind": {"type": "string", "enum": ["GitRepository"], "default": "GitRepository"},
                        "name": {"type": "string"},
                    },
                },
                "vars": {
                    "type": "array",
                    "maxItems": 2,
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "oneOf": [{"required": ["value"]}, {"required": ["sealedValue"]}],
                        "properties": {
                            "name": {"type": "string"},
                            "value": {"x-kubernetes-preserve-unknown-fields": True},
                            "sealedValue": {"type": "string"},
                        },
                    },
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                        "properties": {"known": {"type": "string", "default": "k"}}},
                "createdAt": {"type": "string", "format": "date-time"},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def obj(**spec: object) -> dict:
    base: dict = {"interval": "5m", "sourceRef": {"name": "repo"}}
    base.update(spec)
    return {
        "apiVersion": "tfcontroller.io/v1alpha1",
        "kind": "Terraform",
        "metadata": {"name": "x", "namespace": "default", "labels": {"a": "b"}, "annotations": {"q": "r"}},
        "spec": base,
    }


def causes_of(o: dict) -> list[tuple[str, str]]:
    with pytest.raises(SchemaValidationError) as info:
        apply_schema(o, SCHEMA)
    return info.value.causes


def test_valid_object_is_defaulted_and_input_untouched() -> None:
    original = obj()
    before = copy.deepcopy(original)
    out = apply_schema(original, SCHEMA)
    assert original == before
    assert out["spec"]["workspace"] == "default"
    assert out["spec"]["suspend"] is False
    assert out["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "repo"}
    assert out["metadata"] == before["metadata"]


def test_defaults_do_not_create_missing_parents() -> None:
    out = apply_schema(obj(), SCHEMA)
    assert "raw" not in out["spec"] and "vars" not in out["spec"]


def test_defaults_apply_inside_preserved_objects() -> None:
    out = apply_schema(obj(raw={"anything": {"deep": 1}}), SCHEMA)
    assert out["spec"]["raw"] == {"anything": {"deep": 1}, "known": "k"}


def test_unknown_fields_pruned_and_reported() -> None:
    o = obj(bogus=1, sourceRef={"name": "r", "extra": True})
    o["extraTop"] = {"x": 1}
    result = apply_schema_detailed(o, SCHEMA)
    assert "bogus" not in result.obj["spec"]
    assert "extra" not in result.obj["spec"]["sourceRef"]
    assert "extraTop" not in result.obj
    assert sorted(result.pruned) == ["extraTop", "spec.bogus", "spec.sourceRef.extra"]


def test_root_apiversion_kind_metadata_never_pruned_even_without_schema() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object"}}}
    o = {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "n", "uid": "u"}, "spec": {"x": 1}}
    out = apply_schema(o, schema)
    assert out == {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "n", "uid": "u"}, "spec": {}}


def test_embedded_resource_keeps_type_meta() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "properties": {"spec": {"type": "object"}}}}}}}
    o = {"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "junk": 1}}}
    out = apply_schema(o, schema)
    assert out["spec"]["template"] == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}


def test_preserve_unknown_fields_keeps_any_json() -> None:
    value = {"list": [1, "two", {"three": None}], "n": 1.5}
    out = apply_schema(obj(vars=[{"name": "a", "value": value}]), SCHEMA)
    assert out["spec"]["vars"][0]["value"] == value


def test_status_preserved() -> None:
    o = obj()
    o["status"] = {"conditions": [{"type": "Ready"}], "whatever": {"a": 1}}
    assert apply_schema(o, SCHEMA)["status"] == o["status"]


def test_additional_properties_map_values_validated() -> None:
    assert apply_schema(obj(labels={"a": "b"}), SCHEMA)["spec"]["labels"] == {"a": "b"}
    assert causes_of(obj(labels={"a": 1})) == [
        ("spec.labels.a", 'Invalid value: "integer": spec.labels.a in body must be of type string: "integer"')]


def test_pattern_error_reads_like_the_server() -> None:
    with pytest.raises(SchemaValidationError) as info:
        apply_schema(obj(interval="banana"), SCHEMA)
    err = info.value
    assert err.causes == [("spec.interval",
                           f"Invalid value: \"banana\": spec.interval in body should match '{DURATION}'")]
    assert str(err) == (f'Terraform.tfcontroller.io "x" is invalid: spec.interval: Invalid value: "banana": '
                        f"spec.interval in body should match '{DURATION}'")
    status = err.to_status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "spec.interval"
    assert status["details"]["kind"] == "Terraform" and status["details"]["group"] == "tfcontroller.io"


def test_required_names_the_missing_field() -> None:
    o = obj()
    del o["spec"]["sourceRef"]
    del o["spec"]["interval"]
    with pytest.raises(SchemaValidationError) as info:
        apply_schema(o, SCHEMA)
    assert info.value.causes == [("spec.interval", "Required value"), ("spec.sourceRef", "Required value")]
    assert info.value.reasons == ["FieldValueRequired", "FieldValueRequired"]
    assert str(info.value) == ('Terraform.tfcontroller.io "x" is invalid: '
                               "[spec.interval: Required value, spec.sourceRef: Required value]")


def test_enum_error() -> None:
    assert causes_of(obj(sourceRef={"kind": "Bucket", "name": "r"})) == [
        ("spec.sourceRef.kind", 'Unsupported value: "Bucket": supported values: "GitRepository"')]


def test_type_error() -> None:
    assert causes_of(obj(interval=5)) == [
        ("spec.interval", 'Invalid value: "integer": spec.interval in body must be of type string: "integer"')]


def test_minimum_maximum_length_items() -> None:
    assert causes_of(obj(replicas=0))[0][1].endswith("should be greater than or equal to 1")
    assert causes_of(obj(replicas=6))[0][1].endswith("should be less than or equal to 5")
    assert causes_of(obj(workspace=""))[0] == (
        "spec.workspace", 'Invalid value: "": spec.workspace in body should be at least 1 chars long')
    assert causes_of(obj(workspace="a" * 9))[0] == ("spec.workspace", "Too long: may not be more than 8 bytes")
    many = [{"name": str(i), "value": i} for i in range(3)]
    assert causes_of(obj(vars=many)) == [("spec.vars", "Too many: 3: must have at most 2 items")]


def test_int_or_string() -> None:
    assert apply_schema(obj(port=80), SCHEMA)["spec"]["port"] == 80
    assert apply_schema(obj(port="http"), SCHEMA)["spec"]["port"] == "http"
    assert causes_of(obj(port=[1]))[0][0] == "spec.port"


def test_nullable_keeps_null_and_non_nullable_null_is_dropped_or_defaulted() -> None:
    out = apply_schema(obj(note=None, workspace=None, replicas=None), SCHEMA)
    assert out["spec"]["note"] is None
    assert out["spec"]["workspace"] == "default"
    assert "replicas" not in out["spec"]
    assert to_json_schema({"type": "string", "nullable": True})["type"] == ["string", "null"]


def test_one_of_required_message_names_choices() -> None:
    causes = causes_of(obj(vars=[{"name": "a", "value": 1, "sealedValue": "x"}]))
    assert causes == [("spec.vars[0]",
                       'Invalid value: "object": spec.vars[0] must set exactly one of: value, sealedValue')]
    assert causes_of(obj(vars=[{"name": "a"}]))[0][0] == "spec.vars[0]"


def test_list_map_and_set_duplicates() -> None:
    causes = causes_of(obj(vars=[{"name": "a", "value": 1}, {"name": "a", "value": 2}]))
    assert [c[0] for c in causes] == ["spec.vars[1]"]
    assert causes[0][1].startswith("Duplicate value")
    assert causes_of(obj(tags=["x", "x"]))[0][0] == "spec.tags"


def test_format_date_time() -> None:
    assert apply_schema(obj(createdAt="2024-01-02T03:04:05Z"), SCHEMA)
    assert causes_of(obj(createdAt="yesterday")) == [
        ("spec.createdAt", 'Invalid value: "yesterday": spec.createdAt in body must be of type date-time: "yesterday"')]


def test_array_index_paths() -> None:
    assert causes_of(obj(vars=[{"name": "a", "value": 1}, {"value": 2}]))[0] == ("spec.vars[1].name", "Required value")
