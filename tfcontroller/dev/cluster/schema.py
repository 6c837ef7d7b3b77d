"""Structural-schema handling for custom objects, the way kube-apiserver does it.

A CustomResourceDefinition's `openAPIV3Schema` is used three times on every write of a custom object:
1. pruning — fields the schema does not declare are dropped (unless `x-kubernetes-preserve-unknown-fields:
   true` says to keep them); `apiVersion`, `kind` and `metadata` are never pruned at the root (nor in an
   `x-kubernetes-embedded-resource`);
2. defaulting — `default` values are filled in for missing fields of objects that are present; a `null`
   given for a field that is not `nullable` is dropped first, so its default (if any) applies;
3. validation — with the `jsonschema` library, after translating the few OpenAPI v3 / Kubernetes
   extensions it does not know (`nullable`, `x-kubernetes-int-or-string`, `x-kubernetes-list-type`,
   the Kubernetes formats).

Errors read like the real server's, because tests and users compare them with what kubectl prints:
`Terraform.tfcontroller.io "x" is invalid: spec.interval: Invalid value: "banana": spec.interval in body
should match '^...$'`. Not implemented: CEL rules (`x-kubernetes-validations`), validation ratcheting,
and the format names nobody uses in CRDs (isbn, creditcard, ...), which pass unchecked.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from jsonschema import Draft4Validator

from tfcontroller.dev.cluster.schema_formats import FORMATS

PRESERVE = "x-kubernetes-preserve-unknown-fields"
EMBEDDED = "x-kubernetes-embedded-resource"
INT_OR_STRING = "x-kubernetes-int-or-string"
ROOT_KEEP = ("apiVersion", "kind", "metadata")


class SchemaValidationError(Exception):
    """An object the schema rejects; `causes` are (field path, message) pairs as in a Status' causes."""

    def __init__(self, kind: str, group: str, name: str, causes: list[tuple[str, str]],
                 reasons: list[str] | None = None) -> None:
        self.kind = kind
        self.group = group
        self.name = name
        self.causes = causes
        # One Kubernetes cause reason per cause (FieldValueInvalid, FieldValueRequired, ...).
        self.reasons = reasons if reasons is not None else ["FieldValueInvalid"] * len(causes)
        super().__init__(self._render())

    @property
    def qualified_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def _render(self) -> str:
        parts = [f"{f}: {m}" if f else m for f, m in self.causes]
        body = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
        return f'{self.qualified_kind} "{self.name}" is invalid: {body}'

    def status_causes(self) -> list[dict[str, str]]:
        """The `details.causes` of a Kubernetes Status for this error."""
        return [{"reason": r, "message": m, "field": f} for (f, m), r in zip(self.causes, self.reasons, strict=True)]

    def to_status(self) -> dict[str, Any]:
        """The 422 `Status` body the real server answers with."""
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": str(self),
            "reason": "Invalid",
            "details": {"name": self.name, "group": self.group, "kind": self.kind,
                        "causes": self.status_causes()},
            "code": 422,
        }


@dataclass
class SchemaResult:
    """The pruned and defaulted object, with the paths of the unknown fields that were dropped
    (the server reports those for `fieldValidation=Strict|Warn`)."""

    obj: dict[str, Any]
    pruned: list[str] = field(default_factory=list)


