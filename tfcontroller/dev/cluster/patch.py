"""The four ways a Kubernetes client changes an object in place, as pure functions on plain dicts.

The development API server calls these for PATCH requests (by Content-Type) and for server-side apply.
They never touch the store, so they are unit-tested on dicts (tests/unit/dev/cluster/test_patch.py).

Simplifications compared with the real kube-apiserver (kept here so the list stays accurate):

Strategic merge patch
- Merge keys come from one table keyed by field name, not from the Go types: `containers`,
  `initContainers`, `ephemeralContainers`, `env`, `volumes`, `imagePullSecrets`, `hostAliases` (`ip`),
  `volumeMounts` (`mountPath`), `volumeDevices` (`devicePath`), `conditions` (`type`),
  `ownerReferences` (`uid`), `ports` (`port` for a Service, or when the items carry `port` but no
  `containerPort`; `containerPort` otherwise). A field with that name is merged by key wherever it
  appears, in any kind, custom resources included.
- `metadata.finalizers` is the only list of scalars merged as a set; every other list (tolerations,
  args, envFrom, ...) is replaced whole.
- Supported directives: `$patch: replace|delete|merge` on maps and list items,
  `{"$patch": "replace"}` as a list element, `$retainKeys`, `$deleteFromPrimitiveList/<field>`,
  `$setElementOrder/<field>` (items it names come first, in its order; others keep their order after).
  Not supported: the `$patch` directive on lists of scalars, and multiple merge keys per list.

Server-side apply
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

# RFC 7386 JSON merge patch is one implementation shared with the runtime; re-exported as this module's verb.
from tfcontroller.api.mergepatch import json_merge_patch as json_merge_patch

JSON = Any


class PatchError(ValueError):
    """A patch that cannot be applied (bad path, failed `test`, malformed operation)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ApplyConflictError(Exception):
    """Server-side apply would take fields owned by another manager; the server answers 409."""

    conflicts: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        n = len(self.conflicts)
        return f"Apply failed with {n} conflict{'s' if n != 1 else ''}: " + "; ".join(self.conflicts)


# ---------------------------------------------------------------------------------------------
# RFC 6902 JSON patch


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}: must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r} in {path!r}")
    idx = int(token)
    limit = len(container) if allow_end else len(container) - 1
    if idx > limit:
        raise PatchError(f"array index {idx} out of range in {path!r}")
    return idx


def _parent(doc: JSON, path: str) -> tuple[JSON, str]:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError("the root cannot be the target of this operation")
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token, path)
    return node, tokens[-1]


def _child(node: JSON, token: str, path: str) -> JSON:
    if isinstance(node, dict):
        if token not in node:
            raise PatchError(f"path {path!r} does not exist")
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token, path, allow_end=False)]
    raise PatchError(f"path {path!r} does not exist")


def _get(doc: JSON, path: str) -> JSON:
    node = doc
    for token in _pointer(path):
        node = _child(node, token, path)
    return node


def _add(doc: JSON, path: str, value: JSON) -> JSON:
    if path == "":
        return value
    parent, token = _parent(doc, path)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, path, allow_end=True), value)
    else:
        raise PatchError(f"path {path!r} does not exist")
    return doc


def _remove(doc: JSON, path: str) -> tuple[JSON, JSON]:
    parent, token = _parent(doc, path)
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f"path {path!r} does not exist")
        return doc, parent.pop(token)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, token, path, allow_end=False))
    raise PatchError(f"path {path!r} does not exist")


