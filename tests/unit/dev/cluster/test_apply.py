"""tfcontroller.dev.cluster.apply on plain dicts: server-side apply (merge, ownership, conflicts,
removal) and managedFields bookkeeping for non-apply writes."""

from __future__ import annotations

import pytest

from tfcontroller.dev.cluster.apply import (
    ApplyConflictError,
    fields_from_v1,
    fields_to_v1,
    server_side_apply,
    update_managed_fields,
)


def applied(
    image: str = "app:1", env: dict[str, str] | None = None, labels: dict[str, str] | None = None
) -> dict:
    env = {"A": "1"} if env is None else env
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "default", "labels": labels or {"app": "d"}},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "env": [{"name": k, "value": v} for k, v in env.items()],
                        }
                    ]
                }
            },
        },
    }


def owned(obj: dict, manager: str) -> set[tuple[str, ...]]:
    entries = [e for e in obj["metadata"]["managedFields"] if e["manager"] == manager]
    assert len(entries) == 1, obj["metadata"]["managedFields"]
    return fields_from_v1(entries[0]["fieldsV1"])


def test_ssa_create_records_managed_fields_like_the_real_server() -> None:
    obj = server_side_apply(None, applied(), "kubectl", force=False)
    (entry,) = obj["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl"
    assert entry["operation"] == "Apply"
    assert entry["apiVersion"] == "apps/v1"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["time"].endswith("Z")
    fv = entry["fieldsV1"]
    assert fv["f:metadata"] == {"f:labels": {"f:app": {}}}
    container = fv["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert "." in container and "f:image" in container
    assert 'k:{"name":"A"}' in container["f:env"]
    assert obj["spec"]["replicas"] == 2


def test_ssa_reapply_merges_keeps_other_fields_and_removes_dropped_ones() -> None:
    live = server_side_apply(
        None, applied(env={"A": "1", "B": "2"}, labels={"app": "d", "x": "y"}), "me", False
    )
    live["spec"]["paused"] = True  # written by someone else, not owned by "me"
    live["metadata"]["uid"] = "u1"
    again = server_side_apply(live, applied(image="app:2", env={"A": "1"}), "me", False)
    container = again["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "app:2"
    assert container["env"] == [{"name": "A", "value": "1"}]  # B was mine and is gone
    assert again["metadata"]["labels"] == {"app": "d"}
    assert again["spec"]["paused"] is True
    assert again["metadata"]["uid"] == "u1"


def test_ssa_conflict_with_another_manager_and_force() -> None:
    live = server_side_apply(None, applied(), "first", False)
    with pytest.raises(ApplyConflictError) as err:
        server_side_apply(live, applied(image="app:9"), "second", False)
    assert any(
        '"first"' in c and ".spec.template.spec.containers" in c and "image" in c for c in err.value.conflicts
    )
    assert "conflict" in str(err.value)

    same = server_side_apply(live, applied(), "second", False)  # same values: shared, no conflict
    assert ("f:spec", "f:replicas") in owned(same, "first")
    assert ("f:spec", "f:replicas") in owned(same, "second")

    forced = server_side_apply(live, applied(image="app:9"), "second", True)
    assert forced["spec"]["template"]["spec"]["containers"][0]["image"] == "app:9"
    image = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"app"}', "f:image")
    assert image in owned(forced, "second")
    assert image not in owned(forced, "first")


def test_ssa_does_not_remove_fields_another_manager_still_owns() -> None:
    live = server_side_apply(None, applied(labels={"app": "d", "shared": "1"}), "a", False)
    live = server_side_apply(live, applied(labels={"app": "d", "shared": "1"}), "b", False)
    after = server_side_apply(live, applied(labels={"app": "d"}), "a", False)
    assert after["metadata"]["labels"] == {"app": "d", "shared": "1"}


def test_ssa_conflicts_with_update_managers() -> None:
    live = update_managed_fields(
        None, {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}}, "kubectl-create"
    )
    with pytest.raises(ApplyConflictError):
        server_side_apply(
            live, {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "other"}}, "kubectl", False
        )


def test_update_managed_fields_moves_changed_leaves() -> None:
    created = update_managed_fields(None, {"apiVersion": "v1", "data": {"a": "1", "b": "2"}}, "alice")
    assert owned(created, "alice") == {("f:data", "f:a"), ("f:data", "f:b")}
    updated = update_managed_fields(created, {**created, "data": {"a": "1", "b": "3", "c": "4"}}, "bob")
    assert owned(updated, "alice") == {("f:data", "f:a")}
    assert owned(updated, "bob") == {("f:data", "f:b"), ("f:data", "f:c")}


def test_fields_v1_round_trip() -> None:
    paths = {("f:a", "f:b"), ("f:l", 'k:{"name":"x"}', "."), ("f:l", 'k:{"name":"x"}', "f:v")}
    assert fields_from_v1(fields_to_v1(paths)) == paths
