"""Server-side printing: objects as a `meta.k8s.io/v1` Table, which is what `kubectl get` asks for.

kubectl prints whatever columns the server sends, so this decides what `kubectl get tf` shows.
Custom kinds use their CRD's additionalPrinterColumns (evaluated with the small JSONPath subset
below); a CRD without any gets Name and Age, like the real server. Built-in kinds get Name, a few
well-known columns for some kinds, and Age last.

JSONPath subset: `.field`, `['field.with.dots']`, `[index]` (negative too), `[*]`, `..` is not
supported, filters `[?(@.path == "x")]`, `!=`, and `[?(@.path)]` (exists), optionally wrapped in `{}`.
A path with several results shows them joined by commas; a path with none shows an empty cell.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from tfcontroller.dev.cluster.node import columns as node_columns
from tfcontroller.dev.cluster.resources import ResourceInfo

Obj = dict[str, Any]


class JSONPathError(ValueError):
    """A printer-column path outside the supported subset."""


# ---------------------------------------------------------------------------------------------
# JSONPath

_TOKEN = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-$/]+)
      | \[\s*'(?P<quoted>[^']*)'\s*\]
      | \[\s*"(?P<dquoted>[^"]*)"\s*\]
      | \[\s*(?P<index>-?\d+)\s*\]
      | \[\s*(?P<star>\*)\s*\]
      | \[\s*\?\(\s*@(?P<fpath>[^=!)\s]*)\s*(?:(?P<op>==|!=)\s*(?P<value>"[^"]*"|'[^']*'|[^)\s]+))?\s*\)\s*\]
    """,
    re.VERBOSE,
)


def _compile(path: str) -> list[tuple[str, Any]]:
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise JSONPathError(f"unsupported JSONPath {path!r} at {text[pos:]!r}")
        pos = match.end()
        if match.group("field") is not None:
            steps.append(("field", match.group("field")))
        elif match.group("quoted") is not None or match.group("dquoted") is not None:
            steps.append(
                (
                    "field",
                    match.group("quoted") if match.group("quoted") is not None else match.group("dquoted"),
                )
            )
        elif match.group("index") is not None:
            steps.append(("index", int(match.group("index"))))
        elif match.group("star"):
            steps.append(("star", None))
        else:
            literal = match.group("value")
            value: Any = None
            if literal is not None:
                if literal[0] in "\"'":
                    value = literal[1:-1]
                else:
                    try:
                        value = json.loads(literal)
                    except ValueError:
                        value = literal
            steps.append(("filter", (_compile(match.group("fpath") or ""), match.group("op"), value)))
    return steps


def _walk(nodes: list[Any], steps: list[tuple[str, Any]]) -> list[Any]:
    for kind, arg in steps:
        found: list[Any] = []
        for node in nodes:
            is_key = kind == "field" and isinstance(node, dict) and arg in node
            is_index = kind == "index" and isinstance(node, list) and -len(node) <= arg < len(node)
            if is_key or is_index:
                found.append(node[arg])
            elif kind == "star":
                found.extend(
                    node if isinstance(node, list) else node.values() if isinstance(node, dict) else []
                )
            elif kind == "filter" and isinstance(node, list):
                sub, op, want = arg
                for item in node:
                    got = _walk([item], sub)
                    if (
                        (op is None and got)
                        or (op == "==" and want in got)
                        or (op == "!=" and got and want not in got)
                    ):
                        found.append(item)
        nodes = found
    return nodes


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Every value `path` selects in `obj` (an empty list when it selects nothing)."""
    return _walk([obj], _compile(path))


# ---------------------------------------------------------------------------------------------
# cells


def human_duration(seconds: float) -> str:
    """An age the way kubectl shows it: precise when young, coarser as it grows (45s, 5m3s, 2d4h)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years, rest = divmod(days, 365)
    if hours < 24 * 365 * 8:
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def _age(timestamp: Any, now: datetime) -> str:
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return human_duration((now - then).total_seconds())


