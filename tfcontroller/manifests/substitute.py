"""Post-build variable substitution, as Flux's kustomize-controller does it.

`${VAR}`, `${VAR:=default}` and `${VAR:-default}` are replaced in every string of an object;
`$${VAR}` is an escape that leaves `${VAR}` in place. A variable that is missing and has no default is
an error naming it and the object. An object annotated `tfcontroller.io/substitute: disabled` is left as is.
Substitution works on the parsed object (strings only), so values never break YAML quoting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SUBSTITUTE_ANNOTATION = "tfcontroller.io/substitute"
VAR_NAME = r"[_a-zA-Z][_a-zA-Z0-9]*"
_PATTERN = re.compile(r"\$\$\{(" + VAR_NAME + r")([^}]*)\}|\$\{(" + VAR_NAME + r")(?:(:=|:-)([^}]*))?\}")


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
    def repl(m: re.Match[str]) -> str:
        if m.group(1) is not None:  # $${VAR...} escape
            return "${" + m.group(1) + m.group(2) + "}"
        name, op, default = m.group(3), m.group(4), m.group(5)
        if name in variables:
            return variables[name]
        if op is not None:
            return default or ""
        missing.append(name)
        return m.group(0)

    return _PATTERN.sub(repl, text)


def _walk(value: Any, variables: Mapping[str, str], missing: list[str]) -> Any:
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


def substitute_object(obj: dict[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if annotations.get(SUBSTITUTE_ANNOTATION) == "disabled":
        return obj
    missing: list[str] = []
    out = _walk(obj, variables, missing)
    if missing:
        label = f"{obj.get('kind', '?')}/{(obj.get('metadata') or {}).get('name', '?')}"
        raise SubstitutionError(sorted(set(missing)), label)
    return out
