"""The readable plan: what a reviewer needs to approve, with nothing sensitive in it, and its one rendering.

Why: reading a pending plan used to need Terraform, the providers and the controller's keys (the plan
file is encrypted and only Terraform reads it). The controller builds this document from the `terraform
show -json` it already has, stores it beside the plan (plan_view_store.py), and `tfcontroller plan show`
and the dashboard read it with nothing but read access to Secrets.

Pure: a `show -json` dict in, a JSON-able dict out (the shape is Interface 1 of docs/architecture.md).
What is masked, before anything is stored (design.md §4.7):
- values Terraform marks sensitive, in `before` and `after`, at any depth (a whole object, one element
  of a list): `(sensitive)`; the walk never descends into a sensitive value, so not even its structure
  leaves (the attribute walk is drift.diff_attributes, the same as the drift report's);
- values Terraform knows only after apply: `(known after apply)`;
- every input variable's value: only the names are kept (variables often come from Secrets);
- any value containing one of `secrets` (the texts the controller read from Secrets or unsealed, and the
  values of variables the module declares sensitive): Terraform does not know a module's input came from
  a Secret, so a module that passes one through a plain variable would otherwise show it. Such a value
  becomes `(sensitive)` and an address or path containing one has it replaced by `***` (api/redact.py).

The size bound: a plan of thousands of resources would make a document nobody reads and the API server
chunks by the megabyte; above `max_bytes` of JSON, resource entries are left out (deletions and
replacements are kept first: they are what a reviewer must not miss) and `omitted` counts them; the
counts and outputs always stay.

`diff_lines` turns the document into lines of a few kinds; the CLI colours them with ANSI, the dashboard
with CSS classes `diff-<kind>`, and `render_text` (status texts, `plan.human_readable`) joins them plain:
one rendering.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.plan_counts import counts_text
from tfcontroller.api.redact import scrub, secrets_in_order
from tfcontroller.terraform.drift import AttributeChange, analyze, diff_attributes, join_key
from tfcontroller.terraform.plan import SENSITIVE, UNKNOWN, ResourceChange, masked, summarize

MAX_VIEW_BYTES = 2 * 1024 * 1024  # of JSON, before gzip: far more than anyone reads, a few chunks at most
LINE_KINDS = ("summary", "heading", "create", "update", "delete", "replace", "read", "forget", "import", "move",
              "attribute", "output")
SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "-/+", "read": "<=", "forget": ".",
           "import": "<-", "move": "->"}
_FIRST_KEPT = {"delete": 0, "replace": 0, "forget": 1, "update": 2, "import": 2, "move": 2, "create": 3, "read": 4}


@dataclass(frozen=True)
class DiffLine:
    """One line of the rendered plan: `kind` (LINE_KINDS) picks its colour, `indent` its nesting level."""

    kind: str
    text: str
    indent: int = 0


# ---- building -----------------------------------------------------------------------------------------


def build_plan_view(show_json: Mapping[str, Any], *, plan_id: str, revision: str, created_at: str, is_drift: bool,
                    is_destroy: bool, secrets: Iterable[str] = (), max_bytes: int = MAX_VIEW_BYTES) -> dict[str, Any]:
    """The readable document of a plan (module docstring: what is masked, the size bound)."""
    hidden = secrets_in_order(secrets)
    changes = [_resource(rc, hidden) for rc in _shown_changes(show_json)]
    summary = summarize(show_json)
    counts = {"add": summary.add, "change": summary.change, "destroy": summary.destroy,
              "replace": sum(1 for c in changes if c["action"] == "replace")}
    if summary.imports:
        counts["import"] = summary.imports
    if summary.moves:
        counts["move"] = summary.moves
    forget = sum(1 for c in changes if c["action"] == "forget")
    if forget:
        counts["forget"] = forget
    view = {
        "planId": plan_id, "revision": revision, "createdAt": created_at, "isDrift": is_drift,
        "isDestroy": is_destroy, "terraformVersion": str(show_json.get("terraform_version") or ""),
        "counts": counts,
        "changes": changes,
        "drift": _drift(show_json, hidden),
        "outputs": _outputs(show_json, hidden),
        "variables": sorted(str(n) for n in (show_json.get("variables") or {})),
        "omitted": 0,
    }
    return _bounded(view, max_bytes)


def _shown_changes(show_json: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Resource changes worth a line: anything but no-ops (data sources only when read during apply); a
    no-op that imports or moves the resource is a change of the state and has its line."""
    shown = [rc for rc in show_json.get("resource_changes") or []
             if set((rc.get("change") or {}).get("actions") or []) - {"no-op"} or _import_or_move(rc)]
    return sorted(shown, key=lambda rc: str(rc.get("address")))