def _cell(values: list[Any], col_type: str, now: datetime) -> Any:
    if not values:
        return None
    if col_type == "date":
        return _age(values[0], now)
    if len(values) == 1:
        value = values[0]
        if col_type in ("integer", "number", "boolean") or isinstance(value, str):
            return value
        return json.dumps(value, separators=(",", ":"))
    return ",".join(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for v in values)


# ---------------------------------------------------------------------------------------------
# columns

Column = tuple[dict[str, Any], Callable[[Obj, datetime], Any]]


def _definition(
    name: str, col_type: str, description: str, priority: int = 0, fmt: str = ""
) -> dict[str, Any]:
    return {"name": name, "type": col_type, "format": fmt, "description": description, "priority": priority}


_NAME: Column = (
    _definition("Name", "string", "Name must be unique within a namespace.", fmt="name"),
    lambda o, _now: (o.get("metadata") or {}).get("name", ""),
)
_AGE: Column = (
    _definition("Age", "string", "CreationTimestamp is when this object was created."),
    lambda o, now: _age((o.get("metadata") or {}).get("creationTimestamp"), now),
)


def _field(*path: str, default: Any = None) -> Callable[[Obj, datetime], Any]:
    def get(obj: Obj, _now: datetime) -> Any:
        node: Any = obj
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return default if node is None else node

    return get


def _ready(obj: Obj, _now: datetime) -> str:
    status = obj.get("status") or {}
    return f"{status.get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 1)}"


_BUILTIN_COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("", "ConfigMap"): [
        (
            _definition("Data", "integer", "Number of data keys."),
            lambda o, _n: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
        )
    ],
    ("", "Secret"): [
        (_definition("Type", "string", "The type of the secret."), _field("type", default="Opaque")),
        (_definition("Data", "integer", "Number of data keys."), lambda o, _n: len(o.get("data") or {})),
    ],
    ("", "Namespace"): [
        (
            _definition("Status", "string", "The phase of the namespace."),
            _field("status", "phase", default="Active"),
        )
    ],
    ("apps", "Deployment"): [
        (_definition("Ready", "string", "Ready replicas out of desired."), _ready),
        (
            _definition("Up-to-date", "integer", "Updated replicas."),
            _field("status", "updatedReplicas", default=0),
        ),
        (
            _definition("Available", "integer", "Available replicas."),
            _field("status", "availableReplicas", default=0),
        ),
    ],
    ("", "Pod"): [
        (_definition("Ready", "string", "The number of ready containers."), lambda o, _n: node_columns.pod_ready(o)),
        (_definition("Status", "string", "The Pod's status."), lambda o, _n: node_columns.pod_status(o)),
        (_definition("Restarts", "string", "Container restarts."), lambda o, _n: str(node_columns.pod_restarts(o))),
    ],
    ("", "Node"): [
        (_definition("Status", "string", "The node's Ready condition."), lambda o, _n: node_columns.node_status(o)),
        (_definition("Roles", "string", "The node's roles."), lambda o, _n: node_columns.node_roles(o)),
        (_definition("Version", "string", "Kubelet version."), _field("status", "nodeInfo", "kubeletVersion", default="")),
    ],
    ("batch", "Job"): [
        (_definition("Status", "string", "The Job's status."), lambda o, _n: node_columns.job_status(o)),
        (_definition("Completions", "string", "Succeeded out of desired."), lambda o, _n: node_columns.job_completions(o)),
    ],
    ("coordination.k8s.io", "Lease"): [
        (_definition("Holder", "string", "The current holder."), _field("spec", "holderIdentity", default=""))
    ],
    ("apiextensions.k8s.io", "CustomResourceDefinition"): [
        (
            _definition("Created At", "date", "When the definition was created."),
            _field("metadata", "creationTimestamp", default=""),
        )
    ],
}


_WITHOUT_AGE = {("apiextensions.k8s.io", "CustomResourceDefinition")}  # shows "Created At" instead


