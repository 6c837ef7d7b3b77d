"""Three of the four ways a Kubernetes client changes an object in place, as pure functions on plain
dicts: RFC 7386 JSON merge patch, RFC 6902 JSON patch and strategic merge patch (the fourth,
server-side apply with its managedFields bookkeeping, is in `apply.py` and shares the merge keys).

The development API server calls these for PATCH requests (by Content-Type).
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
"""

from __future__ import annotations

import copy
import json
from typing import Any

# RFC 7386 JSON merge patch is one implementation shared with the runtime; re-exported as this module's verb.
from tfcontroller.api.mergepatch import json_merge_patch as json_merge_patch

JSON = Any


class PatchError(ValueError):
    """A patch that cannot be applied (bad path, failed `test`, malformed operation)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


def strip_directives(value: JSON) -> JSON:
    """A fresh value inserted by a patch: nulls and `$` directives removed."""
    if isinstance(value, dict):
        return {k: strip_directives(v) for k, v in value.items() if v is not None and not k.startswith("$")}
    if isinstance(value, list):
        return [strip_directives(v) for v in value if not (isinstance(v, dict) and set(v) == {"$patch"})]
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
        replaced: list[Any] = strip_directives([p for p in patch if not (isinstance(p, dict) and set(p) == {"$patch"})])
        return replaced
    if key is None:
        if name in _SET_LISTS:
            return list(original) + [copy.deepcopy(p) for p in patch if p not in original]
        whole: list[Any] = strip_directives(patch)
        return whole
    result = [copy.deepcopy(o) for o in original]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            result.append(strip_directives(item))
            continue
        idx = next((i for i, o in enumerate(result) if isinstance(o, dict) and o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                result.pop(idx)
            continue
        if idx is None:
            result.append(strip_directives(item))
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
        return strip_directives(patch)
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
            current = result.get(key)
            merged = _smp_map(current if isinstance(current, dict) else {}, value, None)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            current = result.get(key)
            base_list = current if isinstance(current, list) else []
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
    if not isinstance(merged, dict):  # `_DELETE`: the patch deleted the root map
        raise PatchError("$patch: delete cannot remove the whole object")
    return merged
