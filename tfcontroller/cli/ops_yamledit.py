"""Set `spec.approvePlan` of one Terraform document in a YAML file, changing nothing else in the file.

Teams that approve through pull requests keep the Terraform object in Git; rewriting the file with a YAML
library would drop comments, reorder keys and reflow strings, which makes the review diff noisy. So the
edit is textual — replace the `approvePlan:` line of that document's `spec`, or insert one as the first
key of `spec` — and then verified by parsing: the edited document must equal the original one with only
`spec.approvePlan` changed, and every other document must be byte-for-byte unchanged. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

_SEPARATOR = re.compile(r"^---(\s|$)")
_SPEC_LINE = re.compile(r"^spec:[ \t]*(#.*)?$")
_KEY_LINE = re.compile(r"^(?P<indent>[ \t]+)(?P<key>[^\s#:][^:]*?):(\s|$)")


class EditError(ValueError):
    """The file cannot be edited safely (the object is missing, or the spec is written in flow style)."""


@dataclass(frozen=True)
class Edit:
    text: str
    changed: bool  # False when spec.approvePlan already had the value


def _split_documents(text: str) -> list[str]:
    """The file cut before each `---` line; joining the pieces gives the file back exactly."""
    pieces: list[str] = []
    current: list[str] = []
    for line in text.splitlines(keepends=True):
        if _SEPARATOR.match(line) and current:
            pieces.append("".join(current))
            current = []
        current.append(line)
    if current:
        pieces.append("".join(current))
    return pieces


def _load(piece: str) -> Any:
    try:
        return yaml.safe_load(piece)
    except yaml.YAMLError as exc:
        raise EditError(f"the file is not valid YAML: {exc}") from None


def _matches(doc: Any, name: str, namespace: str | None) -> bool:
    if not isinstance(doc, dict) or doc.get("kind") != "Terraform":
        return False
    if not str(doc.get("apiVersion", "")).startswith("tfcontroller.io/"):
        return False
    meta = doc.get("metadata") or {}
    if meta.get("name") != name:
        return False
    return namespace is None or meta.get("namespace") in (None, namespace)


def _edit_piece(piece: str, plan_id: str) -> str:
    lines = piece.splitlines(keepends=True)
    spec_at = next((i for i, line in enumerate(lines) if _SPEC_LINE.match(line.rstrip("\r\n"))), None)
    if spec_at is None:
        raise EditError("spec is not written as a block mapping (`spec:` on its own line); edit it by hand")
    end = len(lines)
    indent: str | None = None
    for i in range(spec_at + 1, len(lines)):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not lines[i][0].isspace():
            end = i
            break
        if indent is None:
            m = _KEY_LINE.match(lines[i])
            indent = m.group("indent") if m else None
            if indent is None:
                raise EditError("spec's first line is not a `key:` line; edit it by hand")
    newline = "\r\n" if lines[spec_at].endswith("\r\n") else "\n"
    new_line = f"{indent or '  '}approvePlan: {plan_id}{newline}"
    for i in range(spec_at + 1, end):
        m = _KEY_LINE.match(lines[i])
        if m and m.group("indent") == indent and m.group("key").strip("'\"") == "approvePlan":
            comment = re.search(r"\s+#.*$", lines[i].rstrip("\r\n"))
            lines[i] = new_line if comment is None else new_line.rstrip("\r\n") + comment.group(0) + newline
            return "".join(lines)
    lines.insert(spec_at + 1, new_line)
    return "".join(lines)


def set_approve_plan(text: str, name: str, plan_id: str, namespace: str | None = None) -> Edit:
    """`text` with `spec.approvePlan: <plan_id>` in the Terraform document named `name`."""
    pieces = _split_documents(text)
    found = [i for i, piece in enumerate(pieces) if _matches(_load(piece), name, namespace)]
    if not found:
        raise EditError(f"no Terraform named {name!r} in the file")
    if len(found) > 1:
        raise EditError(f"{len(found)} Terraform documents named {name!r} in the file; pass -n to choose")
    index = found[0]
    before = _load(pieces[index])
    if (before.get("spec") or {}).get("approvePlan") == plan_id:
        return Edit(text, changed=False)
    edited = _edit_piece(pieces[index], plan_id)
    after = _load(edited)
    expected = dict(before)
    expected["spec"] = {**(before.get("spec") or {}), "approvePlan": plan_id}
    if after != expected:
        raise EditError("the textual edit did not give the expected document; edit the file by hand")
    pieces[index] = edited
    return Edit("".join(pieces), changed=True)
