"""The dependency graph (dashboard/graph.py) on plain objects: which nodes and edges (sourceRef,
dependsOn of both kinds, inventories), a reference to something not in view drawn as a `missing` node,
node states, the cap on inventory objects, and a layout whose columns follow the data flow and whose
nodes never overlap."""

from __future__ import annotations

from typing import Any

from tfcontroller.dashboard.graph import LANE_Y, MAX_OBJECTS, NODE_H, NODE_W, build


def o(kind: str, name: str, ns: str = "team-a", *, spec: dict[str, Any] | None = None, ready: str = "True",
      status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec or {},
            "status": {**(status or {}), "conditions": [{"type": "Ready", "status": ready, "reason": "R"}]}}


SRC = {"sourceRef": {"kind": "GitRepository", "name": "repo"}}
OBJECTS = [
    o("GitRepository", "repo"),
    o("Terraform", "network", spec=SRC),
    o("Terraform", "db", spec={**SRC, "dependsOn": [{"name": "network"}]}, ready="False"),
    o("ManifestSet", "app", spec={**SRC, "dependsOn": [{"kind": "Terraform", "name": "db"},
                                                      {"kind": "ManifestSet", "name": "base", "namespace": "shared"}]},
      status={"inventory": [{"id": "team-a_web_apps_Deployment", "version": "v1"},
                            {"id": "team-a_web__Service", "version": "v1"}, {"id": "junk"}]}),
    o("ManifestSet", "paused", spec={**SRC, "suspend": True}),
]


def edges(graph: Any) -> set[tuple[str, str, str]]:
    return {(f"{e.source[0]}/{e.source[2]}", f"{e.target[0]}/{e.target[2]}", e.kind) for e in graph.edges}


def test_nodes_edges_and_states() -> None:
    graph = build(OBJECTS, {"team-a_web_apps_Deployment": "Failed", "team-a_web__Service": "Current"})
    assert edges(graph) == {
        ("GitRepository/repo", "Terraform/network", "source"), ("GitRepository/repo", "Terraform/db", "source"),
        ("GitRepository/repo", "ManifestSet/app", "source"), ("GitRepository/repo", "ManifestSet/paused", "source"),
        ("Terraform/network", "Terraform/db", "depends"), ("Terraform/db", "ManifestSet/app", "depends"),
        ("ManifestSet/base", "ManifestSet/app", "depends"),
        ("ManifestSet/app", "Object:apps/Deployment/web", "inventory"),
        ("ManifestSet/app", "Object:/Service/web", "inventory"),
    }
    by_name = {(n.kind, n.name): n for n in graph.nodes}
    assert by_name[("Terraform", "db")].state == "failing" and by_name[("Terraform", "db")].ready == "False"
    assert by_name[("ManifestSet", "paused")].state == "suspended"
    assert by_name[("Terraform", "network")].state == "ready"
    assert by_name[("ManifestSet", "base")].state == "missing" and by_name[("ManifestSet", "base")].namespace == "shared"
    assert by_name[("Deployment", "web")].ready == "False" and by_name[("Service", "web")].ready == "True"
    assert by_name[("Terraform", "network")].href == "/terraform/team-a/network"
    assert by_name[("Deployment", "web")].href == ""


def test_a_plan_waiting_for_approval_is_pending_not_failing() -> None:
    waiting = o("Terraform", "t", ready="False", status={"plan": {"pending": "plan-1"}})
    node = build([waiting]).nodes[0]
    assert (node.ready, node.state) == ("False", "pending")


def test_missing_source_and_unknown_health() -> None:
    graph = build([o("Terraform", "t", spec={"sourceRef": {"name": "gone", "namespace": "other"}}),
                   o("ManifestSet", "m", status={"inventory": [{"id": "n_cm__ConfigMap", "version": "v1"}]})])
    by_name = {(n.kind, n.name): n for n in graph.nodes}
    assert by_name[("GitRepository", "gone")].state == "missing"
    assert by_name[("ConfigMap", "cm")].ready == "Unknown"


def test_layout_columns_follow_the_data_flow_and_nodes_do_not_overlap() -> None:
    graph = build(OBJECTS)
    columns = {n.kind: n.x for n in graph.nodes if n.kind in ("GitRepository", "Terraform", "ManifestSet")}
    assert columns["GitRepository"] < columns["Terraform"] < columns["ManifestSet"]
    assert all(n.x > columns["ManifestSet"] for n in graph.nodes if n.kind in ("Deployment", "Service"))
    boxes = sorted((n.x, n.y) for n in graph.nodes)
    assert len(set(boxes)) == len(boxes)
    for n in graph.nodes:
        assert n.x >= 0 and n.x + NODE_W <= graph.width and n.y >= 0 and n.y + NODE_H <= graph.height
    assert all(e.d.startswith("M") and " C" in e.d for e in graph.edges)
    assert build([]).nodes == [] and build([]).width == 0


def test_inventories_are_capped_with_a_more_node() -> None:
    inventory = [{"id": f"ns_cm{i:04d}__ConfigMap", "version": "v1"} for i in range(MAX_OBJECTS + 7)]
    graph = build([o("ManifestSet", "big", status={"inventory": inventory})])
    objects = [n for n in graph.nodes if n.kind == "ConfigMap"]
    more = [n for n in graph.nodes if n.state == "more"]
    assert len(objects) == MAX_OBJECTS and [m.name for m in more] == ["+7 more"]
    assert more[0].href == "/manifestset/team-a/big"


def test_long_names_are_shortened_in_the_label_only() -> None:
    name = "a" * 80
    node = next(n for n in build([o("Terraform", name)]).nodes)
    assert node.name == name and len(node.label) <= 26 and node.label.endswith("…")


def test_a_dependency_sits_left_of_its_dependent_and_kinds_stay_in_bands() -> None:
    graph = build(OBJECTS)
    x = {n.name: n.x for n in graph.nodes}
    assert x["repo"] < x["network"] < x["db"] < x["base"] <= x["paused"] < x["app"] < x["web"]
    dep = next(e for e in graph.edges if (e.source[2], e.target[2]) == ("network", "db"))
    assert dep.d.count(" C") == 1 and " L" not in dep.d  # neighbouring columns: one curve


def test_an_edge_that_skips_a_column_runs_along_the_lane() -> None:
    graph = build(OBJECTS)
    skip = next(e for e in graph.edges if e.source[2] == "repo" and e.target[2] == "app")
    assert f",{LANE_Y} L" in skip.d and all(n.y > LANE_Y for n in graph.nodes)
    near = next(e for e in graph.edges if e.source[2] == "repo" and e.target[2] == "network")
    assert " L" not in near.d


def test_a_dependency_cycle_does_not_hang() -> None:
    a = o("Terraform", "a", spec={"dependsOn": [{"name": "b"}]})
    b = o("Terraform", "b", spec={"dependsOn": [{"name": "a"}]})
    graph = build([a, b])
    assert len(graph.nodes) == 2 and len(graph.edges) == 2
