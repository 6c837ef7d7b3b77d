"""Discovery, version and OpenAPI documents of the development API server, built from the registry.

kubectl reads these before it does anything: the group and resource lists map `kubectl get tf` to a
URL, and the OpenAPI v3 documents decide how `kubectl apply` validates. Choices made so that an
unmodified kubectl 1.32 works without `--validate=false`:

- Every OpenAPI v3 group-version document lists a PATCH operation per resource that carries
  `x-kubernetes-group-version-kind` and the `fieldValidation` query parameter. kubectl checks exactly
  that to decide that the server validates fields itself, so it needs no client-side schema.
- Built-in kinds get no component schema (we do not ship the Kubernetes type definitions). kubectl
  then computes strategic merge patches for them from the Go types compiled into it, which is the
  most faithful patch we can get. Custom kinds get their CRD's openAPIV3Schema as the component.
- OpenAPI v2 is served as JSON to clients that accept JSON. kubectl asks for v2 only as protobuf and
  parses the body as a protobuf `openapi_v2.Document`; an empty body is a valid empty document, so
  such clients get that (`openapi_v2_response`), and kubectl falls back to its compiled types.
- Discovery is the legacy (unaggregated) form; kubectl falls back to it when the answer is plain
  `application/json`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from tfcontroller.dev.cluster.resources import Registry, ResourceInfo

KUBE_VERSION = {"major": "1", "minor": "32"}
GIT_VERSION = "v1.32.0-tfcontroller-dev"
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
_STATUS_VERBS = ["get", "patch", "update"]


def version_info() -> dict[str, Any]:
    """The /version document (kubectl warns on skew, so it claims the same minor as kubectl 1.32)."""
    return {
        **KUBE_VERSION,
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_api_versions(server_address: str) -> dict[str, Any]:
    """The /api document: the core group has only v1."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _versions_by_group(registry: Registry) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for info in registry.all():
        if info.group and info.version not in groups.setdefault(info.group, []):
            groups[info.group].append(info.version)
    return groups


def _preferred(versions: list[str]) -> str:
    """The most stable version: GA before beta before alpha, higher numbers first (v2 > v1beta1)."""

    def rank(v: str) -> tuple[int, int, int]:
        body = v[1:]
        for level, marker in ((1, "beta"), (0, "alpha")):
            if marker in body:
                major, _, minor = body.partition(marker)
                return (level, int(major or 0), int(minor or 0) if minor.isdigit() else 0)
        return (2, int(body) if body.isdigit() else 0, 0)

    return max(versions, key=rank)


def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    preferred = _preferred(versions)
    return {
        "name": group,
        "versions": gvs,
        "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred},
    }


def api_group_list(registry: Registry) -> dict[str, Any]:
    """The /apis document: every named group with its versions."""
    groups = _versions_by_group(registry)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_doc(g, vs) for g, vs in sorted(groups.items())],
    }


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    """The /apis/<group> document, or None when the group is not served."""
    versions = _versions_by_group(registry).get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def _infos(registry: Registry, group: str, version: str) -> list[ResourceInfo]:
    return sorted(
        (i for i in registry.all() if i.group == group and i.version == version), key=lambda i: i.plural
    )


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The /api/v1 or /apis/<group>/<version> document, or None when that version is not served."""
    infos = _infos(registry, group, version)
    if not infos:
        return None
    resources: list[dict[str, Any]] = []
    for info in infos:
        entry: dict[str, Any] = {
            "name": info.plural,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": list(info.verbs),
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        resources.append(entry)
        if info.has_status:
            resources.append(
                {
                    "name": f"{info.plural}/status",
                    "singularName": "",
                    "namespaced": info.namespaced,
                    "kind": info.kind,
                    "verbs": list(_STATUS_VERBS),
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": infos[0].group_version,
        "resources": resources,
    }


# ---------------------------------------------------------------------------------------------
# OpenAPI


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(info: ResourceInfo) -> str:
    """Component name in the style of the real server: reversed group, version, kind."""
    group = ".".join(reversed(info.group.split("."))) if info.group else "io.k8s.api.core"
    return f"{group}.{info.version}.{info.kind}"


def _gvk(info: ResourceInfo) -> dict[str, str]:
    return {"group": info.group, "version": info.version, "kind": info.kind}


def _crd_schema(info: ResourceInfo) -> dict[str, Any]:
    """A custom kind's published schema: its openAPIV3Schema plus apiVersion, kind and metadata."""
    schema = copy.deepcopy(info.schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    schema.setdefault("type", "object")
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "description": "APIVersion of this object."}
    props["kind"] = {"type": "string", "description": "Kind of this object."}
    props["metadata"] = {"type": "object", "description": "Standard object metadata."}
    schema["x-kubernetes-group-version-kind"] = [_gvk(info)]
    return schema


def _param(name: str, where: str, required: bool = False) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": where, "schema": {"type": "string"}}
    if required:
        param["required"] = True
    return param


_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")


def _operation(
    info: ResourceInfo, action: str, verb_id: str, query: tuple[str, ...], ref: str | None
) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": ref}}} if ref else {}
    response: dict[str, Any] = {"description": "OK"}
    if content:
        response["content"] = content
    op: dict[str, Any] = {
        "operationId": f"{verb_id}{info.kind}{info.group.replace('.', '')}{info.version}",
        "parameters": [_param(q, "query") for q in query],
        "responses": {"200": response},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(info),
    }
    if action in ("post", "put", "patch") and ref:
        op["requestBody"] = {"content": content}
    return op


