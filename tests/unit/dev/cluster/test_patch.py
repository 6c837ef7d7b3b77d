"""tfcontroller.dev.cluster.patch on plain dicts: RFC 7386 merge patch, RFC 6902 JSON patch, strategic
merge patch (keyed lists and directives). Server-side apply is in test_apply.py."""

from __future__ import annotations

import copy

import pytest

from tfcontroller.dev.cluster.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch

# --- RFC 7386 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "want"),
    [  # the examples of RFC 7386 appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_json_merge_patch_rfc_examples(target: object, patch: object, want: object) -> None:
    assert json_merge_patch(target, patch) == want


def test_json_merge_patch_does_not_mutate_its_inputs() -> None:
    target = {"a": {"b": 1}}
    json_merge_patch(target, {"a": {"b": 2}})
    assert target == {"a": {"b": 1}}


# --- RFC 6902 -------------------------------------------------------------------------------


def test_json_patch_all_operations() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "x", "d/e": 1, "f~g": 2}
    got = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/1", "value": 9},
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "remove", "path": "/c"},
            {"op": "replace", "path": "/d~1e", "value": 10},
            {"op": "copy", "from": "/f~0g", "path": "/h"},
            {"op": "move", "from": "/a/b/0", "path": "/first"},
            {"op": "test", "path": "/a/b", "value": [9, 2, 3]},
        ],
    )
    assert got == {"a": {"b": [9, 2, 3]}, "d/e": 10, "f~g": 2, "h": 2, "first": 1}
    assert doc["c"] == "x"  # input untouched


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/a", "value": 2}],
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "add", "path": "/list/5", "value": 1}],
        [{"op": "add", "path": "/no/such/parent", "value": 1}],
        [{"op": "frobnicate", "path": "/a"}],
        [{"op": "add", "path": "/a"}],
        [{"op": "move", "from": "/obj", "path": "/obj/inner"}],
        [{"path": "/a"}],
        [{"op": "add", "path": "a", "value": 1}],
    ],
)
def test_json_patch_errors(ops: list[dict[str, object]]) -> None:
    doc = {"a": 1, "list": [1], "obj": {}}
    with pytest.raises(PatchError):
        json_patch(doc, ops)
    assert doc == {"a": 1, "list": [1], "obj": {}}


def test_json_patch_replace_root_and_add_to_empty_list() -> None:
    assert json_patch({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}]) == {"b": 2}
    assert json_patch({"l": []}, [{"op": "add", "path": "/l/0", "value": "x"}]) == {"l": ["x"]}


# --- strategic merge patch ------------------------------------------------------------------

POD_SPEC = {
    "containers": [
        {
            "name": "app",
            "image": "app:1",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "ports": [{"containerPort": 80, "name": "http"}],
            "volumeMounts": [{"mountPath": "/data", "name": "data"}],
        },
        {"name": "sidecar", "image": "side:1"},
    ],
    "volumes": [{"name": "data", "emptyDir": {}}],
    "tolerations": [{"key": "a", "operator": "Exists"}],
}


def deployment() -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"app": "d", "tier": "web"}, "finalizers": ["a"]},
        "spec": {"replicas": 1, "template": {"spec": copy.deepcopy(POD_SPEC)}},
    }


def test_smp_merges_containers_env_ports_volumes_by_key() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:2",
                            "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}],
                            "ports": [{"containerPort": 443}],
                            "volumeMounts": [{"mountPath": "/cache", "name": "cache"}],
                        }
                    ],
                    "volumes": [{"name": "cache", "emptyDir": {}}],
                    "tolerations": [{"key": "b", "operator": "Exists"}],
                }
            }
        }
    }
    got = strategic_merge_patch(deployment(), patch)
    spec = got["spec"]["template"]["spec"]
    app, sidecar = spec["containers"]
    assert sidecar == {"name": "sidecar", "image": "side:1"}
    assert app["image"] == "app:2"
    assert app["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "two"},
        {"name": "C", "value": "3"},
    ]
    assert [p["containerPort"] for p in app["ports"]] == [80, 443]
    assert [m["mountPath"] for m in app["volumeMounts"]] == ["/data", "/cache"]
    assert [v["name"] for v in spec["volumes"]] == ["data", "cache"]
    assert spec["tolerations"] == [{"key": "b", "operator": "Exists"}]  # replaced, not merged


def test_smp_null_deletes_and_scalars_replace() -> None:
    got = strategic_merge_patch(
        deployment(), {"metadata": {"labels": {"tier": None}}, "spec": {"replicas": 3}}
    )
    assert got["metadata"]["labels"] == {"app": "d"}
    assert got["spec"]["replicas"] == 3


def test_smp_service_ports_merge_by_port() -> None:
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    got = strategic_merge_patch(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, kind="Service")
    assert got["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


def test_smp_patch_delete_and_replace_directives() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "sidecar", "$patch": "delete"}],
                    "volumes": [{"$patch": "replace"}, {"name": "only", "emptyDir": {}}],
                }
            },
            "strategy": {"$patch": "delete"},
        },
        "metadata": {"labels": {"$patch": "replace", "new": "yes"}},
    }
    base = deployment()
    base["spec"]["strategy"] = {"type": "Recreate"}
    got = strategic_merge_patch(base, patch)
    assert [c["name"] for c in got["spec"]["template"]["spec"]["containers"]] == ["app"]
    assert got["spec"]["template"]["spec"]["volumes"] == [{"name": "only", "emptyDir": {}}]
    assert "strategy" not in got["spec"]
    assert got["metadata"]["labels"] == {"new": "yes"}


def test_smp_retain_keys_primitive_list_deletion_and_element_order() -> None:
    base = deployment()
    base["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
    base["metadata"]["finalizers"] = ["a", "b"]
    patch = {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"]},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}},
        },
    }
    got = strategic_merge_patch(base, patch)
    assert got["spec"]["strategy"] == {"type": "Recreate"}
    assert got["metadata"]["finalizers"] == ["b", "c"]
    assert [c["name"] for c in got["spec"]["template"]["spec"]["containers"]] == ["sidecar", "app"]
    assert not any(k.startswith("$") for k in got["metadata"])


def test_smp_conditions_merge_by_type_and_new_items_are_cleaned() -> None:
    obj = {
        "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Other", "status": "True"}]}
    }
    got = strategic_merge_patch(
        obj, {"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "New", "x": None}]}}
    )
    assert got["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "Other", "status": "True"},
        {"type": "New"},
    ]


def test_smp_rejects_non_object() -> None:
    with pytest.raises(PatchError):
        strategic_merge_patch({}, [1])  # type: ignore[arg-type]