def _event_last_seen(obj: Obj, now: datetime) -> str:
    seen = obj.get("lastTimestamp") or obj.get("eventTime") or obj.get("firstTimestamp") \
        or (obj.get("metadata") or {}).get("creationTimestamp")
    return _age(seen, now)


def _event_object(obj: Obj, _now: datetime) -> str:
    involved = obj.get("involvedObject") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


# core/v1 Events print as kubectl's event printer does: no leading Name and no Age (Name is wide-only).
_EVENT_COLUMNS: list[Column] = [
    (_definition("Last Seen", "string", "Time since the event was last seen."), _event_last_seen),
    (_definition("Type", "string", "Type of the event."), _field("type", default="")),
    (_definition("Reason", "string", "Why the event happened."), _field("reason", default="")),
    (_definition("Object", "string", "The object the event is about."), _event_object),
    (_definition("Message", "string", "What happened."), _field("message", default="")),
    (_definition("Count", "integer", "How many times it happened.", priority=1), _field("count", default=1)),
    (_definition("Name", "string", "Name must be unique within a namespace.", priority=1, fmt="name"), _NAME[1]),
]


def _crd_column(col: dict[str, Any]) -> Column:
    col_type = col.get("type", "string")
    path = col.get("jsonPath", "")
    steps = _compile(path)
    definition = _definition(
        col.get("name", ""),
        col_type,
        col.get("description", ""),
        int(col.get("priority", 0)),
        col.get("format", ""),
    )
    return definition, lambda o, now: _cell(_walk([o], steps), col_type, now)


def columns(info: ResourceInfo) -> list[Column]:
    """The columns of `info`'s Table, in order."""
    if info.schema is not None or info.printer_columns:
        if info.printer_columns:
            return [_NAME, *(_crd_column(c) for c in info.printer_columns)]
        return [_NAME, _AGE]
    if (info.group, info.kind) == ("", "Event"):
        return list(_EVENT_COLUMNS)
    known = _BUILTIN_COLUMNS.get((info.group, info.kind), [])
    if (info.group, info.kind) in _WITHOUT_AGE:
        return [_NAME, *known]
    return [_NAME, *known, _AGE]


def _row_object(obj: Obj, include_object: str) -> Obj | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def to_table(
    info: ResourceInfo,
    objects: Iterable[Obj] | Obj,
    include_object: str = "Metadata",
    resource_version: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table (include_object: "None", "Metadata" or "Object").

    `objects` may be a list of objects, a List document (its items, resourceVersion and continue
    token are used) or one object (a GET or a watch event).
    """
    now = now or datetime.now(UTC)
    list_meta: dict[str, Any] = {}
    items: Iterable[Obj]
    if isinstance(objects, dict):
        if isinstance(objects.get("items"), list):
            list_meta = objects.get("metadata") or {}
            items = objects["items"]
        else:
            items = [objects]
    else:
        items = objects
    resource_version = resource_version or list_meta.get("resourceVersion", "")
    cols = columns(info)
    rows: list[dict[str, Any]] = []
    for obj in items:
        row: dict[str, Any] = {"cells": [get(obj, now) for _d, get in cols]}
        embedded = _row_object(obj, include_object)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    metadata: dict[str, Any] = {"resourceVersion": resource_version} if resource_version else {}
    if list_meta.get("continue"):
        metadata["continue"] = list_meta["continue"]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [d for d, _get in cols],
        "rows": rows,
    }


def wants_table(accept: str) -> bool:
    """True when an Accept header asks for a Table (`application/json;as=Table;v=v1;g=meta.k8s.io`)."""
    for part in (accept or "").split(","):
        params = {
            p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip() for p in part.split(";")[1:] if "=" in p
        }
        if (
            params.get("as") == "Table"
            and params.get("g") == "meta.k8s.io"
            and params.get("v") in ("v1", "v1beta1")
        ):
            return True
    return False
