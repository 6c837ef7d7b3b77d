"""Unit tests of fieldvalidation.py (directive parsing, the three error wordings, warnings and their
header, ObjectMeta pruning) and of schema.prune_and_default without defaults (server-side apply)."""

from __future__ import annotations

import pytest

from tfcontroller.dev.cluster.errors import ApiError
from tfcontroller.dev.cluster.fieldvalidation import (
    APPLY,
    PATCH,
    FieldValidation,
    metadata_unknown_fields,
    parse_directive,
)
from tfcontroller.dev.cluster.schema import prune_and_default

OBJ = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g", "namespace": "ns"}}


def test_directive_defaults_to_warn_and_rejects_unknown_values() -> None:
    assert parse_directive(None) == "Warn"
    assert parse_directive("") == "Warn"
    assert parse_directive("Strict") == "Strict"
    with pytest.raises(ApiError) as err:
        parse_directive("strict")
    assert err.value.code == 400 and 'Unsupported value: "strict"' in err.value.message


def test_strict_messages_per_request_shape() -> None:
    with pytest.raises(ApiError) as err:
        FieldValidation("Strict").report(OBJ, ["spec.z", "spec.a", "spec.a"])
    assert err.value.code == 400 and err.value.reason == "BadRequest"
    assert err.value.message == ('Gizmo in version "v1" cannot be handled as a Gizmo: strict decoding error: '
                                 'unknown field "spec.a", unknown field "spec.z"')
    with pytest.raises(ApiError) as err:
        FieldValidation("Strict", PATCH).report(OBJ, ["spec.items[0].x"])
    assert err.value.message == 'strict decoding error: unknown field "spec.items[0].x"'
    with pytest.raises(ApiError) as err:
        FieldValidation("Strict", APPLY).report(OBJ, ["spec.a", "spec.b"])
    assert err.value.message == ("failed to create typed patch object (ns/g; example.com/v1, Kind=Gizmo): errors:\n"
                                 "  .spec.a: field not declared in schema\n  .spec.b: field not declared in schema")


def test_warn_collects_once_and_ignore_does_nothing() -> None:
    fv = FieldValidation("Warn")
    fv.report(OBJ, ["spec.a"])
    fv.report(OBJ, ["spec.a", 'spec."q"'])
    assert fv.warnings == ['unknown field "spec.a"', 'unknown field "spec.\\"q\\""']
    assert fv.warning_header() == '299 - "unknown field \\"spec.a\\"", 299 - "unknown field \\"spec.\\\\\\"q\\\\\\"\\""'
    quiet = FieldValidation("Ignore")
    quiet.report(OBJ, ["spec.a"])
    assert quiet.warnings == [] and quiet.warning_header() is None
    FieldValidation("Strict").report(OBJ, [])  # nothing unknown: no error


def test_metadata_unknown_fields_are_dropped() -> None:
    obj = {"metadata": {"name": "x", "labels": {}, "colour": "red", "annotations": {}, "age": 3}}
    assert metadata_unknown_fields(obj) == ["metadata.age", "metadata.colour"]
    assert obj["metadata"] == {"name": "x", "labels": {}, "annotations": {}}
    assert metadata_unknown_fields({"kind": "X"}) == []


def test_prune_without_defaults_keeps_only_what_was_sent() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "size": {"type": "integer", "default": 1},
        "color": {"type": "string", "default": "blue"},
    }}}}
    sent = {"kind": "Gizmo", "metadata": {"name": "g"}, "spec": {"size": 3, "bogus": 1, "color": None}}
    result = prune_and_default(sent, schema, defaults=False)
    assert result.obj["spec"] == {"size": 3, "color": None}
    assert result.pruned == ["spec.bogus"]
    defaulted = prune_and_default(sent, schema)
    assert defaulted.obj["spec"] == {"size": 3, "color": "blue"}
