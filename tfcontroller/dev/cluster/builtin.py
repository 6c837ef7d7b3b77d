"""Built-in kinds checked against the real Kubernetes 1.32 OpenAPI schemas, as kube-apiserver checks them.

Why: the dev cluster used to store a Deployment with `replicas: "3"` that every real cluster refuses, so
tests passed on objects that fail in production (issue 11, case 7). The schemas come from the PyPI
package `kubernetes-validate` (the OpenAPI v2 definitions of each release, here 1.32 = the kubectl on
the development machines); this module walks an object along them and reports what the real server
reports, in its words:

- **type errors** — a JSON value of the wrong type for the Go field. The real server fails while
  *decoding* the body, so the wording is Go's `encoding/json` one
  (`json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32`),
  framed by the verb in `api_writes.py` (400 for create/update, 422 `patch: Invalid value` for patches, 400
  `failed to create typed patch object` with structured-merge-diff's wording for server-side apply).
  Custom decoders keep their own messages (`resource.Quantity`: "quantities must match the regular
  expression ..."); int-or-string fields take a string or an int32.
- **unknown fields** — dropped (as decoding drops them) and returned as paths for `fieldValidation`.
- **validation** — `required` fields (422 `Required value`) and `enum`s (422 `Unsupported value`); the
  real server's hand-written validation (name formats of containers, selector/label agreement, ...)
  is not reproduced.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

SCHEMA_DIR = "v1.32.0-local"  # the Kubernetes release the dev cluster imitates (kubectl 1.32)
_DEFS_PREFIX = "$defs/"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
# Definitions whose Go types take any JSON (RawExtension, JSON, FieldsV1 ...) have no type and no properties.
_QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_QUANTITY_SUFFIX = re.compile(r"(|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)")
QUANTITY_FORMAT = ("quantities must match the regular expression "
                   "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
QUANTITY_SUFFIX = "unable to parse quantity's suffix"
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}

class MapKey(str):
    """A map key in a path: printed `[key]` in field paths and left out of Go's struct-field paths."""

    __slots__ = ()


Path = tuple[str | int, ...]


@lru_cache(maxsize=1)
def _definitions() -> dict[str, Any]:
    base = resources.files("kubernetes_validate") / "kubernetes-json-schema" / SCHEMA_DIR
    loaded: dict[str, Any] = json.loads((base / "_definitions.json").read_text(encoding="utf-8"))["$defs"]
    return loaded


@lru_cache(maxsize=1)
def _kinds() -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    for def_id, node in _definitions().items():
        for gvk in node.get("x-kubernetes-group-version-kind") or []:
            out[(gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))] = def_id
    return out


def definition_of(group: str, version: str, kind: str) -> str | None:
    """The definition id of a built-in kind (None for custom kinds and unknown versions)."""
    return _kinds().get((group, version, kind))


@dataclass(frozen=True)
class TypeIssue:
    """A value of the wrong JSON type for its field (or refused by the field's own decoder)."""

    path: Path
    smd_path: str  # structured-merge-diff's path: `.spec.containers[name="c"].ports[containerPort=80]`
    struct: str  # the Go struct holding the field, e.g. DeploymentSpec
    go_type: str  # e.g. int32, string, v1.LocalObjectReference, []v1.Container, map[string]string
    expected: str  # int | float | string | bool | struct | map | list | intorstring | quantity
    value: Any
    detail: str | None = None  # a custom decoder's own error text

    def decode_message(self) -> str:
        """The Go decoding error the real server puts after `cannot be handled as a <Kind>: `."""
        if self.detail:
            return self.detail
        fields = ".".join(p for p in self.path if isinstance(p, str) and not isinstance(p, MapKey))
        return (f"json: cannot unmarshal {_json_type(self.value, self.expected)} into Go struct field "
                f"{self.struct}.{fields} of type {self.go_type}")

    def apply_message(self) -> str | None:
        """structured-merge-diff's typing error (None where its typing accepts the value)."""
        v = self.value
        if self.expected in ("int", "float"):
            return None if _is_number(v) else f"{self.smd_path}: expected numeric (int or float), got {_go_type_name(v)}"
        if self.expected == "string":
            return f"{self.smd_path}: expected string, got &value.valueUnstructured{{Value:{_go_sharp_v(v)}}}"
        if self.expected == "bool":
            return f"{self.smd_path}: expected boolean, got &{{{go_v(v)}}}"
        if self.expected in ("struct", "map"):
            return f"{self.smd_path}: expected map, got &{{{go_v(v)}}}"
        if self.expected == "list":
            return f"{self.smd_path}: expected list, got &{{{go_v(v)}}}"
        if isinstance(v, (list, dict)):  # int-or-string and quantities are scalars to the typer
            return f"{self.smd_path}: expected scalar, got &{{{go_v(v)}}}"
        return None


@dataclass
class Report:
    """What one walk found; `unknown` paths are dotted with `[i]` indexes, as in strict decoding errors."""

    types: list[TypeIssue] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    smd_unknown: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str, str]] = field(default_factory=list)  # (field, message, cause reason)


