"""Server-side apply and managedFields bookkeeping, as pure functions on plain dicts.

The development API server calls these for apply requests and after every write; they never touch
the store, so they are unit-tested on dicts (tests/unit/dev/cluster/test_apply.py). Keyed lists use
the strategic merge patch's merge-key table (`patch.merge_key`).

Simplifications compared with the real kube-apiserver (kept here so the list stays accurate):

- Field ownership is tracked per (manager, operation) with the same keyed-list table as above; lists
  without a key and lists of scalars are atomic (owned as one leaf). Map fields are not marked with
  `.`, only keyed list items are.
- A conflict is raised when another manager owns a leaf the applier sets to a different value.
  Forcing moves ownership of those leaves to the applier.
- A field the manager applied before and omits now is removed when no other manager owns it or
  anything below it; an emptied parent map is left in place.
- `null` in an applied configuration means "not applied". Union of ownership for identical values
  needs no extra bookkeeping: both managers simply list the field.
- `update_managed_fields` gives the writer of a PUT/PATCH/POST ownership of every leaf whose value it
  changed (all leaves on create) and takes those leaves from other managers; leaves the write removed
  leave every manager's set, and paths absent before and after (e.g. a Secret's write-only
  `stringData`) stay listed, as in the real server. managedFields sent with a write (not empty, not
  on a subresource) replace the stored ones before that bookkeeping, as the real server allows.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tfcontroller.dev.cluster.patch import JSON, merge_key, strip_directives


@dataclass
class ApplyConflictError(Exception):
    """Server-side apply would take fields owned by another manager; the server answers 409."""

    conflicts: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        n = len(self.conflicts)
        return f"Apply failed with {n} conflict{'s' if n != 1 else ''}: " + "; ".join(self.conflicts)



Path = tuple[str, ...]
_UNMANAGED_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
}


def _item_element(item: dict[str, Any], key: str) -> str:
    return "k:" + json.dumps({key: item[key]}, separators=(",", ":"))


def _fields(value: JSON, prefix: Path, kind: str | None) -> dict[Path, JSON]:
    """Leaves (and keyed list items, ending in ".") of `value`, each with its value."""
    out: dict[Path, JSON] = {}
    if not isinstance(value, dict) or not value:
        out[prefix] = value
        return out
    for name, child in value.items():
        if child is None:
            continue
        if prefix == () and name in ("apiVersion", "kind"):
            continue
        if prefix == ("f:metadata",) and name in _UNMANAGED_META:
            continue
        here = (*prefix, f"f:{name}")
        key = merge_key(name, child, kind) if isinstance(child, list) else None
        if isinstance(child, list) and key and child and all(isinstance(i, dict) and key in i for i in child):
            for item in child:
                item_path = (*here, _item_element(item, key))
                out[(*item_path, ".")] = None
                out.update(_fields(item, item_path, kind))
        elif isinstance(child, dict) and child:
            out.update(_fields(child, here, kind))
        else:
            out[here] = child
    return out


def _resolve(obj: JSON, path: Path) -> tuple[bool, JSON]:
    """Follow a field path; (found, value)."""
    node = obj
    for element in path:
        if element == ".":
            return True, node
        if element.startswith("f:") and isinstance(node, dict) and element[2:] in node:
            node = node[element[2:]]
        elif element.startswith("k:") and isinstance(node, list):
            want = json.loads(element[2:])
            node = next(
                (i for i in node if isinstance(i, dict) and all(i.get(k) == v for k, v in want.items())), None
            )
            if node is None:
                return False, None
        else:
            return False, None
    return True, node


def _delete_path(obj: dict[str, Any], path: Path) -> None:
    if path and path[-1] == ".":
        path = path[:-1]
    if not path:
        return
    found, parent = _resolve(obj, path[:-1])
    if not found:
        return
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        want = json.loads(last[2:])
        parent[:] = [
            i for i in parent if not (isinstance(i, dict) and all(i.get(k) == v for k, v in want.items()))
        ]


def fields_to_v1(paths: set[Path] | list[Path]) -> dict[str, Any]:
    """The `fieldsV1` tree of a set of field paths."""
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    return tree


def fields_from_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    """The field paths of a `fieldsV1` tree (the inverse of fields_to_v1)."""
    out: set[Path] = set()
    for element, child in (tree or {}).items():
        here = (*prefix, element)
        if element == "." or not child:
            out.add(here)
        else:
            out |= fields_from_v1(child, here)
    return out


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("metadata") or {}).get("managedFields") or [])


def _entry(
    manager: str, operation: str, api_version: str, paths: set[Path], subresource: str = ""
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": _now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_to_v1(paths),
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def _ssa_merge(live: JSON, applied: JSON, name: str | None, kind: str | None) -> JSON:
    if isinstance(applied, dict):
        base = copy.deepcopy(live) if isinstance(live, dict) else {}
        for k, v in applied.items():
            if v is None:
                continue
            base[k] = _ssa_merge(base.get(k), v, k, kind)
        return base
    if isinstance(applied, list) and name is not None:
        key = merge_key(name, applied, kind)
        if key and isinstance(live, list) and all(isinstance(i, dict) and key in i for i in applied):
            result = copy.deepcopy(live)
            for item in applied:
                idx = next(
                    (i for i, o in enumerate(result) if isinstance(o, dict) and o.get(key) == item[key]), None
                )
                if idx is None:
                    result.append(strip_directives(item))
                else:
                    result[idx] = _ssa_merge(result[idx], item, None, kind)
            return result
    return strip_directives(applied)


def _below(paths: set[Path], prefix: Path) -> bool:
    base = prefix[:-1] if prefix and prefix[-1] == "." else prefix
    return any(p[: len(base)] == base for p in paths)


def _parents_first(path: Path) -> float:
    """Sort key: a keyed item ("…", k:{…}, ".") comes before its own fields, so they vanish with it."""
    return len(path) - 1.5 if path[-1] == "." else len(path)


def server_side_apply(
    live: dict[str, Any] | None, applied: dict[str, Any], manager: str, force: bool
) -> dict[str, Any]:
    """Merge an applied configuration into the live object the way `kubectl apply --server-side` expects.

    Returns the new object with `metadata.managedFields` updated; raises ApplyConflictError when
    another manager owns a leaf set to a different value and `force` is false.
    """
    kind = applied.get("kind") or (live or {}).get("kind")
    api_version = applied.get("apiVersion") or (live or {}).get("apiVersion", "")
    current = copy.deepcopy(live) if live else {}
    applied_values = _fields(applied, (), kind)
    applied_paths = set(applied_values)
    entries = _entries(current)
    mine = [e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"]
    others = [e for e in entries if not (e.get("manager") == manager and e.get("operation") == "Apply")]

    conflicts: list[str] = []
    taken: set[Path] = set()
    for entry in others:
        owned = fields_from_v1(entry.get("fieldsV1") or {})
        for path in sorted(owned & applied_paths):
            if path[-1] == ".":
                continue
            found, value = _resolve(current, path)
            if found and value != applied_values[path]:
                taken.add(path)
                dotted = "".join("." + e[2:] if e.startswith("f:") else f"[{e[2:]}]" for e in path)
                conflicts.append(
                    f'conflict with "{entry.get("manager")}"'
                    + (" using " + entry["apiVersion"] if entry.get("apiVersion") else "")
                    + f": {dotted}"
                )
    if conflicts and not force:
        raise ApplyConflictError(conflicts)

    kept_others: list[dict[str, Any]] = []
    other_paths: set[Path] = set()
    for entry in others:
        owned = fields_from_v1(entry.get("fieldsV1") or {}) - taken
        other_paths |= owned
        if owned:
            kept_others.append({**entry, "fieldsV1": fields_to_v1(owned)})

    previously = set().union(*(fields_from_v1(e.get("fieldsV1") or {}) for e in mine)) if mine else set()
    for path in sorted(previously - applied_paths, key=_parents_first):
        if not _below(other_paths, path) and not _below(applied_paths, path):
            _delete_path(current, path)

    merged: dict[str, Any] = _ssa_merge(current, {k: v for k, v in applied.items() if k != "metadata"}, None, kind)
    meta_applied = {k: v for k, v in (applied.get("metadata") or {}).items() if k != "managedFields"}
    merged["metadata"] = _ssa_merge(current.get("metadata") or {}, meta_applied, None, kind)
    merged["metadata"]["managedFields"] = [
        *kept_others,
        _entry(manager, "Apply", api_version, applied_paths),
    ]
    return merged


def _base_entries(old: dict[str, Any] | None, new: dict[str, Any], subresource: str) -> list[dict[str, Any]]:
    """As kube-apiserver: the managedFields a write carries are the base (a client may rewrite them, e.g.
    to hand fields to another manager) unless empty or written through a subresource; else the live ones."""
    sent = _entries(new)
    return sent if sent and not subresource else _entries(old or {})


def update_managed_fields(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    operation: str = "Update",
    subresource: str = "",
) -> dict[str, Any]:
    """Record a non-apply write (POST/PUT/PATCH): `manager` owns every leaf it changed.

    Returns a copy of `new` whose managedFields give `manager` the changed leaves (all leaves on
    create) and take those leaves away from other managers; leaves that disappeared are dropped.
    """
    kind = new.get("kind")
    result = copy.deepcopy(new)
    new_values = _fields(new, (), kind)
    old_values = _fields(old, (), kind) if old else {}
    changed = {p for p, v in new_values.items() if p not in old_values or old_values[p] != v}
    removed = set(old_values) - set(new_values)
    entries: list[dict[str, Any]] = []
    mine: set[Path] = set(changed)
    for entry in _base_entries(old, new, subresource):
        # As structured-merge-diff: a manager loses what this write changed or removed, nothing else; a
        # path absent before and after (a Secret's write-only `stringData`) stays listed.
        owned = fields_from_v1(entry.get("fieldsV1") or {}) - removed
        if (entry.get("manager"), entry.get("operation"), entry.get("subresource", "")) == (
            manager,
            operation,
            subresource,
        ):
            mine |= owned
            continue
        owned -= changed
        if owned:
            entries.append({**entry, "fieldsV1": fields_to_v1(owned)})
    if mine:
        entries.append(_entry(manager, operation, new.get("apiVersion", ""), mine, subresource))
    result.setdefault("metadata", {})["managedFields"] = entries
    return result
