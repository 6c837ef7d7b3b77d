"""Post-build variable substitution, as Flux's kustomize-controller does it — without its injections.

`${VAR}`, `${VAR:=default}` and `${VAR:-default}` are replaced in every string of an object;
`$${VAR}` is an escape that leaves `${VAR}` in place. A variable that is missing and has no default is
an error naming it and the object. An object annotated `tfcontroller.io/substitute: disabled` is left as is.

Why typing matters: Flux substitutes into the YAML *text* before parsing, so users write
`replicas: ${replicas}` and rely on it becoming the integer 3, and write `"${account_id}"` to keep
`0999991` a string. Substituting into the parsed strings instead (what this module did first) gave
`replicas: "3"`, which a real API server refuses. Text substitution, though, lets a value inject YAML
structure (`a: b`, `{x: 1}`, `- x`, a `#` comment, several lines). The rule here keeps the typing and
drops the injection:

- A reference in a **quoted or block scalar** (`"${v}"`, `'${v}'`, `|`/`>` blocks, any JSON string)
  inserts the value verbatim: the result is a string, whatever the value looks like.
- A reference in an **unquoted (plain) scalar** — marked `Unquoted` by the renderer's loader — gives the
  scalar the type its substituted text has as *one single-line YAML 1.2 scalar* (`plain_scalar_value`):
  `3` → 3, `-1.5`/`1e3` → float, `true`/`false` → bool, `null`/`~`/empty → null, a whole single- or
  double-quoted YAML string (`"123"`, Flux's `${quote}${id}${quote}` idiom) → that string; anything
  else (`a: b`, `{x: 1}`, `- x`, `x # y`, a multi-line value) stays the literal string. Two deliberate
  departures from YAML 1.1 (which PyYAML and kubectl's yaml.v2 read): numbers with a leading zero
  (`0999991`, `0755`) stay strings instead of turning into octal or losing digits, and `yes`/`no`/`on`/
  `off` stay strings (the "Norway problem": a country code `NO` must not become false).
  Mapping keys always stay strings (JSON has no other keys).

kustomize writes its output without the quotes of its sources, so before a kustomize build the
references inside quoted and block scalars of the sources are marked (`mark_quoted_references`:
`"${v}"` → `"${__tfc_quoted__v}"`); substitution reads a marked reference as quoted and removes the
mark, so the rule above holds through kustomize too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import yaml

from tfcontroller.api.constants import ANNOTATION_SUBSTITUTE

VAR_NAME = r"[_a-zA-Z][_a-zA-Z0-9]*"
QUOTED_MARK = "__tfc_quoted__"  # prefixes the name of a reference that stood in a quoted scalar
_MARKABLE = re.compile(r"(?<!\$)\$\{(?=" + VAR_NAME + r")")  # `${name`, not the `$${name` escape
_PATTERN = re.compile(r"\$\$\{(" + VAR_NAME + r")([^}]*)\}|\$\{(" + VAR_NAME + r")(?:(:=|:-)([^}]*))?\}")

# YAML 1.2 core schema forms, narrowed as the module docstring says (no leading zeros, no yes/no).
_NULL = re.compile(r"(?:~|null|Null|NULL|)")
_TRUE = re.compile(r"(?:true|True|TRUE)")
_FALSE = re.compile(r"(?:false|False|FALSE)")
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")


class Unquoted(str):
    """A string that stood as a plain (unquoted) YAML scalar and contains `${`: after substitution it
    takes the type of its text (`plain_scalar_value`). Set by `manifests.render`'s loader; every other
    string (quoted, block, JSON, kustomize-quoted) stays a string. A `str` everywhere else."""

    __slots__ = ()


class SubstitutionError(Exception):
    def __init__(self, missing: list[str], obj_label: str) -> None:
        self.missing = missing
        self.obj_label = obj_label
        names = ", ".join(missing)
        super().__init__(
            f"{obj_label}: variable(s) {names} not set: add them to spec.substitute or spec.substituteFrom, "
            "or give a default with ${VAR:=default}"
        )


def substitute_string(text: str, variables: Mapping[str, str], missing: list[str]) -> str:
    """`text` with every reference replaced by its value, verbatim (a plain `str`)."""

    def repl(m: re.Match[str]) -> str:
        if m.group(1) is not None:  # $${VAR...} escape
            return "${" + m.group(1) + m.group(2) + "}"
        name, op, default = m.group(3).removeprefix(QUOTED_MARK), m.group(4), m.group(5)
        if name in variables:
            return str(variables[name])
        if op is not None:
            return default or ""
        missing.append(name)
        return m.group(0).replace(QUOTED_MARK, "", 1)

    return str(_PATTERN.sub(repl, text))


def plain_scalar_value(text: str) -> Any:
    """What `text` means standing alone as an unquoted YAML value — if it is exactly one single-line
    scalar of a JSON type; otherwise `text` itself. Never parses structure (see the module docstring)."""
    if "\n" in text or "\r" in text:
        return text
    if _NULL.fullmatch(text):
        return None
    if _TRUE.fullmatch(text):
        return True
    if _FALSE.fullmatch(text):
        return False
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else text
    if text[:1] in ("'", '"'):
        return _quoted_scalar(text)
    return text


def _quoted_scalar(text: str) -> str:
    """The string a whole quoted YAML scalar stands for (`"a\\tb"` → a<TAB>b); `text` itself when it is
    not exactly one quoted scalar (`"a" b`, `"a": 1`, an unterminated quote)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return text
    if not isinstance(node, yaml.ScalarNode) or node.style not in ("'", '"') or node.end_mark.index != len(text):
        return text
    return str(node.value)


