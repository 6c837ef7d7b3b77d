"""Server-side field validation (`?fieldValidation=Strict|Warn|Ignore`) on the development API server:
unknown fields of custom objects (and unknown ObjectMeta fields of any kind) are refused with the real
server's 400 under Strict, accepted with `Warning` headers under Warn (the default), dropped silently
under Ignore — for create, update, merge/JSON patch and server-side apply — with the official Python
client and with the real kubectl (`apply` fails naming the field; `--validate=false` prunes it)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.devcluster import admin_urlopen, api_client_for
from tfcontroller.dev.cluster import DevCluster

pytestmark = pytest.mark.timeout(60)

GROUP, VERSION, PLURAL = "example.com", "v1", "gizmos"

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "gizmo", "kind": "Gizmo"},
        "versions": [{
            "name": VERSION, "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "size": {"type": "integer", "minimum": 1},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                }},
            }}},
        }],
    },
}

CR_YAML = """
apiVersion: example.com/v1
kind: Gizmo
metadata: {name: g1, namespace: default}
spec: {size: 2, bogus: true}
"""


def gizmo(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Gizmo", "metadata": {"name": name}, "spec": spec}


@pytest.fixture
def custom(dev_cluster: DevCluster) -> Iterator[client.CustomObjectsApi]:
    api_client = api_client_for(dev_cluster)
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition(CRD)
    try:
        yield client.CustomObjectsApi(api_client)
    finally:
        api_client.close()


def bad_request(call: Callable[[], Any]) -> str:
    with pytest.raises(client.ApiException) as err:
        call()
    assert err.value.status == 400, err.value.body
    return str(err.value.body)


def create(api: client.CustomObjectsApi, body: dict[str, Any], validation: str | None = None) -> tuple[Any, Any]:
    kwargs = {"field_validation": validation} if validation else {}
    data, _, headers = api.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, "default", PLURAL, body, **kwargs
    )
    return data, headers


# ------------------------------------------------------------------------------------- Python client


def test_strict_create_is_400_naming_every_unknown_field(custom: client.CustomObjectsApi) -> None:
    body = bad_request(lambda: create(custom, gizmo("g", size=1, zeta=1, bogus={"x": 1}), "Strict"))
    assert (
        'Gizmo in version \\"v1\\" cannot be handled as a Gizmo: strict decoding error: '
        'unknown field \\"spec.bogus\\", unknown field \\"spec.zeta\\"'
    ) in body
    assert '"reason":"BadRequest"' in body.replace(" ", "")
    with pytest.raises(client.ApiException) as err:
        custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "g")
    assert err.value.status == 404


def test_strict_reports_unknown_fields_before_schema_errors(custom: client.CustomObjectsApi) -> None:
    body = bad_request(lambda: create(custom, gizmo("g", size=0, bogus=1), "Strict"))
    assert 'unknown field \\"spec.bogus\\"' in body


def test_strict_accepts_preserved_and_known_fields(custom: client.CustomObjectsApi) -> None:
    data, headers = create(custom, gizmo("g", size=1, free={"any": {"thing": 1}}), "Strict")
    assert data["spec"] == {"size": 1, "free": {"any": {"thing": 1}}}
    assert "Warning" not in headers


def test_warn_is_the_default_and_drops_the_fields_with_warning_headers(custom: client.CustomObjectsApi) -> None:
    data, headers = create(custom, gizmo("g", size=1, bogus=1, other=2))
    assert data["spec"] == {"size": 1}
    assert headers["Warning"] == '299 - "unknown field \\"spec.bogus\\"", 299 - "unknown field \\"spec.other\\""'
    data, headers = create(custom, gizmo("h", size=1, bogus=1), "Warn")
    assert headers["Warning"] == '299 - "unknown field \\"spec.bogus\\""'


def test_ignore_drops_silently(custom: client.CustomObjectsApi) -> None:
    data, headers = create(custom, gizmo("g", size=1, bogus=1), "Ignore")
    assert data["spec"] == {"size": 1}
    assert "Warning" not in headers
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "g")
    assert "bogus" not in stored["spec"]


def raw_request(cluster: DevCluster, method: str, path: str, body: dict[str, Any]) -> tuple[int, str, str]:
    """(status, Warning header, body) of a plain HTTP request; the typed client refuses extra keys."""
    req = urllib.request.Request(cluster.url + path, json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with admin_urlopen(cluster, req) as resp:
            return resp.status, resp.headers.get("Warning", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, "", exc.read().decode()


def test_unknown_metadata_fields_of_any_kind(dev_cluster: DevCluster) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "colour": "red"}, "data": {"k": "v"}}
    path = "/api/v1/namespaces/default/configmaps"
    code, _, text = raw_request(dev_cluster, "POST", path + "?fieldValidation=Strict", body)
    assert code == 400
    assert ('ConfigMap in version \\"v1\\" cannot be handled as a ConfigMap: strict decoding error: '
            'unknown field \\"metadata.colour\\"') in text
    code, warning, text = raw_request(dev_cluster, "POST", path, body)
    assert code == 201
    assert warning == '299 - "unknown field \\"metadata.colour\\""'
    assert "colour" not in json.loads(text)["metadata"]


def test_invalid_directive_is_400(custom: client.CustomObjectsApi) -> None:
    body = bad_request(lambda: create(custom, gizmo("g", size=1), "Loose"))
    assert 'fieldValidation: Unsupported value: \\"Loose\\"' in body


def test_strict_update_and_dry_run(custom: client.CustomObjectsApi) -> None:
    create(custom, gizmo("g", size=1))
    current = custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "g")
    current["spec"]["bogus"] = 1
    text = bad_request(lambda: custom.replace_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "g", current, field_validation="Strict"))
    assert 'cannot be handled as a Gizmo: strict decoding error: unknown field \\"spec.bogus\\"' in text
    text = bad_request(lambda: custom.replace_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "g", current, field_validation="Strict", dry_run="All"))
    assert "spec.bogus" in text
    data, _, headers = custom.replace_namespaced_custom_object_with_http_info(
        GROUP, VERSION, "default", PLURAL, "g", current, field_validation="Warn")
    assert "bogus" not in data["spec"]
    assert "spec.bogus" in headers["Warning"]


def test_strict_merge_and_json_patch(custom: client.CustomObjectsApi) -> None:
    create(custom, gizmo("g", size=1))
    text = bad_request(lambda: custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "g", {"spec": {"bogus": 1}}, field_validation="Strict"))
    assert 'strict decoding error: unknown field \\"spec.bogus\\"' in text
    assert "cannot be handled" not in text
    ops = [{"op": "add", "path": "/spec/extra", "value": 1}]
    text = bad_request(lambda: custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "g", ops, field_validation="Strict",
        _content_type="application/json-patch+json"))
    assert 'unknown field \\"spec.extra\\"' in text
    patched = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "g", {"spec": {"size": 5, "bogus": 1}}, field_validation="Ignore")
    assert patched["spec"] == {"size": 5}


def test_server_side_apply_types_out_unknown_fields(custom: client.CustomObjectsApi) -> None:
    applied = {**gizmo("g", size=1, bogus=1), "metadata": {"name": "g", "namespace": "default"}}

    def apply(validation: str) -> tuple[Any, Any]:
        data, _, headers = custom.patch_namespaced_custom_object_with_http_info(
            GROUP, VERSION, "default", PLURAL, "g", applied, field_manager="me", field_validation=validation,
            _content_type="application/apply-patch+yaml")
        return data, headers

    text = bad_request(lambda: apply("Strict"))
    assert ("failed to create typed patch object (default/g; example.com/v1, Kind=Gizmo): "
            ".spec.bogus: field not declared in schema") in text
    _, headers = apply("Warn")  # 201: the client has no model for it, so read the object back
    assert headers["Warning"] == '299 - ".spec.bogus: field not declared in schema"'
    data = custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "g")
    assert data["spec"] == {"size": 1}
    owned = data["metadata"]["managedFields"][0]["fieldsV1"]
    assert "f:bogus" not in str(owned) and "f:size" in str(owned)
    data, headers = apply("Ignore")
    assert "Warning" not in headers and data["spec"] == {"size": 1}


# ------------------------------------------------------------------------------------------- kubectl


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """kubectl against a TLS dev cluster (kubectl sends its token only over TLS) with the CRD applied."""
    with DevCluster(tls=True) as cluster:
        env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
        env.pop("KUBECONFIG", None)

        def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, *args], input=stdin,
                                  capture_output=True, text=True, env=env, timeout=30)

        api_client = api_client_for(cluster)
        try:
            client.ApiextensionsV1Api(api_client).create_custom_resource_definition(CRD)
        finally:
            api_client.close()
        yield run


def test_kubectl_apply_fails_naming_the_unknown_field(kubectl: Callable[..., Any]) -> None:
    proc = kubectl("apply", "-f", "-", stdin=CR_YAML)
    assert proc.returncode == 1
    assert ('Error from server (BadRequest): error when creating "STDIN": Gizmo in version "v1" cannot be '
            'handled as a Gizmo: strict decoding error: unknown field "spec.bogus"') in proc.stderr
    assert kubectl("get", "gizmo", "g1").returncode == 1


def test_kubectl_apply_validate_false_prunes(kubectl: Callable[..., Any]) -> None:
    proc = kubectl("apply", "--validate=false", "-f", "-", stdin=CR_YAML)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr
    got = kubectl("get", "gizmo", "g1", "-o", "jsonpath={.spec}")
    assert got.stdout == '{"size":2}'


def test_kubectl_validate_warn_and_server_side_strict(kubectl: Callable[..., Any]) -> None:
    proc = kubectl("apply", "--validate=warn", "-f", "-", stdin=CR_YAML)
    assert proc.returncode == 0, proc.stderr
    assert 'Warning: unknown field "spec.bogus"' in proc.stderr
    proc = kubectl("apply", "--server-side", "-f", "-", stdin=CR_YAML)
    assert proc.returncode == 1
    assert ".spec.bogus: field not declared in schema" in proc.stderr
    proc = kubectl("apply", "-f", "-", stdin=CR_YAML)  # an update: the merge patch is checked too
    assert proc.returncode == 1
    assert 'strict decoding error: unknown field "spec.bogus"' in proc.stderr