def check(group: str, version: str, kind: str, obj: dict[str, Any], prune: bool = False) -> Report | None:
    """Walk `obj` along its kind's schema; with `prune`, unknown fields are deleted from it. None for
    kinds without a built-in schema."""
    def_id = definition_of(group, version, kind)
    if def_id is None:
        return None
    report = Report()
    _Walker(report, prune).struct(obj, def_id, (), "", root=True)
    return report


class _Walker:
    def __init__(self, report: Report, prune: bool) -> None:
        self.report = report
        self.prune = prune
        self.defs = _definitions()

    # ---------------------------------------------------------------- dispatch
    def value(self, value: Any, node: dict[str, Any], path: Path, smd: str, struct: str) -> None:
        if value is None:
            return  # null decodes to the zero value; nothing to check
        def_id = _ref(node)
        if def_id is not None:
            self.defined(value, def_id, path, smd, struct)
            return
        kind = _kind_of(node)
        if kind == "list":
            if not isinstance(value, list):
                self._type(path, smd, struct, node, None, "list", value)
                return
            self.items(value, node, path, smd, struct)
        elif kind == "map":
            if not isinstance(value, dict):
                self._type(path, smd, struct, node, None, "map", value)
                return
            for key, item in value.items():
                self.value(item, node["additionalProperties"], (*path, MapKey(key)), f"{smd}.{key}", struct)
        elif kind == "struct":
            self.struct_node(value, node, None, path, smd, struct)
        elif kind != "any":
            self.scalar(value, node, kind, path, smd, struct)

    def defined(self, value: Any, def_id: str, path: Path, smd: str, struct: str) -> None:
        node = self.defs.get(def_id) or {}
        if def_id == INT_OR_STRING:
            if isinstance(value, str) or (_is_int(value) and _in_range(value, "int32")):
                return
            self.report.types.append(TypeIssue(path, smd, struct, "int32", "intorstring", value))
        elif def_id == QUANTITY:
            detail = _quantity_problem(value)
            if detail:
                self.report.types.append(TypeIssue(path, smd, struct, "resource.Quantity", "quantity", value, detail))
        elif _kind_of(node) == "struct":
            self.struct_node(value, node, def_id, path, smd, struct)
        else:
            self.value(value, {k: v for k, v in node.items() if k != "$ref"}, path, smd, struct)

    def struct(self, value: Any, def_id: str, path: Path, smd: str, root: bool = False) -> None:
        self.struct_node(value, self.defs[def_id], def_id, path, smd, _short(def_id), root)

    def struct_node(self, value: Any, node: dict[str, Any], def_id: str | None, path: Path, smd: str,
                    struct: str, root: bool = False) -> None:
        if not isinstance(value, dict):
            self._type(path, smd, struct, node, def_id, "struct", value)
            return
        name = _short(def_id) if def_id else struct
        props: dict[str, Any] = node.get("properties") or {}
        for key in list(value):
            if key in props:
                self.value(value[key], props[key], (*path, key), f"{smd}.{key}", name)
            elif not (root and key in ("apiVersion", "kind")):
                self._unknown(value, key, path, smd)
        for key in node.get("required") or []:
            if value.get(key) is None:
                self.report.invalid.append((_field(path + (key,)), "Required value", "FieldValueRequired"))

    def items(self, value: list[Any], node: dict[str, Any], path: Path, smd: str, struct: str) -> None:
        item_node = node.get("items") or {}
        list_type = node.get("x-kubernetes-list-type")
        keys = node.get("x-kubernetes-list-map-keys") or []
        for i, item in enumerate(value):
            if list_type == "map" and isinstance(item, dict):
                shown = ",".join(f"{k}={json.dumps(item[k])}" for k in keys if k in item)
                element = f"[{shown}]"
            elif list_type == "set" and not isinstance(item, (dict, list)):
                element = f"[={json.dumps(item)}]"
            else:
                element = f"[{i}]"
            self.value(item, item_node, (*path, i), smd + element, struct)

    def scalar(self, value: Any, node: dict[str, Any], kind: str, path: Path, smd: str, struct: str) -> None:
        ok = {
            "string": isinstance(value, str),
            "bool": isinstance(value, bool),
            "int": _is_int(value) and _in_range(value, node.get("format") or "int64"),
            "float": _is_number(value),
        }[kind]
        if not ok:
            self._type(path, smd, struct, node, None, kind, value)
            return
        enum = node.get("enum")
        if enum and value not in enum:
            supported = ", ".join(json.dumps(e) for e in enum)
            message = f"Unsupported value: {json.dumps(value)}: supported values: {supported}"
            self.report.invalid.append((_field(path), message, "FieldValueNotSupported"))

    # ---------------------------------------------------------------- findings
    def _type(self, path: Path, smd: str, struct: str, node: dict[str, Any], def_id: str | None,
              expected: str, value: Any) -> None:
        self.report.types.append(TypeIssue(path, smd, struct, self._go_type(node, def_id), expected, value))

    def _unknown(self, value: dict[str, Any], key: str, path: Path, smd: str) -> None:
        self.report.unknown.append(_field(path + (key,)))
        self.report.smd_unknown.append(f"{smd}.{key}")
        if self.prune:
            del value[key]

    def _go_type(self, node: dict[str, Any], def_id: str | None = None) -> str:
        def_id = def_id or _ref(node)
        if def_id:
            return _go_name(def_id)
        kind = _kind_of(node)
        if kind == "list":
            return "[]" + self._go_type(node.get("items") or {})
        if kind == "map":
            return "map[string]" + self._go_type(node.get("additionalProperties") or {})
        if kind == "string":
            return "[]uint8" if node.get("format") == "byte" else "string"
        if kind == "int":
            return str(node.get("format") or "int64")
        return {"float": "float64", "bool": "bool"}.get(kind, "interface {}")