def apply_schema(obj: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Return a pruned, defaulted copy of `obj`; raise SchemaValidationError if it is invalid."""
    return apply_schema_detailed(obj, schema).obj


def prune_and_default(obj: dict[str, Any], schema: dict[str, Any], defaults: bool = True) -> SchemaResult:
    """Pruning and (unless `defaults` is false) defaulting without validation: the server decodes
    (and reports unknown fields under `fieldValidation=Strict`) before it validates. Server-side
    apply prunes an applied configuration without defaults, so that its manager owns only what it
    sent."""
    pruned: list[str] = []
    return SchemaResult(_prune_and_default(obj, schema, "", pruned, keep_object_meta=True, defaults=defaults),
                        pruned)


def apply_schema_detailed(obj: dict[str, Any], schema: dict[str, Any]) -> SchemaResult:
    """Like apply_schema, also naming the unknown fields that were pruned."""
    pruned_result = prune_and_default(obj, schema)
    result, pruned = pruned_result.obj, pruned_result.pruned
    causes = validate(result, schema)
    if causes:
        api_version = str(obj.get("apiVersion", ""))
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        name = str((obj.get("metadata") or {}).get("name") or (obj.get("metadata") or {}).get("generateName") or "")
        raise SchemaValidationError(
            str(obj.get("kind", "")), group, name,
            [(c.field, c.message) for c in causes], [c.reason for c in causes],
        )
    return SchemaResult(result, pruned)


# ---------------------------------------------------------------------------------------------------
# Pruning and defaulting


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _prune_and_default(value: Any, schema: dict[str, Any] | None, path: str, pruned: list[str],
                       keep_object_meta: bool = False, defaults: bool = True) -> Any:
    if not isinstance(schema, dict):
        return copy.deepcopy(value)
    if isinstance(value, dict):
        return _object(value, schema, path, pruned, keep_object_meta or schema.get(EMBEDDED) is True, defaults)
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            return [_prune_and_default(v, items, f"{path}[{i}]", pruned, defaults=defaults)
                    for i, v in enumerate(value)]
        return copy.deepcopy(value)
    return value


def _object(value: dict[str, Any], schema: dict[str, Any], path: str, pruned: list[str],
            keep_object_meta: bool, defaults: bool = True) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserve = schema.get(PRESERVE) is True
    out: dict[str, Any] = {}
    for key, item in value.items():
        child = _join(path, key)
        if keep_object_meta and key in ROOT_KEEP:
            # The server handles ObjectMeta itself; apiVersion/kind may still carry a schema.
            sub = props.get(key) if key != "metadata" else None
            out[key] = _prune_and_default(item, sub, child, pruned, defaults=defaults) if sub else copy.deepcopy(item)
            continue
        if key in props:
            sub = props[key]
        elif isinstance(additional, dict):
            sub = additional
        elif preserve or additional is True:
            out[key] = copy.deepcopy(item)
            continue
        else:
            pruned.append(child)
            continue
        if item is None and not sub.get("nullable") and defaults:
            # Documented server behaviour: non-nullable nulls are dropped before defaulting.
            if "default" in sub:
                out[key] = _prune_and_default(copy.deepcopy(sub["default"]), sub, child, [])
            continue
        out[key] = _prune_and_default(item, sub, child, pruned, defaults=defaults)
    if not defaults:
        return out
    for key, sub in props.items():
        if key not in out and isinstance(sub, dict) and "default" in sub:
            out[key] = _prune_and_default(copy.deepcopy(sub["default"]), sub, _join(path, key), [])
    return out


# ---------------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True)
class Cause:
    field: str
    message: str
    reason: str = "FieldValueInvalid"


def validate(obj: Any, schema: dict[str, Any]) -> list[Cause]:
    """Validate an already pruned and defaulted object; return the causes, sorted by field."""
    validator = Draft4Validator(to_json_schema(schema), format_checker=FORMATS)
    causes: list[Cause] = []
    for error in validator.iter_errors(obj):
        for cause in _causes(error):
            if cause not in causes:
                causes.append(cause)
    causes.extend(_list_map_duplicates(obj, schema, ""))
    return sorted(causes, key=lambda c: c.field)


def to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Translate an OpenAPI v3 structural schema into draft-4 JSON Schema for `jsonschema`."""
    out: dict[str, Any] = {}
    for key, val in schema.items():
        if key in ("properties", "patternProperties") and isinstance(val, dict):
            out[key] = {k: to_json_schema(v) for k, v in val.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(val, dict):
            out[key] = to_json_schema(val)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(val, list):
            out[key] = [to_json_schema(v) for v in val]
        elif key in ("default", "description", "example", "nullable") or key.startswith("x-kubernetes-"):
            continue
        else:
            out[key] = copy.deepcopy(val)
    if schema.get(INT_OR_STRING) is True:
        out["type"] = ["integer", "string"]
    if schema.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if schema.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif isinstance(out.get("type"), list) and "null" not in out["type"]:
            out["type"] = [*out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text = f"{text}[{part}]" if isinstance(part, int) else _join(text, str(part))
    return text


def _show(value: Any) -> str:
    """A value as the server quotes it in 'Invalid value: ...'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '"null"'
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    return f'"{_type_name(value)}"'


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _required_only(branches: list[Any]) -> list[str] | None:
    """Property names when every branch of a oneOf/anyOf is just `required: [name]`, for a clear message."""
    names: list[str] = []
    for branch in branches:
        if not isinstance(branch, dict) or set(branch) != {"required"} or len(branch["required"]) != 1:
            return None
        names.append(branch["required"][0])
    return names


def _causes(error: jsonschema.ValidationError) -> list[Cause]:
    path = _path(error.absolute_path)
    where = path or "<root>"
    kind, limit, inst = error.validator, error.validator_value, error.instance
    invalid = f"Invalid value: {_show(inst)}: {where} in body"
    if kind == "required":
        missing = [p for p in limit if isinstance(inst, dict) and p not in inst]
        return [Cause(_join(path, p), "Required value", "FieldValueRequired") for p in missing]
    if kind == "enum":
        supported = ", ".join(_show(v) for v in limit)
        return [Cause(path, f"Unsupported value: {_show(inst)}: supported values: {supported}",
                      "FieldValueNotSupported")]
    if kind == "type":
        wanted = limit if isinstance(limit, str) else " or ".join(t for t in limit if t != "null")
        return [Cause(path, f"Invalid value: \"{_type_name(inst)}\": {where} in body must be of type {wanted}: "
                            f"\"{_type_name(inst)}\"", "FieldValueTypeInvalid")]
    if kind == "pattern":
        return [Cause(path, f"{invalid} should match '{limit}'")]
    if kind == "format":
        return [Cause(path, f"{invalid} must be of type {limit}: {_show(inst)}")]
    if kind == "minLength":
        return [Cause(path, f"{invalid} should be at least {limit} chars long")]
    if kind == "maxLength":
        return [Cause(path, f"Too long: may not be more than {limit} bytes", "FieldValueTooLong")]
    if kind == "minItems":
        return [Cause(path, f"{invalid} should have at least {limit} items")]
    if kind == "maxItems":
        return [Cause(path, f"Too many: {len(inst)}: must have at most {limit} items", "FieldValueTooMany")]
    if kind == "minProperties":
        return [Cause(path, f"{invalid} should have at least {limit} properties")]
    if kind == "maxProperties":
        return [Cause(path, f"Too many: {len(inst)}: must have at most {limit} properties", "FieldValueTooMany")]
    if kind == "uniqueItems":
        return [Cause(path, f"Duplicate value: {json.dumps(inst)}", "FieldValueDuplicate")]
    if kind in ("minimum", "maximum"):
        exclusive = error.schema.get("exclusiveMinimum" if kind == "minimum" else "exclusiveMaximum") is True
        word = ("greater than" if kind == "minimum" else "less than") + ("" if exclusive else " or equal to")
        return [Cause(path, f"{invalid} should be {word} {limit}")]
    if kind == "multipleOf":
        return [Cause(path, f"{invalid} should be a multiple of {limit}")]
    if kind in ("oneOf", "anyOf"):
        names = _required_only(limit)
        if names is not None:
            count = "exactly one" if kind == "oneOf" else "at least one"
            return [Cause(path, f"Invalid value: \"object\": {where} must set {count} of: {', '.join(names)}")]
        return [Cause(path, f"{invalid} must validate {'one and only one' if kind == 'oneOf' else 'at least one'}"
                            f" schema ({kind})")]
    if kind == "not":
        return [Cause(path, f"{invalid} must not validate the schema (not)")]
    return [Cause(path, f"{invalid} {error.message}")]


def _list_map_duplicates(value: Any, schema: dict[str, Any] | None, path: str) -> list[Cause]:
    """`x-kubernetes-list-type: map` lists may not repeat a key tuple (jsonschema cannot say this)."""
    if not isinstance(schema, dict):
        return []
    causes: list[Cause] = []
    if isinstance(value, list):
        items = schema.get("items")
        keys = schema.get("x-kubernetes-list-map-keys") or []
        if schema.get("x-kubernetes-list-type") == "map" and keys:
            seen: set[str] = set()
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    continue
                ident = json.dumps([item.get(k) for k in keys])
                if ident in seen:
                    shown = ", ".join(f"{json.dumps(k)}:{json.dumps(item.get(k))}" for k in keys)
                    causes.append(Cause(f"{path}[{i}]", f"Duplicate value: map[string]interface {{}}{{{shown}}}",
                                        "FieldValueDuplicate"))
                seen.add(ident)
        for i, item in enumerate(value):
            causes.extend(_list_map_duplicates(item, items if isinstance(items, dict) else None, f"{path}[{i}]"))
    elif isinstance(value, dict):
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, additional if isinstance(additional, dict) else None)
            causes.extend(_list_map_duplicates(item, sub, _join(path, key)))
    return causes
