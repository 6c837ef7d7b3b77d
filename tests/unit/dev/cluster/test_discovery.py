"""tfcontroller.dev.cluster.discovery: discovery lists, /version and the OpenAPI v2/v3 documents built
from the registry, including what kubectl checks to use server-side field validation."""

from __future__ import annotations

import json

from tfcontroller.dev.cluster.discovery import (
    OPENAPI_V2_PROTOBUF,
    accepts_only_protobuf,
    api_group,
    api_group_list,
    api_resource_list,
    core_api_versions,
    openapi_v2,
    openapi_v2_response,
    openapi_v3_group_version,
    openapi_v3_index,
    version_info,
)
from tfcontroller.dev.cluster.resources import Registry, ResourceInfo

SCHEMA = {"type": "object", "properties": {"spec": {"type": "object", "nullable": True}}}


def registry() -> Registry:
    reg = Registry()
    reg.add(
        ResourceInfo(
            group="tfcontroller.io",
            version="v1alpha1",
            kind="Terraform",
            plural="terraforms",
            singular="terraform",
            namespaced=True,
            short_names=["tf"],
            categories=["tfcontroller"],
            has_status=True,
            schema=SCHEMA,
        )
    )
    return reg


def test_core_and_version_documents() -> None:
    assert core_api_versions("127.0.0.1:1")["versions"] == ["v1"]
    assert version_info()["major"] == "1" and version_info()["gitVersion"].startswith("v1.32")


def test_group_list_includes_crd_groups_with_preferred_version() -> None:
    groups = {g["name"]: g for g in api_group_list(registry())["groups"]}
    assert "" not in groups
    assert groups["tfcontroller.io"]["preferredVersion"]["version"] == "v1alpha1"
    assert groups["apps"]["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]
    assert api_group(registry(), "apps")["kind"] == "APIGroup"
    assert api_group(registry(), "nope.io") is None


def test_resource_list_has_names_verbs_and_status_subresources() -> None:
    doc = api_resource_list(registry(), "tfcontroller.io", "v1alpha1")
    assert doc["groupVersion"] == "tfcontroller.io/v1alpha1"
    main, status = doc["resources"]
    assert (
        main["name"] == "terraforms"
        and main["shortNames"] == ["tf"]
        and main["categories"] == ["tfcontroller"]
    )
    assert main["namespaced"] is True and main["kind"] == "Terraform" and main["singularName"] == "terraform"
    assert "watch" in main["verbs"]
    assert status == {
        "name": "terraforms/status",
        "singularName": "",
        "namespaced": True,
        "kind": "Terraform",
        "verbs": ["get", "patch", "update"],
    }
    core = api_resource_list(registry(), "", "v1")
    assert core["groupVersion"] == "v1"
    assert any(r["name"] == "namespaces" and r["namespaced"] is False for r in core["resources"])
    assert api_resource_list(registry(), "apps", "v9") is None


def _patch_ops(doc: dict) -> list[dict]:
    return [item["patch"] for item in doc["paths"].values() if "patch" in item]


def test_openapi_v3_advertises_field_validation_for_every_kind() -> None:
    reg = registry()
    index = openapi_v3_index(reg)
    assert "apis/tfcontroller.io/v1alpha1" in index["paths"] and "api/v1" in index["paths"]
    url = index["paths"]["apis/tfcontroller.io/v1alpha1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/tfcontroller.io/v1alpha1?hash=")
    for group, version in (("", "v1"), ("apps", "v1"), ("tfcontroller.io", "v1alpha1")):
        doc = openapi_v3_group_version(reg, group, version)
        kinds = {op["x-kubernetes-group-version-kind"]["kind"] for op in _patch_ops(doc)}
        assert kinds == {i.kind for i in reg.all() if i.group == group and i.version == version}
        for op in _patch_ops(doc):
            assert {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}} in op[
                "parameters"
            ]
    json.dumps(doc)


def test_openapi_v3_publishes_crd_schema_only() -> None:
    reg = registry()
    schemas = openapi_v3_group_version(reg, "tfcontroller.io", "v1alpha1")["components"]["schemas"]
    schema = schemas["io.tfcontroller.v1alpha1.Terraform"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "tfcontroller.io", "version": "v1alpha1", "kind": "Terraform"}
    ]
    assert set(schema["properties"]) == {"apiVersion", "kind", "metadata", "spec"}
    assert openapi_v3_group_version(reg, "apps", "v1")["components"]["schemas"] == {}
    assert openapi_v3_group_version(reg, "nope.io", "v1") is None


def test_openapi_v3_hash_changes_with_the_document() -> None:
    reg = registry()
    before = openapi_v3_index(reg)["paths"]["apis/tfcontroller.io/v1alpha1"]["serverRelativeURL"]
    reg.add(
        ResourceInfo(
            group="tfcontroller.io",
            version="v1alpha1",
            kind="Other",
            plural="others",
            singular="other",
            namespaced=True,
            schema={},
        )
    )
    after = openapi_v3_index(reg)["paths"]["apis/tfcontroller.io/v1alpha1"]["serverRelativeURL"]
    assert before != after


def test_openapi_v2_json_and_protobuf_negotiation() -> None:
    reg = registry()
    doc = openapi_v2(reg)
    definition = doc["definitions"]["io.tfcontroller.v1alpha1.Terraform"]
    assert "nullable" not in json.dumps(definition)
    assert any(p.endswith("/terraforms/{name}") for p in doc["paths"])
    assert openapi_v2_response(reg, OPENAPI_V2_PROTOBUF) == (OPENAPI_V2_PROTOBUF, b"")
    ctype, body = openapi_v2_response(reg, "application/json")
    assert ctype == "application/json" and json.loads(body)["swagger"] == "2.0"
    assert accepts_only_protobuf("application/vnd.kubernetes.protobuf")
    assert not accepts_only_protobuf("application/vnd.kubernetes.protobuf, application/json")
    assert not accepts_only_protobuf("")