# -------------------------------------------------------------------- helpers
def _ref(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    if not isinstance(ref, str) or _DEFS_PREFIX not in ref:
        return None
    return ref.split(_DEFS_PREFIX, 1)[1]


def _types(node: dict[str, Any]) -> set[str]:
    t = node.get("type")
    return {t} if isinstance(t, str) else set(t or [])


def _kind_of(node: dict[str, Any]) -> str:
    types = _types(node)
    if "array" in types:
        return "list"
    if "object" in types or "properties" in node:
        if isinstance(node.get("additionalProperties"), dict):
            return "map"
        return "struct" if "properties" in node else "any"
    for json_type, kind in (("string", "string"), ("integer", "int"), ("number", "float"), ("boolean", "bool")):
        if json_type in types:
            return kind
    return "any"


def _short(def_id: str | None) -> str:
    return (def_id or "").rsplit(".", 1)[-1]


def _go_name(def_id: str) -> str:
    """`io.k8s.api.core.v1.Container` → `v1.Container`, as Go prints a type with its package."""
    parts = def_id.rsplit(".", 2)
    return f"{parts[-2]}.{parts[-1]}" if len(parts) == 3 else def_id


def _field(path: Path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, (int, MapKey)) else (f".{p}" if out else p)
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and (not isinstance(value, float) or math.isfinite(value)))


def _in_range(value: int, fmt: str) -> bool:
    low, high = _INT_RANGES.get(fmt, _INT_RANGES["int64"])
    return low <= value <= high


def _json_type(value: Any, expected: str) -> str:
    """Go's name of the JSON value in an UnmarshalTypeError (`number 3.5` for a number an int cannot hold)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {json.dumps(value)}" if expected in ("int", "intorstring") else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _quantity_problem(value: Any) -> str | None:
    if isinstance(value, (bool, list, dict)):
        return QUANTITY_FORMAT
    text = value.strip() if isinstance(value, str) else json.dumps(value)
    m = _QUANTITY_RE.match(text)
    if m is None:
        return QUANTITY_FORMAT
    return None if _QUANTITY_SUFFIX.fullmatch(m.group(2)) else QUANTITY_SUFFIX


def _go_type_name(value: Any) -> str:
    """Go's %T of a value decoded from JSON into interface{}."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    return "[]interface {}" if isinstance(value, list) else "map[string]interface {}"


def _go_sharp_v(value: Any) -> str:
    """Go's %#v of a JSON value (int64, float64, bool, string, []interface {}, map[string]interface {})."""
    if isinstance(value, (bool, int, float, str)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_sharp_v(v) for v in value) + "}"
    inner = ", ".join(f"{json.dumps(k)}:{_go_sharp_v(v)}" for k, v in sorted(value.items()))
    return "map[string]interface {}{" + inner + "}"


def go_v(value: Any) -> str:
    """Go's %v (and %+v) of a JSON value decoded into interface{}: `map[a:1 b:[x y]]`."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(go_v(v) for v in value) + "]"
    return "map[" + " ".join(f"{k}:{go_v(v)}" for k, v in sorted(value.items())) + "]"




def unstructured_message(issue: TypeIssue) -> str:
    """apimachinery's FromUnstructured error for the issue — what a strategic merge patch reports,
    since it converts the patched map into the Go type instead of decoding JSON."""
    if issue.detail or issue.expected in ("intorstring", "quantity"):
        return issue.decode_message()  # custom decoders go through their JSON unmarshaller
    value = issue.value
    source = _unstructured_kind(value)
    if issue.expected == "struct":
        return f"cannot restore struct from: {source}"
    if issue.expected in ("map", "list"):
        return f"cannot restore {'slice' if issue.expected == 'list' else 'map'} from {source}"
    return f"cannot convert {_unstructured_type(value)} to {issue.go_type}"


def _unstructured_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    return "slice" if isinstance(value, list) else "map"


def _unstructured_type(value: Any) -> str:
    kind = _unstructured_kind(value)
    return {"slice": "[]interface {}", "map": "map[string]interface {}"}.get(kind, kind)