def _import_or_move(rc: Mapping[str, Any]) -> str:
    """"import" or "move" for a resource the plan imports or moves, else ""."""
    if (rc.get("change") or {}).get("importing"):
        return "import"
    previous = rc.get("previous_address")
    return "move" if previous and previous != rc.get("address") else ""


def action_of(actions: Iterable[str]) -> str:
    """create, update, delete, replace (delete and create in either order, or forget and create), read,
    forget; another combination joined with `+`."""
    acts = tuple(actions)
    if set(acts) == {"create", "forget"}:
        return "replace"
    return ResourceChange("", acts).kind


def _resource(rc: Mapping[str, Any], hidden: list[str]) -> dict[str, Any]:
    ch = rc.get("change") or {}
    actions = [str(a) for a in ch.get("actions") or []]
    action = action_of(actions)
    if action == "no-op":
        action = _import_or_move(rc) or action
    attributes: list[AttributeChange] = []
    created = action in ("create", "read")
    if action not in ("delete", "forget"):
        attributes = diff_attributes(
            None if created else ch.get("before"), ch.get("after"),
            before_sensitive=None if created else ch.get("before_sensitive"),
            after_sensitive=ch.get("after_sensitive"), after_unknown=ch.get("after_unknown"), expand=True)
    forcing = [_path_text(p) for p in ch.get("replace_paths") or [] if isinstance(p, list)]
    entry: dict[str, Any] = {
        "address": scrub(str(rc.get("address") or ""), hidden), "type": str(rc.get("type") or ""),
        "action": action, "actions": actions, "actionReason": rc.get("action_reason"),
        "attributes": [_attribute(a, hidden, action == "replace" and _under_any(a.path, forcing), created)
                       for a in attributes],
    }
    previous = rc.get("previous_address")
    if previous and previous != rc.get("address"):
        entry["previousAddress"] = scrub(str(previous), hidden)
    return entry


def _attribute(change: AttributeChange, hidden: list[str], forces: bool, created: bool = False) -> dict[str, Any]:
    before, hid_before = _conceal(None if created else change.before, hidden)
    after, hid_after = _conceal(change.after, hidden)
    out = {"path": scrub(change.path, hidden), "before": before, "after": after,
           "sensitive": change.sensitive or hid_before or hid_after, "unknown": change.unknown}
    if forces:
        out["forcesReplacement"] = True
    return out


def _drift(show_json: Mapping[str, Any], hidden: list[str]) -> list[dict[str, Any]]:
    """Changes outside Terraform as the drift report counts them (drift.analyze: only those that matter)."""
    types = {str(rc.get("address")): str(rc.get("type") or "") for rc in show_json.get("resource_drift") or []}
    return [{"address": scrub(r.address, hidden), "type": types.get(r.address, ""),
             "action": action_of(r.action.split("-")), "actions": r.action.split("-"), "actionReason": None,
             "attributes": [_attribute(a, hidden, False) for a in r.changed_attributes]}
            for r in analyze(show_json).resources]


def _outputs(show_json: Mapping[str, Any], hidden: list[str]) -> list[dict[str, Any]]:
    out = []
    for name, oc in sorted((show_json.get("output_changes") or {}).items()):
        oc = oc or {}
        action = action_of(a for a in oc.get("actions") or [] if a != "no-op")
        if not action:  # no-op, or no actions at all
            continue
        before, hid_before = _conceal(masked(oc.get("before"), oc.get("before_sensitive", False), False), hidden)
        after, hid_after = _conceal(masked(oc.get("after"), oc.get("after_sensitive", False),
                                           oc.get("after_unknown", False)), hidden)
        out.append({"name": name, "action": action,
                    "sensitive": oc.get("after_sensitive") is True or oc.get("before_sensitive") is True
                    or hid_before or hid_after,
                    "before": None if action == "create" else before, "after": None if action == "delete" else after})
    return out


def _conceal(value: Any, hidden: list[str]) -> tuple[Any, bool]:
    """`value` with every string containing, or number equal to, a hidden text replaced by `(sensitive)` (in a
    map key by `***`); and whether anything was."""
    if isinstance(value, str):
        return (SENSITIVE, True) if any(h in value for h in hidden) else (value, False)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (SENSITIVE, True) if str(value) in hidden or json.dumps(value) in hidden else (value, False)
    if isinstance(value, Mapping):  # a key may hold one too (a map keyed by a Secret's value)
        pairs = {(scrub(k, hidden) if isinstance(k, str) else k): _conceal(v, hidden) for k, v in value.items()}
        keys_hid = any(isinstance(k, str) and scrub(k, hidden) != k for k in value)
        return {k: v for k, (v, _) in pairs.items()}, keys_hid or any(h for _, h in pairs.values())
    if isinstance(value, list):
        items = [_conceal(v, hidden) for v in value]
        return [v for v, _ in items], any(h for _, h in items)
    return value, False


