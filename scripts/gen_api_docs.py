"""Generate docs/api.md from the CRD schemas in crds/, so the API reference cannot drift from them.

    python scripts/gen_api_docs.py          # rewrite docs/api.md
    python scripts/gen_api_docs.py --check  # exit 1 when docs/api.md is out of date

One table per kind and section (spec, status): every field as a dotted path (`[]` for list items), its
type, default, validation (enum, pattern, bounds, required, one-of) and description, in schema order.
tests/unit/docs/test_api_docs_in_sync.py runs the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CRDS = ROOT / "crds"
OUTPUT = ROOT / "docs" / "api.md"
ORDER = ("GitRepository", "Terraform", "ManifestSet", "PlanPolicy", "PolicyException", "NotificationProvider",
         "NotificationRule")
REGENERATE = "python scripts/gen_api_docs.py"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _text(text: Any) -> str:
    """Prose for a table cell: `<ref>` placeholders shown literally, not taken for HTML tags."""
    return _cell(text).replace("<", "&lt;").replace(">", "&gt;")


def _type(schema: dict[str, Any]) -> str:
    if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("type"):
        return "any"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"[]{_type(schema.get('items') or {})}"
    if schema.get("format"):
        return f"{kind} ({schema['format']})"
    return str(kind)


def _validation(schema: dict[str, Any], required: bool) -> str:
    parts = []
    if required:
        parts.append("required")
    if "enum" in schema:
        parts.append("one of " + ", ".join(f"`{json.dumps(v) if not isinstance(v, str) else v}`"
                                           for v in schema["enum"]))
    if "pattern" in schema:
        parts.append(f"pattern `{schema['pattern']}`")
    for key, label in (("minLength", "min length"), ("maxLength", "max length"), ("minimum", "min"),
                       ("maximum", "max"), ("minItems", "min items"), ("maxItems", "max items")):
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    if schema.get("oneOf"):
        options = [" + ".join(o.get("required") or []) for o in schema["oneOf"]]
        parts.append("exactly one of: " + ", ".join(f"`{o}`" for o in options if o))
    if schema.get("nullable"):
        parts.append("nullable")
    return "; ".join(parts)


def _default(schema: dict[str, Any]) -> str:
    if "default" not in schema:
        return ""
    value = schema["default"]
    return f"`{value}`" if isinstance(value, str) else f"`{json.dumps(value)}`"


def _fields(schema: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(path, schema, required) for every field below `schema`, depth first in declaration order."""
    required = set(schema.get("required") or [])
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield path, sub, name in required
        yield from _nested(sub, path)


def _nested(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any], bool]]:
    if schema.get("type") == "array":
        items = schema.get("items") or {}
        if items.get("properties"):
            yield from _fields(items, f"{path}[]")
    elif schema.get("properties"):
        yield from _fields(schema, path)


def _table(schema: dict[str, Any], section: str) -> list[str]:
    rows = ["| Field | Type | Default | Validation | Description |", "| --- | --- | --- | --- | --- |"]
    for path, sub, required in _fields(schema, section):
        rows.append(f"| `{_cell(path)}` | {_cell(_type(sub))} | {_cell(_default(sub))} | "
                    f"{_cell(_validation(sub, required))} | {_text(sub.get('description', ''))} |")
    return rows


def _kind(crd: dict[str, Any]) -> list[str]:
    spec = crd["spec"]
    names = spec["names"]
    version = next(v for v in spec["versions"] if v.get("storage"))
    schema = version["schema"]["openAPIV3Schema"]
    props = schema.get("properties") or {}
    lines = [f"## {names['kind']}", "",
             f"`{spec['group']}/{version['name']}`, {spec['scope'].lower()}; "
             f"plural `{names['plural']}`" + (f", short names {', '.join(f'`{s}`' for s in names.get('shortNames') or [])}"
                                             if names.get("shortNames") else "") + ".", ""]
    if schema.get("description"):
        lines += [schema["description"], ""]
    columns = version.get("additionalPrinterColumns") or []
    if columns:
        lines += ["`kubectl get` columns: " + ", ".join(f"{c['name']} (`{c['jsonPath']}`)" for c in columns) + ".", ""]
    for section in ("spec", "status"):
        if section in props:
            lines += [f"### {names['kind']} {section}", ""]
            if props[section].get("description"):
                lines += [props[section]["description"], ""]
            lines += _table(props[section], section) + [""]
    return lines


def load_crds(directory: Path = CRDS) -> list[dict[str, Any]]:
    crds = []
    for path in sorted(directory.glob("*.yaml")):
        crds += [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "CustomResourceDefinition"]
    return sorted(crds, key=lambda c: ORDER.index(c["spec"]["names"]["kind"])
                  if c["spec"]["names"]["kind"] in ORDER else len(ORDER))


def render(crds: list[dict[str, Any]]) -> str:
    lines = ["# API reference", "",
             f"<!-- Generated from crds/*.yaml by `{REGENERATE}`; do not edit by hand. -->", "",
             "All kinds are in the group `tfcontroller.io`, version `v1alpha1`, and namespaced. Durations are "
             "Go-style strings (`30s`, `5m`, `1h30m`). Annotations, owned Secret names and plan ids are described "
             "in [api-examples/README.md](api-examples/README.md); examples are in [api-examples/](api-examples/).",
             "", "Kinds: " + ", ".join(f"[{c['spec']['names']['kind']}](#{c['spec']['names']['kind'].lower()})"
                                       for c in crds) + ".", ""]
    for crd in crds:
        lines += _kind(crd)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate docs/api.md from crds/.")
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/api.md is out of date")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="file to write or check (default docs/api.md)")
    args = parser.parse_args(argv)
    text = render(load_crds())
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; regenerate it with: {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
