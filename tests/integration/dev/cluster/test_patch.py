"""Patches over the wire with the official Python client against the development API server: strategic
merge directives ($patch delete/replace, $retainKeys, $setElementOrder, $deleteFromPrimitiveList),
Service ports keyed by port, server-side apply shared between two managers (keyed lists merged,
dropped fields removed, conflicts as 409 with causes), apply to a custom resource and to its status,
and the patch types a custom resource refuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

SMP = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gizmos.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer"}, "color": {"type": "string"}},
                            },
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


def _error(call: Callable[[], Any]) -> ApiException:
    with pytest.raises(ApiException) as info:
        call()
    return info.value


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "finalizers": ["example.com/a", "example.com/b"]},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]},
                        {"name": "side", "image": "side:1"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
        },
    }


def test_strategic_merge_directives(dev_api_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(dev_api_client)
    apps.create_namespaced_deployment("default", _deployment())
    patch = {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
                    "containers": [{"name": "app", "ports": [{"containerPort": 443}]}],
                    "volumes": [{"name": "data", "$patch": "delete"}, {"name": "cache", "emptyDir": {}}],
                }
            },
        },
    }
    out = apps.patch_namespaced_deployment("web", "default", patch, _content_type=SMP)
    assert out.metadata.finalizers == ["example.com/b"]
    assert out.spec.strategy.type == "Recreate" and out.spec.strategy.rolling_update is None
    containers = out.spec.template.spec.containers
    assert [c.name for c in containers] == ["side", "app"]
    assert [p.container_port for p in containers[1].ports] == [80, 443]
    assert [v.name for v in out.spec.template.spec.volumes] == ["cache"]

    replaced = apps.patch_namespaced_deployment(
        "web",
        "default",
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o:1"}]}
                }
            }
        },
        _content_type=SMP,
    )
    assert [c.name for c in replaced.spec.template.spec.containers] == ["only"]


def test_service_ports_merge_by_port(dev_api_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(dev_api_client)
    svc = {
        "metadata": {"name": "svc"},
        "spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]},
    }
    v1.create_namespaced_service("default", svc)
    out = v1.patch_namespaced_service(
        "svc", "default", {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}, _content_type=SMP
    )
    assert [(p.port, p.name, p.target_port) for p in out.spec.ports] == [
        (80, "http", 8080),
        (443, "https", None),
    ]


def _env_apply(manager: str, env: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "shared", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "shared"}},
            "template": {
                "metadata": {"labels": {"app": "shared"}},
                "spec": {
                    "containers": [{"name": "app", "env": [{"name": k, "value": v} for k, v in env.items()]}]
                },
            },
        },
    }


def _apply(apps: client.AppsV1Api, manager: str, body: dict[str, Any], force: bool = False) -> Any:
    return apps.patch_namespaced_deployment(
        "shared", "default", body, field_manager=manager, force=force, _content_type=APPLY
    )


def test_server_side_apply_shared_between_managers(dev_api_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(dev_api_client)
    _apply(apps, "alice", _env_apply("alice", {"A": "1", "A2": "x"}))
    out = _apply(apps, "bob", _env_apply("bob", {"B": "2"}))
    env = {e.name: e.value for e in out.spec.template.spec.containers[0].env}
    assert env == {"A": "1", "A2": "x", "B": "2"}  # keyed list merged across managers
    assert {m.manager for m in out.metadata.managed_fields} == {"alice", "bob"}

    out = _apply(apps, "alice", _env_apply("alice", {"A": "1"}))  # alice drops A2: removed
    assert {e.name for e in out.spec.template.spec.containers[0].env} == {"A", "B"}

    err = _error(lambda: _apply(apps, "bob", _env_apply("bob", {"A": "changed"})))
    assert err.status == 409
    body = json.loads(err.body)
    assert body["reason"] == "Conflict"
    assert body["details"]["causes"] and '"alice"' in body["details"]["causes"][0]["message"]

    out = _apply(apps, "bob", _env_apply("bob", {"A": "changed", "B": "2"}), force=True)
    assert {e.name: e.value for e in out.spec.template.spec.containers[0].env}["A"] == "changed"


def test_custom_resource_apply_status_apply_and_refused_strategic_patch(
    dev_api_client: client.ApiClient,
) -> None:
    ext = client.ApiextensionsV1Api(dev_api_client)
    ext.create_custom_resource_definition(CRD)
    custom = client.CustomObjectsApi(dev_api_client)
    gizmo = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}, "spec": {"size": 1}}
    args = ("example.com", "v1", "default", "gizmos", "g")
    custom.patch_namespaced_custom_object(*args, gizmo, field_manager="me", _content_type=APPLY)
    created = custom.get_namespaced_custom_object(*args)  # the client maps only 200, and a create is 201
    assert created["spec"] == {"size": 1}
    assert created["metadata"]["managedFields"][0]["operation"] == "Apply"

    status = {
        "apiVersion": "example.com/v1",
        "kind": "Gizmo",
        "metadata": {"name": "g"},
        "status": {"phase": "Up"},
    }
    out = custom.patch_namespaced_custom_object_status(
        *args, status, field_manager="ctl", _content_type=APPLY
    )
    assert out["status"] == {"phase": "Up"} and out["spec"] == {"size": 1}

    merged = custom.patch_namespaced_custom_object(
        *args, {"spec": {"color": "red"}}
    )  # merge patch by default
    assert merged["spec"] == {"size": 1, "color": "red"} and merged["status"] == {"phase": "Up"}

    err = _error(
        lambda: custom.patch_namespaced_custom_object(*args, {"spec": {"size": 2}}, _content_type=SMP)
    )
    assert err.status == 415
