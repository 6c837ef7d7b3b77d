"""The official `kubernetes` Python client against the development API server: every verb, selectors,
conflicts, finalizers, the four patch types, status subresource, generation, watches (replay, 410,
bookmarks, timeoutSeconds), namespace cascade, Secrets, CRDs with schema validation, garbage
collection, persistence across restarts (--state-file) and TLS."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from tests.fixtures.devcluster import api_client_for
from tests.support.polling import wait_for
from tfcontroller.dev.cluster import DevCluster

pytestmark = pytest.mark.timeout(60)


def api_error(call: Callable[[], Any]) -> client.ApiException:
    with pytest.raises(client.ApiException) as err:
        call()
    return err.value


def gone(call: Callable[[], Any]) -> bool:
    try:
        call()
    except client.ApiException as exc:
        return exc.status == 404
    return False


def cm(name: str, labels: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}, **meta}, "data": {"k": "v"}}


# ---------------------------------------------------------------------------------------------- CRUD


def test_create_returns_201_with_server_fields(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    obj, code, _ = v1.create_namespaced_config_map_with_http_info("default", cm("a"))
    assert code == 201
    assert obj.metadata.uid and obj.metadata.creation_timestamp and obj.metadata.resource_version
    again = v1.read_namespaced_config_map("a", "default")
    assert again.metadata.resource_version == obj.metadata.resource_version
    assert again.data == {"k": "v"}
    err = api_error(lambda: v1.create_namespaced_config_map("default", cm("a")))
    assert err.status == 409 and '"reason":"AlreadyExists"' in err.body


def test_generate_name_and_resource_versions_increase(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    first = v1.create_namespaced_config_map("default", {"metadata": {"generateName": "gen-"}})
    second = v1.create_namespaced_config_map("default", {"metadata": {"generateName": "gen-"}})
    assert first.metadata.name.startswith("gen-") and first.metadata.name != second.metadata.name
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)


def test_missing_namespace_is_404_and_invalid_name_is_422(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    err = api_error(lambda: v1.create_namespaced_config_map("nope", cm("a")))
    assert err.status == 404 and 'namespaces \\"nope\\" not found' in err.body
    err = api_error(lambda: v1.create_namespaced_config_map("default", cm("Bad_Name")))
    assert err.status == 422 and "metadata.name" in err.body


def test_label_and_field_selectors(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    v1.create_namespace({"metadata": {"name": "other"}})
    v1.create_namespaced_config_map("default", cm("a", {"app": "web", "tier": "front"}))
    v1.create_namespaced_config_map("default", cm("b", {"app": "db"}))
    v1.create_namespaced_config_map("default", cm("c"))
    v1.create_namespaced_config_map("other", cm("d", {"app": "web"}))

    def names(selector: str = "", fields: str = "", namespace: str | None = "default") -> list[str]:
        if namespace is None:
            items = v1.list_config_map_for_all_namespaces(label_selector=selector, field_selector=fields).items
        else:
            items = v1.list_namespaced_config_map(namespace, label_selector=selector, field_selector=fields).items
        return sorted(i.metadata.name for i in items)

    assert names("app=web") == ["a"]
    assert names("app==db") == ["b"]
    assert names("app!=web") == ["b", "c"]
    assert names("app in (web,db)") == ["a", "b"]
    assert names("app notin (web)") == ["b", "c"]
    assert names("tier") == ["a"]
    assert names("!app") == ["c"]
    assert names("app=web,tier=front") == ["a"]
    assert names("app=web", namespace=None) == ["a", "d"]
    assert names(fields="metadata.name=b") == ["b"]
    assert names(fields="metadata.namespace=other", namespace=None) == ["d"]
    assert names(fields="metadata.name!=b") == ["a", "c"]


def test_list_pagination_with_limit_and_continue(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    for i in range(5):
        v1.create_namespaced_config_map("default", cm(f"p{i}"))
    page = v1.list_namespaced_config_map("default", limit=2)
    seen = [i.metadata.name for i in page.items]
    while page.metadata._continue:
        page = v1.list_namespaced_config_map("default", limit=2, _continue=page.metadata._continue)
        seen += [i.metadata.name for i in page.items]
    assert seen == [f"p{i}" for i in range(5)]


def test_replace_with_stale_resource_version_conflicts(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    obj = v1.create_namespaced_config_map("default", cm("a"))
    obj.data = {"k": "new"}
    updated = v1.replace_namespaced_config_map("a", "default", obj)
    assert updated.data == {"k": "new"}
    assert int(updated.metadata.resource_version) > int(obj.metadata.resource_version)
    obj.data = {"k": "stale"}  # still carries the old resourceVersion
    err = api_error(lambda: v1.replace_namespaced_config_map("a", "default", obj))
    assert err.status == 409 and '"reason":"Conflict"' in err.body
    assert v1.read_namespaced_config_map("a", "default").data == {"k": "new"}


def test_noop_update_keeps_resource_version(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    obj = v1.create_namespaced_config_map("default", cm("a"))
    same = v1.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    assert same.metadata.resource_version == obj.metadata.resource_version


def test_finalizers_delay_deletion_until_removed(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    v1.create_namespaced_config_map("default", cm("a", finalizers=["example.com/keep"]))
    v1.delete_namespaced_config_map("a", "default")
    pending = v1.read_namespaced_config_map("a", "default")
    assert pending.metadata.deletion_timestamp is not None
    assert pending.metadata.finalizers == ["example.com/keep"]
    v1.patch_namespaced_config_map("a", "default", [{"op": "remove", "path": "/metadata/finalizers"}])
    assert gone(lambda: v1.read_namespaced_config_map("a", "default"))


def test_delete_collection_by_label(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    v1.create_namespaced_config_map("default", cm("a", {"x": "1"}))
    v1.create_namespaced_config_map("default", cm("b", {"x": "1"}))
    v1.create_namespaced_config_map("default", cm("c"))
    v1.delete_collection_namespaced_config_map("default", label_selector="x=1")
    names = [i.metadata.name for i in v1.list_namespaced_config_map("default").items]
    assert "a" not in names and "b" not in names and "c" in names


# ---------------------------------------------------------------------------------------------- patches


DEPLOYMENT = {
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "app", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]},
                    {"name": "sidecar", "image": "busybox"},
                ]
            },
        },
    },
}


def test_strategic_merge_patch_merges_containers_by_name(dev_api_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(dev_api_client)
    apps.create_namespaced_deployment("default", DEPLOYMENT)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]}]}}}}
    out = apps.patch_namespaced_deployment("web", "default", patch, _content_type="application/strategic-merge-patch+json")
    containers = {c.name: c for c in out.spec.template.spec.containers}
    assert set(containers) == {"app", "sidecar"}
    assert containers["app"].image == "nginx:2"
    assert {e.name for e in containers["app"].env} == {"A", "B"}


def test_merge_patch_replaces_lists_and_json_patch_edits_paths(dev_api_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(dev_api_client)
    apps.create_namespaced_deployment("default", DEPLOYMENT)
    merged = apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}},
        _content_type="application/merge-patch+json",
    )
    assert [c.name for c in merged.spec.template.spec.containers] == ["only"]
    patched = apps.patch_namespaced_deployment(
        "web", "default", [{"op": "replace", "path": "/spec/replicas", "value": 3}],
        _content_type="application/json-patch+json",
    )
    assert patched.spec.replicas == 3
    err = api_error(lambda: apps.patch_namespaced_deployment(
        "web", "default", [{"op": "test", "path": "/spec/replicas", "value": 9}],
        _content_type="application/json-patch+json",
    ))
    assert err.status == 422


def test_server_side_apply_records_managed_fields_and_conflicts(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": "v"}}
    out = v1.patch_namespaced_config_map("ssa", "default", body, field_manager="alice",
                                         _content_type="application/apply-patch+yaml")
    assert out.data == {"k": "v"}
    assert [(m.manager, m.operation) for m in out.metadata.managed_fields] == [("alice", "Apply")]
    clash = {**body, "data": {"k": "other"}}
    err = api_error(lambda: v1.patch_namespaced_config_map("ssa", "default", clash, field_manager="bob",
                                                           _content_type="application/apply-patch+yaml"))
    assert err.status == 409
    forced = v1.patch_namespaced_config_map("ssa", "default", clash, field_manager="bob", force=True,
                                            _content_type="application/apply-patch+yaml")
    assert forced.data == {"k": "other"}


# ---------------------------------------------------------------------------------------------- status, generation


def test_status_subresource_is_kept_apart_and_generation_tracks_spec(dev_api_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(dev_api_client)
    created = apps.create_namespaced_deployment("default", {**DEPLOYMENT, "status": {"replicas": 7}})
    assert created.status is None or created.status.replicas is None  # create resets status
    assert created.metadata.generation == 1

    status = apps.patch_namespaced_deployment_status("web", "default", {"status": {"replicas": 5}, "spec": {"replicas": 9}})
    assert status.status.replicas == 5 and status.spec.replicas == 1
    assert status.metadata.generation == 1  # status writes never move generation

    main = apps.patch_namespaced_deployment("web", "default", {"status": {"replicas": 0}, "metadata": {"labels": {"l": "1"}}})
    assert main.status.replicas == 5  # main writes ignore status
    assert main.metadata.generation == 1  # metadata-only change

    spec = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 2}})
    assert spec.metadata.generation == 2


# ---------------------------------------------------------------------------------------------- watches


def test_watch_replays_from_resource_version(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    start = v1.list_namespaced_config_map("default").metadata.resource_version
    v1.create_namespaced_config_map("default", cm("w"))
    v1.patch_namespaced_config_map("w", "default", {"data": {"k": "2"}})
    v1.create_namespaced_config_map("default", cm("ignored", {"skip": "yes"}))
    v1.delete_namespaced_config_map("w", "default")
    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            v1.list_namespaced_config_map, "default", resource_version=start, label_selector="!skip", timeout_seconds=1
        )
    ]
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_watch_single_object_by_field_selector_sees_live_changes(dev_cluster: DevCluster) -> None:
    api = api_client_for(dev_cluster)
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_config_map("default", cm("one"))
    v1.create_namespaced_config_map("default", cm("two"))
    w = watch.Watch()
    seen: list[tuple[str, str]] = []
    for event in w.stream(v1.list_namespaced_config_map, "default", field_selector="metadata.name=one", timeout_seconds=10):
        seen.append((event["type"], event["object"].data["k"]))
        if len(seen) == 1:
            writer = client.CoreV1Api(api_client_for(dev_cluster))
            writer.patch_namespaced_config_map("two", "default", {"data": {"k": "x"}})
            writer.patch_namespaced_config_map("one", "default", {"data": {"k": "changed"}})
        if len(seen) == 2:
            w.stop()
    assert seen == [("ADDED", "v"), ("MODIFIED", "changed")]


def test_watch_from_compacted_resource_version_is_410(dev_cluster: DevCluster, dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    old = v1.create_namespaced_config_map("default", cm("a")).metadata.resource_version
    v1.patch_namespaced_config_map("a", "default", {"data": {"k": "2"}})
    dev_cluster.compact()
    err = api_error(lambda: list(watch.Watch().stream(
        v1.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=2
    )))
    assert err.status == 410


def test_watch_sends_bookmarks_and_ends_at_timeout(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    resp = v1.list_namespaced_config_map(
        "default", watch=True, allow_watch_bookmarks=True, resource_version=rv, timeout_seconds=2,
        _preload_content=False,
    )
    lines = [line for line in resp.read().decode().splitlines() if line]  # returns because the server ends it
    assert lines and all('"type":"BOOKMARK"' in line for line in lines)
    assert f'"resourceVersion":"{rv}"' in lines[0]


# ---------------------------------------------------------------------------------------------- kinds


def test_namespace_deletion_deletes_its_content(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    v1.create_namespace({"metadata": {"name": "doomed"}})
    v1.create_namespaced_config_map("doomed", cm("a"))
    v1.create_namespaced_secret("doomed", {"metadata": {"name": "s"}, "stringData": {"x": "y"}})
    v1.create_namespaced_config_map("default", cm("survivor"))
    v1.delete_namespace("doomed")
    wait_for(lambda: gone(lambda: v1.read_namespace("doomed")))
    assert v1.list_namespaced_config_map("doomed").items == []
    assert v1.read_namespaced_config_map("survivor", "default")
    err = api_error(lambda: v1.delete_namespace("default"))
    assert err.status == 403


def test_secret_string_data_folds_into_data(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    s = v1.create_namespaced_secret(
        "default", {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}, "data": {"a": "Yg=="}}
    )
    assert s.string_data is None and s.type == "Opaque"
    assert base64.b64decode(s.data["password"]) == b"hunter2" and s.data["a"] == "Yg=="


def test_leases_events_service_accounts_are_plain_objects(dev_api_client: client.ApiClient) -> None:
    coord = client.CoordinationV1Api(dev_api_client)
    lease = coord.create_namespaced_lease("default", {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}})
    lease.spec.holder_identity = None
    assert coord.replace_namespaced_lease("l", "default", lease).spec.holder_identity is None
    events = client.EventsV1Api(dev_api_client)
    events.create_namespaced_event("default", {
        "metadata": {"name": "e1"}, "eventTime": "2024-01-01T00:00:00.000000Z", "reason": "Tested",
        "action": "Test", "reportingController": "x", "reportingInstance": "y", "type": "Normal",
        "regarding": {"kind": "ConfigMap", "name": "a", "namespace": "default"},
    })
    assert events.read_namespaced_event("e1", "default").reason == "Tested"
    v1 = client.CoreV1Api(dev_api_client)
    v1.create_namespaced_event("default", {"metadata": {"name": "e2"}, "involvedObject": {"name": "a"}, "reason": "Core"})
    assert v1.read_namespaced_event("e2", "default").reason == "Core"
    v1.create_namespaced_service_account("default", {"metadata": {"name": "robot"}})
    # `default` is there as on a real cluster (the ServiceAccount controller makes one per namespace)
    assert [sa.metadata.name for sa in v1.list_namespaced_service_account("default").items] == ["default", "robot"]
    rbac = client.RbacAuthorizationV1Api(dev_api_client)
    rbac.create_cluster_role({"metadata": {"name": "system:test"}, "rules": []})
    assert rbac.read_cluster_role("system:test").metadata.name == "system:test"


# ---------------------------------------------------------------------------------------------- CRDs

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
        "versions": [{
            "name": "v1",
            "served": True,
            "storage": True,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["size"],
                        "properties": {
                            "size": {"type": "integer", "minimum": 1},
                            "color": {"type": "string", "default": "blue"},
                        },
                    },
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }},
        }],
    },
}


def test_crd_is_served_validated_and_removed(dev_api_client: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(dev_api_client)
    crd = ext.create_custom_resource_definition(WIDGET_CRD)
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions == {"Established": "True", "NamesAccepted": "True"}
    assert crd.status.accepted_names.kind == "Widget"

    custom = client.CustomObjectsApi(dev_api_client)
    w = custom.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 2, "junk": 1}},
    )
    assert w["spec"] == {"size": 2, "color": "blue"}  # defaulted and pruned
    err = api_error(lambda: custom.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "bad"}, "spec": {"size": "big"}},
    ))
    assert err.status == 422 and "spec.size" in err.body

    patched = custom.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w", {"spec": {"size": 3}})
    assert patched["spec"]["size"] == 3 and patched["metadata"]["generation"] == 2
    status = custom.patch_namespaced_custom_object_status(
        "example.com", "v1", "default", "widgets", "w", {"status": {"ready": True}, "spec": {"size": 9}}
    )
    assert status["status"] == {"ready": True} and status["spec"]["size"] == 3

    ext.delete_custom_resource_definition("widgets.example.com")
    err = api_error(lambda: custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets"))
    assert err.status == 404
    ext.create_custom_resource_definition(WIDGET_CRD)
    assert custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")["items"] == []


# ---------------------------------------------------------------------------------------------- GC


def test_garbage_collection_follows_owner_references(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    owner = v1.create_namespaced_config_map("default", cm("owner"))
    other = v1.create_namespaced_config_map("default", cm("other"))

    def ref(obj: Any) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap", "name": obj.metadata.name, "uid": obj.metadata.uid}

    v1.create_namespaced_secret("default", {"metadata": {"name": "child", "ownerReferences": [ref(owner)]}})
    v1.create_namespaced_secret("default", {"metadata": {"name": "shared", "ownerReferences": [ref(owner), ref(other)]}})
    v1.create_namespaced_config_map("default", cm("grandchild", ownerReferences=[
        {"apiVersion": "v1", "kind": "Secret", "name": "child",
         "uid": v1.read_namespaced_secret("child", "default").metadata.uid}]))
    v1.delete_namespaced_config_map("owner", "default")
    wait_for(lambda: gone(lambda: v1.read_namespaced_secret("child", "default")))
    wait_for(lambda: gone(lambda: v1.read_namespaced_config_map("grandchild", "default")))
    assert v1.read_namespaced_secret("shared", "default")  # one owner is still alive


# ---------------------------------------------------------------------------------------------- restart, TLS


def test_state_file_survives_restart_and_old_watchers_get_410(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with DevCluster(state_file=state) as first:
        api = api_client_for(first)
        v1 = client.CoreV1Api(api)
        before = v1.create_namespaced_config_map("default", cm("kept"))
        api.close()
    with DevCluster(state_file=state) as second:
        api = api_client_for(second)
        v1 = client.CoreV1Api(api)
        kept = v1.read_namespaced_config_map("kept", "default")
        assert kept.metadata.uid == before.metadata.uid
        newer = v1.create_namespaced_config_map("default", cm("new"))
        assert int(newer.metadata.resource_version) > int(before.metadata.resource_version)
        err = api_error(lambda: list(watch.Watch().stream(
            v1.list_namespaced_config_map, "default", resource_version=before.metadata.resource_version,
            timeout_seconds=2,
        )))
        assert err.status == 410
        api.close()


def test_tls_mode_works_with_the_client() -> None:
    with DevCluster(tls=True) as cluster:
        assert cluster.url.startswith("https://")
        api = api_client_for(cluster)
        v1 = client.CoreV1Api(api)
        assert "default" in [n.metadata.name for n in v1.list_namespace().items]
        api.close()
