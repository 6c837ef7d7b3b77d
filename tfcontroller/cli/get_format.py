"""What `tfcontroller get` prints, as pure functions: which objects the words name, the table's columns
(default and `-o wide`), the `-o name` form and the `-o yaml|json` document, as kubectl prints them.

kubectl's rules, followed here so that its users need nothing new:
- words: `KIND` (a list), `KIND NAME...`, `KIND/NAME...`, comma-separated kinds (`tf,gitrepo`) and `all`
  (every kind of ours); names after several kinds are looked up in each of them.
- `-o name`: `kind.group/name` (`terraform.tfcontroller.io/bucket`); the same form names the rows when a
  table shows more than one kind.
- `-o yaml|json`: no `metadata.managedFields`, keys in kubectl's order for custom resources (sorted:
  apiVersion, kind, metadata, spec, status; a `List` is apiVersion, items, kind, metadata).
- MESSAGE: the Ready condition's message on one line (as `flux get` shows it), shortened with `…` to fit
  the terminal (`$COLUMNS`, else its width; whole when the output is not a terminal); `-o wide` prints
  it whole beside the suspend, source and path (URL and ref) columns.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from tfcontroller.api.terraform_status import PendingPlan
from tfcontroller.cli import kubectx
from tfcontroller.cli.main import CLIError
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, TERRAFORMS, Resource

ALL_KINDS: tuple[Resource, ...] = (GITREPOSITORIES, TERRAFORMS, MANIFESTSETS)  # `get all`, in data-flow order
MIN_MESSAGE = 20  # a MESSAGE column narrower than this is not worth reading: the table overflows instead
ELLIPSIS = "…"


@dataclass
class Target:
    """One kind to show: all its objects in the namespace (`names` empty) or the named ones."""

    resource: Resource
    names: list[str] = field(default_factory=list)


def _kinds(text: str) -> list[Resource]:
    out: list[Resource] = []
    for word in text.split(","):
        found = list(ALL_KINDS) if word.lower() == "all" else [kubectx.resource_for_kind(word)] if word else []
        out.extend(r for r in found if r not in out)
    if not out:
        raise CLIError(f"no kind in {text!r}", kubectx.EXIT_USAGE)
    return out


def parse_targets(words: Sequence[str]) -> list[Target]:
    """kubectl's `get` arguments → the kinds and names to show, in the order given."""
    if not words:
        raise CLIError(f"a KIND is required (one of: {kubectx.KIND_CHOICES}, or all)", kubectx.EXIT_USAGE)
    if any("/" in w for w in words):
        if not all("/" in w for w in words):
            raise CLIError("there is no need to name a KIND when every argument is KIND/NAME: use either "
                           "KIND NAME... or KIND/NAME...", kubectx.EXIT_USAGE)
        targets: list[Target] = []
        for word in words:
            kind, name = word.split("/", 1)
            kinds = _kinds(kind)
            if len(kinds) != 1 or not name:
                raise CLIError(f"{word!r}: expected KIND/NAME with one kind and a name", kubectx.EXIT_USAGE)
            same = next((t for t in targets if t.resource == kinds[0]), None)
            if same is None:
                targets.append(Target(kinds[0], [name]))
            elif name not in same.names:
                same.names.append(name)
        return targets
    names = list(dict.fromkeys(words[1:]))
    return [Target(r, list(names)) for r in _kinds(words[0])]


def qualified_name(resource: Resource, name: str) -> str:
    """kubectl's `-o name` form: `terraform.tfcontroller.io/bucket`."""
    return f"{resource.kind.lower()}.{resource.group}/{name}" if resource.group else \
        f"{resource.kind.lower()}/{name}"


# ---- table -----------------------------------------------------------------------------------------


def headers(resource: Resource, *, wide: bool, namespaces: bool) -> list[str]:
    cols = ["NAME", "READY", "REASON", "REVISION"]
    if resource == TERRAFORMS:
        cols.append("PLAN")
    cols.append("AGE")
    if wide:
        cols += ["SUSPENDED", "URL", "REF"] if resource == GITREPOSITORIES else ["SUSPENDED", "SOURCE", "PATH"]
    cols.append("MESSAGE")
    return ["NAMESPACE", *cols] if namespaces else cols


