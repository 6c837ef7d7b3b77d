"""tfcontroller.dev.cluster.table: the JSONPath subset used by printer columns, ages as kubectl prints
them, and meta.k8s.io/v1 Tables for built-in and custom kinds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tfcontroller.dev.cluster.resources import ResourceInfo
from tfcontroller.dev.cluster.table import JSONPathError, human_duration, jsonpath, to_table, wants_table

NOW = datetime(2025, 1, 10, 12, 0, 0, tzinfo=UTC)
OBJ = {
    "metadata": {
        "name": "x",
        "labels": {"app.kubernetes.io/name": "web"},
        "creationTimestamp": "2025-01-10T11:55:00Z",
    },
    "spec": {"replicas": 3, "items": [{"n": 1}, {"n": 2}]},
    "status": {
        "conditions": [
            {"type": "Reconciling", "status": "False"},
            {"type": "Ready", "status": "True", "reason": "Succeeded"},
        ]
    },
}


@pytest.mark.parametrize(
    ("path", "want"),
    [
        (".spec.replicas", [3]),
        ("{.spec.replicas}", [3]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type == 'Ready')].reason", ["Succeeded"]),
        ('.status.conditions[?(@.type!="Ready")].type', ["Reconciling"]),
        (".status.conditions[?(@.reason)].type", ["Ready"]),
        (".spec.items[*].n", [1, 2]),
        (".spec.items[-1].n", [2]),
        (".spec.items[5].n", []),
        (".metadata.labels['app.kubernetes.io/name']", ["web"]),
        (".status.missing", []),
    ],
)
def test_jsonpath(path: str, want: list[object]) -> None:
    assert jsonpath(OBJ, path) == want


def test_jsonpath_rejects_unsupported_syntax() -> None:
    with pytest.raises(JSONPathError):
        jsonpath(OBJ, ".spec..replicas")


@pytest.mark.parametrize(
    ("seconds", "want"),
    [
        (0, "0s"),
        (119, "119s"),
        (300, "5m"),
        (303, "5m3s"),
        (3600, "60m"),
        (4 * 3600 + 60, "4h1m"),
        (30 * 3600, "30h"),
        (52 * 3600, "2d4h"),
        (30 * 86400, "30d"),
        (3 * 365 * 86400 + 86400, "3y1d"),
        (-5, "<invalid>"),
    ],
)
def test_human_duration(seconds: int, want: str) -> None:
    assert human_duration(seconds) == want


def test_builtin_table_has_name_first_age_last_and_partial_metadata() -> None:
    info = ResourceInfo(
        group="", version="v1", kind="ConfigMap", plural="configmaps", singular="configmap", namespaced=True
    )
    obj = {
        "metadata": {
            "name": "cm",
            "creationTimestamp": (NOW - timedelta(seconds=42)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "data": {"a": "1"},
    }
    table = to_table(info, [obj], resource_version="7", now=NOW)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "7"}
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    (row,) = table["rows"]
    assert row["cells"] == ["cm", 1, "42s"]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert to_table(info, [obj], include_object="None", now=NOW)["rows"][0].keys() == {"cells"}
    assert to_table(info, [obj], include_object="Object", now=NOW)["rows"][0]["object"] is obj
    listed = to_table(
        info,
        {"kind": "ConfigMapList", "metadata": {"resourceVersion": "9", "continue": "c"}, "items": [obj]},
        now=NOW,
    )
    assert listed["metadata"] == {"resourceVersion": "9", "continue": "c"}
    assert [r["cells"][0] for r in listed["rows"]] == ["cm"]
    assert [r["cells"][0] for r in to_table(info, obj, now=NOW)["rows"]] == ["cm"]  # a single object


def test_crd_printer_columns() -> None:
    info = ResourceInfo(
        group="tfcontroller.io",
        version="v1alpha1",
        kind="Terraform",
        plural="terraforms",
        singular="terraform",
        namespaced=True,
        schema={"type": "object"},
        printer_columns=[
            {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1},
            {"name": "Missing", "type": "string", "jsonPath": ".status.nothing"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )
    table = to_table(info, [OBJ], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Ready", "Replicas", "Missing", "Age"]
    assert table["columnDefinitions"][2]["priority"] == 1
    assert table["rows"][0]["cells"] == ["x", "True", 3, None, "5m"]


def test_crd_without_columns_gets_name_and_age() -> None:
    info = ResourceInfo(
        group="g.io", version="v1", kind="K", plural="ks", singular="k", namespaced=True, schema={}
    )
    assert [c["name"] for c in to_table(info, [], now=NOW)["columnDefinitions"]] == ["Name", "Age"]


def test_crd_list_shows_created_at_instead_of_age() -> None:
    info = ResourceInfo(
        group="apiextensions.k8s.io",
        version="v1",
        kind="CustomResourceDefinition",
        plural="customresourcedefinitions",
        singular="customresourcedefinition",
        namespaced=False,
    )
    obj = {"metadata": {"name": "ks.g.io", "creationTimestamp": "2025-01-10T11:55:00Z"}}
    table = to_table(info, [obj], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
    assert table["rows"][0]["cells"] == ["ks.g.io", "2025-01-10T11:55:00Z"]


def test_wants_table() -> None:
    assert wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    assert not wants_table("application/json")
    assert not wants_table("")


def test_events_print_as_kubectl_get_events_shows_them() -> None:
    info = ResourceInfo(group="", version="v1", kind="Event", plural="events", singular="event", namespaced=True)
    stamp = (NOW - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {"metadata": {"name": "oom.1", "creationTimestamp": stamp}, "type": "Warning", "reason": "OOMKilling",
             "involvedObject": {"kind": "Pod", "name": "oom"}, "message": "Memory cgroup out of memory",
             "lastTimestamp": stamp, "count": 1}
    table = to_table(info, [event], now=NOW)
    names = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert names == [("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Message", 0), ("Count", 1),
                     ("Name", 1)]
    assert table["rows"][0]["cells"] == ["5s", "Warning", "OOMKilling", "pod/oom", "Memory cgroup out of memory", 1,
                                         "oom.1"]