def _paths(info: ResourceInfo, ref: str | None) -> dict[str, dict[str, Any]]:
    base = "/" + _gv_path(info.group, info.version)
    scope = f"{base}/namespaces/{{namespace}}" if info.namespaced else base
    scope_params = [_param("namespace", "path", True)] if info.namespaced else []
    item_params = [*scope_params, _param("name", "path", True)]
    collection = {
        "get": _operation(info, "list", "list", ("labelSelector", "fieldSelector", "watch"), None),
        "post": _operation(info, "post", "create", _WRITE_PARAMS, ref),
        "parameters": scope_params,
    }
    item = {
        "get": _operation(info, "get", "read", (), ref),
        "put": _operation(info, "put", "replace", _WRITE_PARAMS, ref),
        "patch": _operation(info, "patch", "patch", (*_WRITE_PARAMS, "force"), ref),
        "delete": _operation(info, "delete", "delete", ("dryRun",), None),
        "parameters": item_params,
    }
    paths = {f"{scope}/{info.plural}": collection, f"{scope}/{info.plural}/{{name}}": item}
    if info.has_status:
        paths[f"{scope}/{info.plural}/{{name}}/status"] = {
            "get": _operation(info, "get", "readStatus", (), ref),
            "put": _operation(info, "put", "replaceStatus", _WRITE_PARAMS, ref),
            "patch": _operation(info, "patch", "patchStatus", (*_WRITE_PARAMS, "force"), ref),
            "parameters": item_params,
        }
    return paths


def openapi_v3_group_version(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """/openapi/v3/api/v1 or /openapi/v3/apis/<group>/<version>, or None when not served."""
    infos = _infos(registry, group, version)
    if not infos:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for info in infos:
        ref = None
        if info.schema is not None:
            name = _schema_name(info)
            schemas[name] = _crd_schema(info)
            ref = f"#/components/schemas/{name}"
        paths.update(_paths(info, ref))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _digest(doc: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()


def openapi_v3_index(registry: Registry) -> dict[str, Any]:
    """/openapi/v3: one entry per served group-version; the hash changes whenever the document does,
    so kubectl's disk cache never serves a stale schema after a CRD changes."""
    gvs = sorted({(i.group, i.version) for i in registry.all()})
    paths: dict[str, Any] = {}
    for group, version in gvs:
        doc = openapi_v3_group_version(registry, group, version)
        if doc is None:
            continue
        path = _gv_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={_digest(doc)}"}
    return {"paths": paths}


def _v2_schema(schema: Any) -> Any:
    """OpenAPI v2 has no `nullable`, `oneOf`/`anyOf`/`not` on the published schema: drop them."""
    if isinstance(schema, dict):
        return {k: _v2_schema(v) for k, v in schema.items() if k not in ("nullable", "oneOf", "anyOf", "not")}
    if isinstance(schema, list):
        return [_v2_schema(v) for v in schema]
    return schema


def openapi_v2(registry: Registry) -> dict[str, Any]:
    """/openapi/v2 as JSON: custom kinds' schemas and every resource's paths."""
    definitions: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for info in sorted(registry.all(), key=lambda i: (i.group, i.version, i.plural)):
        ref = None
        if info.schema is not None:
            name = _schema_name(info)
            definitions[name] = _v2_schema(_crd_schema(info))
            ref = f"#/definitions/{name}"
        for path, item in _paths(info, None).items():
            v2_item: dict[str, Any] = {}
            for method, op in item.items():
                if method == "parameters":
                    v2_item[method] = [
                        {"name": p["name"], "in": p["in"], "type": "string", "required": True} for p in op
                    ]
                    continue
                response: dict[str, Any] = {"description": "OK"}
                if ref:
                    response["schema"] = {"$ref": ref}
                v2_item[method] = {
                    "operationId": op["operationId"],
                    "parameters": [
                        {"name": p["name"], "in": "query", "type": "string", "uniqueItems": True}
                        for p in op["parameters"]
                    ],
                    "responses": {"200": response},
                    "x-kubernetes-action": op["x-kubernetes-action"],
                    "x-kubernetes-group-version-kind": op["x-kubernetes-group-version-kind"],
                }
            paths[path] = v2_item
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "definitions": definitions,
    }


def openapi_v2_response(registry: Registry, accept: str) -> tuple[str, bytes]:
    """(content type, body) for GET /openapi/v2 given the request's Accept header.

    A client that prefers protobuf (kubectl, client-go) gets an empty protobuf Document: valid, with
    no definitions, so it falls back to the types compiled into it. Everyone else gets JSON.
    """
    first = (accept or "").split(",")[0].strip().lower()
    if "protobuf" in first:
        return OPENAPI_V2_PROTOBUF, b""
    return "application/json", json.dumps(openapi_v2(registry)).encode()


def accepts_only_protobuf(accept: str) -> bool:
    """True when a request's Accept header names protobuf and nothing JSON-compatible: answer 406."""
    kinds = [a.split(";")[0].strip().lower() for a in (accept or "").split(",") if a.strip()]
    return bool(kinds) and all("protobuf" in k for k in kinds)
