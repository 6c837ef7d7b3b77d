"""The dependency graph's nodes, edges and layout, as pure functions (tests/unit/dashboard/test_graph.py);
`templates/graph.html` draws the result as SVG.

What is drawn: every GitRepository, Terraform and ManifestSet in view, and the Kubernetes objects in
the ManifestSets' inventories, in four columns by kind (data flows left to right). Edges:
- `source`: a GitRepository to each Terraform and ManifestSet whose `sourceRef` names it;
- `depends`: a Terraform or ManifestSet named in `dependsOn` to the object that depends on it
  (Terraform → Terraform, Terraform → ManifestSet, ManifestSet → ManifestSet);
- `inventory`: a ManifestSet to each object it applied.
A reference to an object that is not in view (missing, or in a namespace the viewer may not list) is
drawn as a dashed node with state `missing`, so a broken reference shows instead of vanishing.
Inventories are capped (`MAX_OBJECTS` in all): a node `+N more` stands for the rest.

Positions are computed here, so the SVG template only places boxes and paths; every label is text
that the template escapes (Jinja2 autoescape), never markup built here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.dashboard.overview import primary_state, states_of
from tfcontroller.manifests.inventory import InventoryEntry, from_status

COLUMNS = ("GitRepository", "Terraform", "ManifestSet", "Object")
NODE_W, NODE_H = 230, 44
COL_GAP, ROW_GAP, MARGIN = 90, 16, 20
MAX_OBJECTS = 300
LABEL_CHARS = 30

Key = tuple[str, str, str]  # (kind, namespace, name); kind "Object:<group>/<Kind>" for inventory objects


@dataclass(frozen=True)
class Node:
    key: Key
    kind: str  # GitRepository | Terraform | ManifestSet | the object's Kind
    namespace: str
    name: str
    ready: str  # True | False | Unknown
    state: str  # overview.primary_state (ready | pending | drifted | failing | suspended | progressing),
    # for objects ready | failing | progressing, else missing | more (a "+N more" node)
    href: str  # its page, "" for objects of other kinds
    column: int
    x: int = 0
    y: int = 0

    @property
    def label(self) -> str:
        """The name, shortened to fit the box (the whole name is in the node's `<title>`)."""
        return self.name if len(self.name) <= LABEL_CHARS else self.name[:LABEL_CHARS - 1] + "…"

    @property
    def sublabel(self) -> str:
        return f"{self.kind} · {self.namespace}" if self.namespace else self.kind


@dataclass(frozen=True)
class Edge:
    source: Key
    target: Key
    kind: str  # source | depends | inventory
    d: str = ""  # the SVG path, once laid out


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: int = 0
    height: int = 0


def _ready_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(the Ready status, the state the node is coloured by): the overview's classification, so that a
    plan waiting for approval is `pending` here too, not `failing`."""
    cond = c.find((obj.get("status") or {}).get("conditions"), c.READY)
    state = primary_state(states_of(obj))
    return (cond.status if cond else c.UNKNOWN), state


def _node_of(obj: Mapping[str, Any]) -> Node:
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind") or "")
    ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    ready, state = _ready_of(obj)
    return Node((kind, ns, name), kind, ns, name, ready, state, f"/{kind.lower()}/{ns}/{name}", COLUMNS.index(kind))


def _refs(obj: Mapping[str, Any]) -> list[tuple[Key, str]]:
    """(the referenced object, edge kind) for `sourceRef` and `dependsOn`, namespaces defaulted to obj's."""
    spec = obj.get("spec") or {}
    ns = str((obj.get("metadata") or {}).get("namespace") or "")
    out: list[tuple[Key, str]] = []
    src = spec.get("sourceRef")
    if isinstance(src, Mapping) and src.get("name"):
        out.append(((str(src.get("kind") or "GitRepository"), str(src.get("namespace") or ns), str(src["name"])),
                    "source"))
    default_kind = "Terraform"  # a Terraform's dependsOn names Terraforms; a ManifestSet's says its kind
    for dep in spec.get("dependsOn") or []:
        if isinstance(dep, Mapping) and dep.get("name"):
            kind = str(dep.get("kind") or default_kind)
            out.append(((kind, str(dep.get("namespace") or ns), str(dep["name"])), "depends"))
    return out


def _object_node(entry: InventoryEntry, health: Mapping[str, str]) -> Node:
    state = health.get(entry.id, "")
    ready = {"Current": c.TRUE, "Failed": c.FALSE, "Missing": c.FALSE}.get(state, c.UNKNOWN)
    shown = {c.TRUE: "ready", c.FALSE: "failing"}.get(ready, "progressing")
    key = (f"Object:{entry.group}/{entry.kind}", entry.namespace, entry.name)
    return Node(key, entry.kind, entry.namespace, entry.name, ready, shown, "", 3)


def build(objects: Iterable[Mapping[str, Any]], health: Mapping[str, str] | None = None) -> Graph:
    """The graph of `objects` (GitRepositories, Terraforms, ManifestSets, each with its `kind`), laid out.
    `health` maps inventory ids to a kstatus health (Current | InProgress | Failed | Missing); an object
    without one is drawn as Unknown. Pure."""
    health = health or {}
    nodes: dict[Key, Node] = {}
    objs = [o for o in objects if o.get("kind") in COLUMNS[:3]]
    for obj in objs:
        node = _node_of(obj)
        nodes[node.key] = node
    edges: list[Edge] = []
    for obj in sorted(objs, key=lambda o: _node_of(o).key):
        me = _node_of(obj).key
        for ref, kind in _refs(obj):
            if ref not in nodes and ref[0] in COLUMNS[:3]:
                nodes[ref] = Node(ref, ref[0], ref[1], ref[2], c.UNKNOWN, "missing", "", COLUMNS.index(ref[0]))
            if ref in nodes:
                edges.append(Edge(ref, me, kind))
    _add_inventories(objs, nodes, edges, health)
    return layout(list(nodes.values()), edges)


def inventory_of(status: Mapping[str, Any]) -> list[InventoryEntry]:
    """`status.inventory` as entries, leaving out what is not one (no id of four `_` parts): a hand-edited
    status must not break a page. Shared by the graph and the ManifestSet page."""
    items = status.get("inventory")
    return from_status([{"id": str(i["id"]), "version": str(i.get("version") or "")}
                        for i in (items if isinstance(items, list) else [])
                        if isinstance(i, Mapping) and str(i.get("id") or "").count("_") >= 3])


def _add_inventories(objs: list[Mapping[str, Any]], nodes: dict[Key, Node], edges: list[Edge],
                     health: Mapping[str, str]) -> None:
    budget = MAX_OBJECTS
    for obj in sorted((o for o in objs if o.get("kind") == "ManifestSet"), key=lambda o: _node_of(o).key):
        me = _node_of(obj).key
        entries = inventory_of(obj.get("status") or {})
        for entry in entries[:budget]:
            node = _object_node(entry, health)
            nodes.setdefault(node.key, node)
            edges.append(Edge(me, node.key, "inventory"))
        rest = len(entries) - min(len(entries), budget)
        budget = max(0, budget - len(entries))
        if rest:
            key = ("Object:more", me[1], f"{me[2]}:more")
            nodes[key] = Node(key, "more", me[1], f"+{rest} more", c.UNKNOWN, "more",
                              f"/manifestset/{me[1]}/{me[2]}", 3)
            edges.append(Edge(me, key, "inventory"))


def layout(nodes: list[Node], edges: list[Edge]) -> Graph:
    """Columns by kind, rows sorted by namespace and name; edges as cubic Béziers from a node's right side
    to the target's left side (within one column: a loop out to the right). Pure."""
    placed: dict[Key, Node] = {}
    heights = [0] * len(COLUMNS)
    for node in sorted(nodes, key=lambda n: (n.column, n.namespace, n.kind, n.name)):
        x = MARGIN + node.column * (NODE_W + COL_GAP)
        y = MARGIN + heights[node.column] * (NODE_H + ROW_GAP)
        heights[node.column] += 1
        placed[node.key] = Node(node.key, node.kind, node.namespace, node.name, node.ready, node.state, node.href,
                                node.column, x, y)
    drawn = [Edge(e.source, e.target, e.kind, _path(placed[e.source], placed[e.target]))
             for e in edges if e.source in placed and e.target in placed]
    used = [i for i, h in enumerate(heights) if h]
    width = MARGIN * 2 + (max(used) + 1) * NODE_W + max(used) * COL_GAP if used else 0
    height = MARGIN * 2 + max(heights) * (NODE_H + ROW_GAP) - ROW_GAP if used else 0
    return Graph(list(placed.values()), drawn, width, height)


def _path(a: Node, b: Node) -> str:
    if a.column == b.column:  # a dependency within one column: out to the right and back
        x = a.x + NODE_W
        y1, y2 = a.y + NODE_H // 2, b.y + NODE_H // 2
        return f"M{x},{y1} C{x + 60},{y1} {x + 60},{y2} {x},{y2}"
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    mid = (x1 + x2) // 2
    return f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