def _ref(spec: dict[str, Any]) -> str:
    ref = spec.get("ref") or {}
    for key in ("commit", "tag", "semver", "name", "branch"):
        if ref.get(key):
            return f"{key}:{ref[key]}" if key != "branch" else str(ref[key])
    return ""


def _source(spec: dict[str, Any]) -> str:
    ref = spec.get("sourceRef") or {}
    if not ref.get("name"):
        return ""
    name = f"{ref['namespace']}/{ref['name']}" if ref.get("namespace") else str(ref["name"])
    return f"{str(ref.get('kind') or 'GitRepository').lower()}/{name}"


def one_line(message: str) -> str:
    return " ".join(message.split())


def row(obj: dict[str, Any], resource: Resource, *, wide: bool, namespaces: bool, qualified: bool = False,
        now: dt.datetime | None = None) -> list[str]:
    """The cells of one object, in `headers`' order; MESSAGE whole (`fit_messages` shortens it)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ready = kubectx.condition(obj, "Ready") or {}
    name = str(meta.get("name", ""))
    reason = "Suspended" if spec.get("suspend") else str(ready.get("reason") or "")
    cells = [qualified_name(resource, name) if qualified else name, str(ready.get("status") or "Unknown"),
             reason, kubectx.revision(obj)]
    if resource == TERRAFORMS:
        cells.append(PendingPlan.of(obj.get("status")).id)
    cells.append(kubectx.age(meta.get("creationTimestamp"), now))
    if wide:
        suspended = "True" if spec.get("suspend") else "False"
        if resource == GITREPOSITORIES:
            cells += [suspended, str(spec.get("url") or ""), _ref(spec)]
        else:
            cells += [suspended, _source(spec), str(spec.get("path") or "")]
    cells.append(one_line(str(ready.get("message") or "")))
    return [str(meta.get("namespace", "")), *cells] if namespaces else cells


def shorten(text: str, width: int) -> str:
    """`text` in at most `width` characters, cut at a word boundary when one is near, ending in `…`."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    cut = text[:width - 1]
    space = cut.rfind(" ")
    if space >= width * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + ELLIPSIS


def column_widths(rows: Sequence[Sequence[str]]) -> list[int]:
    return [max(len(r[i]) for r in rows) for i in range(len(rows[0]))] if rows else []


def fit_messages(head: Sequence[str], rows: Sequence[Sequence[str]], columns: int | None) -> list[list[str]]:
    """The rows with the last cell (MESSAGE) shortened so that each line fits `columns` characters
    (None: no limit, as `-o wide`); never narrower than MIN_MESSAGE."""
    out = [list(r) for r in rows]
    if columns is None or not out:
        return out
    widths = column_widths([list(head)[:-1], *(r[:-1] for r in out)])
    room = max(MIN_MESSAGE, columns - sum(widths) - 3 * len(widths))
    for r in out:
        r[-1] = shorten(r[-1], room)
    return out


def format_table(head: Sequence[str], rows: Sequence[Sequence[str]], widths: list[int] | None = None) -> list[str]:
    """kubectl's plain table lines: columns padded to the widest cell plus three spaces. `widths` (from an
    earlier table) keeps the columns of `get -w`'s later lines under the first table's headers."""
    all_rows = [list(head), *rows] if head else [list(r) for r in rows]
    widths = widths or column_widths(all_rows)
    lines = []
    for r in all_rows:
        cells = [c.ljust(widths[i]) if i < len(widths) else c for i, c in enumerate(r)]
        lines.append("   ".join(cells).rstrip())
    return lines


# ---- documents -------------------------------------------------------------------------------------


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as kubectl prints it: `metadata.managedFields` left out (the caller's dict is kept)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def document(items: Sequence[dict[str, Any]], single: bool) -> dict[str, Any]:
    """One object, or a `List` of several (kubectl's shape)."""
    if single and len(items) == 1:
        return clean(items[0])
    return {"apiVersion": "v1", "kind": "List", "items": [clean(i) for i in items],
            "metadata": {"resourceVersion": ""}}


def render(doc: dict[str, Any], fmt: str) -> str:
    """`-o yaml|json` text, keys sorted as kubectl prints custom resources."""
    if fmt == "json":
        return json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=False) + "\n"
    return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False, allow_unicode=True)