def json_patch(target: JSON, ops: list[dict[str, Any]]) -> JSON:
    """Apply RFC 6902 operations in order; any failure leaves `target` untouched and raises PatchError."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"malformed operation {op!r}: needs 'op' and 'path'")
        name, path = op["op"], op["path"]
        if name in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {name!r} on {path!r} needs a 'value'")
        if name == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif name == "remove":
            doc, _ = _remove(doc, path)
        elif name == "replace":
            if path == "":
                doc = copy.deepcopy(op["value"])
            else:
                doc, _ = _remove(doc, path)
                doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif name in ("move", "copy"):
            source = op.get("from")
            if not isinstance(source, str):
                raise PatchError(f"operation {name!r} on {path!r} needs 'from'")
            if name == "move":
                if path.startswith(source + "/"):
                    raise PatchError(f"cannot move {source!r} into its own child {path!r}")
                doc, value = _remove(doc, source)
            else:
                value = copy.deepcopy(_get(doc, source))
            doc = _add(doc, path, value)
        elif name == "test":
            if _get(doc, path) != op["value"]:
                raise PatchError(f"test operation failed: value at {path!r} differs")
        else:
            raise PatchError(f"unknown operation {name!r}")
    return doc


# ---------------------------------------------------------------------------------------------
# Strategic merge patch

_MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "ownerReferences": "uid",
    "containerPorts": "containerPort",
}
_SET_LISTS = {"finalizers"}
_DELETE = object()  # returned by _smp_map when a `$patch: delete` removes the whole map


def merge_key(field_name: str, items: list[Any], kind: str | None = None) -> str | None:
    """The key that identifies items of list `field_name`, or None when the list is replaced whole."""
    if field_name == "ports":
        if kind == "Service":
            return "port"
        dicts = [i for i in items if isinstance(i, dict)]
        if dicts and all("port" in i and "containerPort" not in i for i in dicts):
            return "port"
        return "containerPort"
    return _MERGE_KEYS.get(field_name)


def _strip(value: JSON) -> JSON:
    """A fresh value inserted by a patch: nulls and `$` directives removed."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None and not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, dict) and set(v) == {"$patch"})]
    return copy.deepcopy(value)


def _order(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    def ident(item: Any) -> Any:
        if key and isinstance(item, dict):
            return json.dumps(item.get(key), sort_keys=True)
        return json.dumps(item, sort_keys=True)

    wanted = [ident(o) for o in order]
    first = sorted((i for i in items if ident(i) in wanted), key=lambda i: wanted.index(ident(i)))
    return first + [i for i in items if ident(i) not in wanted]


def _smp_list(original: list[Any], patch: list[Any], key: str | None, name: str) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" and len(p) == 1 for p in patch):
        return _strip([p for p in patch if not (isinstance(p, dict) and set(p) == {"$patch"})])
    if key is None:
        if name in _SET_LISTS:
            return list(original) + [copy.deepcopy(p) for p in patch if p not in original]
        return _strip(patch)
    result = [copy.deepcopy(o) for o in original]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            result.append(_strip(item))
            continue
        idx = next((i for i, o in enumerate(result) if isinstance(o, dict) and o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                result.pop(idx)
            continue
        if idx is None:
            result.append(_strip(item))
        else:
            merged = _smp_map(result[idx], item, None)
            if merged is _DELETE:
                result.pop(idx)
            else:
                result[idx] = merged
    return result


def _smp_map(original: dict[str, Any], patch: dict[str, Any], kind: str | None) -> Any:
    directive = patch.get("$patch", "merge")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip(patch)
    result = copy.deepcopy(original)
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list):
                result[name] = [v for v in result[name] if v not in (value or [])]
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value or []
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            base = result.get(key) if isinstance(result.get(key), dict) else {}
            merged = _smp_map(base, value, None)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            base_list = result.get(key) if isinstance(result.get(key), list) else []
            result[key] = _smp_list(base_list, value, merge_key(key, value + base_list, kind), key)
        else:
            result[key] = copy.deepcopy(value)
    for name, order in orders.items():
        if isinstance(result.get(name), list):
            result[name] = _order(result[name], order, merge_key(name, result[name], kind))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def strategic_merge_patch(
    target: dict[str, Any], patch: dict[str, Any], kind: str | None = None
) -> dict[str, Any]:
    """Apply a Kubernetes strategic merge patch (see the module docstring for what is simplified)."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    kind = kind or (target.get("kind") if isinstance(target, dict) else None)
    merged = _smp_map(target if isinstance(target, dict) else {}, patch, kind)
    if merged is _DELETE:
        raise PatchError("$patch: delete cannot remove the whole object")
    return merged


# ---------------------------------------------------------------------------------------------
# Server-side apply and managedFields

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
                    result.append(_strip(item))
                else:
                    result[idx] = _ssa_merge(result[idx], item, None, kind)
            return result
    return _strip(applied)


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

    merged = _ssa_merge(current, {k: v for k, v in applied.items() if k != "metadata"}, None, kind)
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