def mark_quoted_references(text: str) -> str:
    """`text` (a YAML document stream) with the `${` of every reference inside a quoted or block scalar
    marked as quoted; unchanged when it has none or is not YAML. Only `${` itself changes, and the mark
    is letters and underscores, so the text parses to the same structure in every scalar style."""
    if "${" not in text:
        return text
    try:
        roots = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return text
    spans = sorted(
        (node.start_mark.index, node.end_mark.index)
        for root in roots for node in _scalars(root)
        if node.style in ("'", '"', "|", ">") and "${" in node.value
    )
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], _MARKABLE.sub("${" + QUOTED_MARK, text[start:end])]
        last = end
    return "".join([*out, text[last:]])


def _scalars(node: yaml.Node | None) -> list[yaml.ScalarNode]:
    if isinstance(node, yaml.ScalarNode):
        return [node]
    if isinstance(node, yaml.SequenceNode):
        return [s for item in node.value for s in _scalars(item)]
    if isinstance(node, yaml.MappingNode):
        return [s for key, item in node.value for s in (*_scalars(key), *_scalars(item))]
    return []


def _walk(value: Any, variables: Mapping[str, str], missing: list[str]) -> Any:
    if isinstance(value, Unquoted) and QUOTED_MARK not in value:
        return plain_scalar_value(substitute_string(value, variables, missing))
    if isinstance(value, str):
        return substitute_string(value, variables, missing)
    if isinstance(value, list):
        return [_walk(v, variables, missing) for v in value]
    if isinstance(value, dict):
        return {
            substitute_string(k, variables, missing) if isinstance(k, str) else k: _walk(v, variables, missing)
            for k, v in value.items()
        }
    return value


def plain_strings(value: Any) -> Any:
    """A copy of `value` whose `Unquoted` and quoted-reference marks are gone (objects left unsubstituted)."""
    if isinstance(value, str):
        return str(value).replace("${" + QUOTED_MARK, "${")
    if isinstance(value, list):
        return [plain_strings(v) for v in value]
    if isinstance(value, dict):
        return {plain_strings(k): plain_strings(v) for k, v in value.items()}
    return value


def substitute_object(obj: dict[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if annotations.get(ANNOTATION_SUBSTITUTE) == "disabled":
        return plain_strings(obj)  # type: ignore[no-any-return]
    missing: list[str] = []
    out = _walk(obj, variables, missing)
    if missing:
        label = f"{obj.get('kind', '?')}/{(obj.get('metadata') or {}).get('name', '?')}"
        raise SubstitutionError(sorted(set(missing)), label)
    return out  # type: ignore[no-any-return]