def _path_text(steps: list[Any]) -> str:
    """A `replace_paths` entry (["tags", "env"], ["rule", 0]) in the attribute path syntax of drift.py."""
    text = ""
    for step in steps:
        text = f"{text}[{step}]" if isinstance(step, int) else join_key(text, str(step))
    return text


def _under_any(path: str, prefixes: list[str]) -> bool:
    return any(path == p or (path.startswith(p) and path[len(p)] in ".[") for p in prefixes)


def _bounded(view: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """The view within `max_bytes` of JSON: resource entries left out (counted in `omitted`) until it fits;
    deletions and replacements are kept first, then updates, creates, reads; drift after the changes."""
    if _size(view) <= max_bytes:
        return view
    budget = max_bytes - _size({**view, "changes": [], "drift": [], "omitted": 10 ** 9})
    entries = [("changes", i, e) for i, e in enumerate(view["changes"])] + \
              [("drift", i, e) for i, e in enumerate(view["drift"])]
    entries.sort(key=lambda t: (t[0] == "drift", _FIRST_KEPT.get(t[2]["action"], 5)))
    kept: dict[str, set[int]] = {"changes": set(), "drift": set()}
    for key, i, entry in entries:
        cost = _size(entry) + 1
        if cost <= budget:
            budget -= cost
            kept[key].add(i)
    out = {**view, "changes": [e for i, e in enumerate(view["changes"]) if i in kept["changes"]],
           "drift": [e for i, e in enumerate(view["drift"]) if i in kept["drift"]]}
    out["omitted"] = len(view["changes"]) + len(view["drift"]) - len(out["changes"]) - len(out["drift"])
    return out


def _size(doc: Any) -> int:
    return len(json.dumps(doc, separators=(",", ":"), sort_keys=True, default=str).encode())


# ---- rendering ----------------------------------------------------------------------------------------


def diff_lines(view: Mapping[str, Any]) -> list[DiffLine]:
    """The document as lines: the counts, then changes outside Terraform, the resource changes with their
    changed attributes, a note on left-out entries, and the output changes."""
    lines = [DiffLine("summary", summary_text(view.get("counts") or {}))]
    drift = view.get("drift") or []
    if drift:
        lines.append(DiffLine("heading", "Changes outside Terraform:"))
        for entry in drift:
            lines.extend(_resource_lines(entry))
        if view.get("changes"):
            lines.append(DiffLine("heading", "Changes:"))
    for entry in view.get("changes") or []:
        lines.extend(_resource_lines(entry))
    if view.get("omitted"):
        lines.append(DiffLine("heading", f"... and {view['omitted']} more resource changes, left out because the "
                                         "plan is too large to keep readable (the counts above are complete; "
                                         "`tfcontroller plan show --json` shows all)"))
    outputs = view.get("outputs") or []
    if outputs:
        lines.append(DiffLine("heading", "Outputs:"))
        lines.extend(DiffLine("output", _output_text(o), 1) for o in outputs)
    return lines


def summary_text(counts: Mapping[str, Any]) -> str:
    text = "Plan: " + counts_text(int(counts.get("add", 0)), int(counts.get("change", 0)),
                                  int(counts.get("destroy", 0)), int(counts.get("import", 0)),
                                  int(counts.get("move", 0)))
    return text + (f", {counts['forget']} to forget." if counts.get("forget") else ".")


def _resource_lines(entry: Mapping[str, Any]) -> list[DiffLine]:
    action = str(entry.get("action") or "")
    kind = action if action in SYMBOLS else "update"
    moved = ""
    if entry.get("previousAddress"):
        moved = f"{'' if action == 'move' else '; moved'} from {entry['previousAddress']}"
    lines = [DiffLine(kind, f"{SYMBOLS.get(action, '?')} {entry.get('address')} ({action}{moved})", 1)]
    for attr in entry.get("attributes") or []:
        if action in ("create", "read"):
            text = f"{attr['path']} = {_fmt(attr.get('after'))}"
        else:
            text = f"{attr['path']}: {_fmt(attr.get('before'))} -> {_fmt(attr.get('after'))}"
        if attr.get("forcesReplacement"):
            text += "  # forces replacement"
        lines.append(DiffLine("attribute", text, 3))
    return lines


def _output_text(output: Mapping[str, Any]) -> str:
    action, name = output.get("action"), output.get("name")
    if action == "create":
        return f"+ {name} = {_fmt(output.get('after'))}"
    if action == "delete":
        return f"- {name}"
    return f"~ {name}: {_fmt(output.get('before'))} -> {_fmt(output.get('after'))}"


def _fmt(value: Any) -> str:
    """A value as the diff shows it: JSON, except the markers, which show bare."""
    if isinstance(value, str) and value in (SENSITIVE, UNKNOWN):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def render_text(lines: Iterable[DiffLine]) -> str:
    """The lines as plain text, two spaces per indent level."""
    return "\n".join("  " * line.indent + line.text for line in lines)
