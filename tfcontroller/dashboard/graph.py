"""The dependency graph's nodes, edges and layout, as pure functions (tests/unit/dashboard/test_graph.py);
`templates/graph.html` draws the result as SVG.

What is drawn: every GitRepository, Terraform and ManifestSet in view, and the Kubernetes objects in
the ManifestSets' inventories, in four bands of columns by kind (data flows left to right; inside a band a
`dependsOn` dependency sits left of its dependent, `columns_of`). Edges:
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
NODE_W, NODE_H = 200, 44
COL_GAP, ROW_GAP, MARGIN = 70, 16, 20
LANE_Y = 14  # the lane above the nodes that edges skipping a column run along
TOP = 34  # the first row's top, below the lane
MAX_OBJECTS = 300
LABEL_CHARS = 26

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


def columns_of(nodes: list[Node], edges: list[Edge]) -> dict[Key, int]:
    """Each node's column: kinds in bands left to right (GitRepository, Terraform, ManifestSet, objects),
    and inside a band one column per `dependsOn` depth, so a dependency is always left of its dependent
    (Terraform → Terraform never draws inside one column). A dependency cycle (a bad spec) stops the
    deepening after as many rounds as there are nodes. Pure."""
    depth = {n.key: 0 for n in nodes}
    band = {n.key: n.column for n in nodes}
    same_band = [(e.source, e.target) for e in edges
                 if e.source in band and e.target in band and band[e.source] == band[e.target]]
    for _ in range(len(nodes)):
        changed = False
        for src, dst in same_band:
            if depth[dst] < depth[src] + 1:
                depth[dst], changed = depth[src] + 1, True
        if not changed:
            break
    widths = [max((depth[k] + 1 for k in band if band[k] == b), default=0) for b in range(len(COLUMNS))]
    offsets = [sum(widths[:b]) for b in range(len(COLUMNS))]
    return {k: offsets[band[k]] + depth[k] for k in band}


def layout(nodes: list[Node], edges: list[Edge]) -> Graph:
    """Columns from `columns_of`, rows sorted by namespace and name; edges as cubic Béziers from a node's
    right side to the target's left side; an edge that skips columns runs along a lane above the nodes,
    so it never passes behind a box it does not connect. Pure."""
    columns = columns_of(nodes, edges)
    placed: dict[Key, Node] = {}
    heights = [0] * (max(columns.values(), default=0) + 1)
    for node in sorted(nodes, key=lambda n: (columns[n.key], n.namespace, n.kind, n.name)):
        col = columns[node.key]
        x = MARGIN + col * (NODE_W + COL_GAP)
        y = TOP + heights[col] * (NODE_H + ROW_GAP)
        heights[col] += 1
        placed[node.key] = Node(node.key, node.kind, node.namespace, node.name, node.ready, node.state, node.href,
                                node.column, x, y)
    drawn = [Edge(e.source, e.target, e.kind, _path(placed[e.source], placed[e.target]))
             for e in edges if e.source in placed and e.target in placed]
    if not placed:
        return Graph([], drawn, 0, 0)
    width = MARGIN * 2 + len(heights) * NODE_W + (len(heights) - 1) * COL_GAP
    height = TOP + MARGIN + max(heights) * (NODE_H + ROW_GAP) - ROW_GAP
    return Graph(list(placed.values()), drawn, width, height)


def _path(a: Node, b: Node) -> str:
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    if b.x <= a.x:  # only in a dependency cycle: out to the right and back
        return f"M{x1},{y1} C{x1 + 60},{y1} {x1 + 60},{y2} {x2 + NODE_W},{y2}"
    if b.x - a.x > NODE_W + COL_GAP:  # skips a column: along the lane above the nodes
        lane, bend = LANE_Y, COL_GAP // 2
        return (f"M{x1},{y1} C{x1 + bend},{y1} {x1 + bend},{lane} {x1 + COL_GAP},{lane} "
                f"L{x2 - COL_GAP},{lane} C{x2 - bend},{lane} {x2 - bend},{y2} {x2},{y2}")
    mid = (x1 + x2) // 2
    return f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
