"""The dev cluster at the HTTP level, where clients other than the Python one look: health and version
endpoints, authentication, Status bodies for errors, protobuf refusal (415), the watch stream's
410 ERROR event and chunked framing, dry runs, and PartialObjectMetadata."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests.fixtures.devcluster import admin_session
from tfcontroller.dev.cluster import DevCluster

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def http(dev_cluster: DevCluster) -> Iterator[requests.Session]:
    session = admin_session(dev_cluster)
    yield session
    session.close()


def test_health_and_version_need_no_token(dev_cluster: DevCluster) -> None:
    with admin_session(dev_cluster, token="") as anonymous:  # system:public-info-viewer
        for path in ("/healthz", "/readyz", "/livez"):
            assert anonymous.get(dev_cluster.url + path, timeout=5).text == "ok"
        assert anonymous.get(dev_cluster.url + "/version", timeout=5).json()["major"] == "1"


def test_wrong_token_is_401(dev_cluster: DevCluster) -> None:
    with admin_session(dev_cluster, token="nope") as wrong:
        for path in ("/api/v1/namespaces", "/healthz", "/api"):
            r = wrong.get(dev_cluster.url + path, timeout=5)
            assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"


def test_errors_are_status_objects(dev_cluster: DevCluster, http: requests.Session) -> None:
    r = http.get(dev_cluster.url + "/api/v1/namespaces/default/configmaps/missing", timeout=5)
    assert r.status_code == 404
    assert r.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'configmaps "missing" not found', "reason": "NotFound", "code": 404,
        "details": {"name": "missing", "kind": "configmaps"},
    }
    r = http.get(dev_cluster.url + "/apis/nope.example.com/v1/things", timeout=5)
    assert r.status_code == 404 and r.json()["kind"] == "Status"
    r = http.post(dev_cluster.url + "/api/v1/namespaces/default/configmaps", data=b"\x00k8s",
                  headers={"Content-Type": "application/vnd.kubernetes.protobuf"}, timeout=5)
    assert r.status_code == 415


def test_protobuf_create_from_kubectl_is_accepted(dev_cluster: DevCluster, http: requests.Session) -> None:
    # captured from `kubectl create configmap imp --from-literal=a=b` (kubectl 1.32)
    body = (b'k8s\x00\n\x0f\n\x02v1\x12\tConfigMap\x12\x1d\n\x13\n\x03imp\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00'
            b'\x12\x06\n\x01a\x12\x01b\x1a\x00"\x00')
    r = http.post(dev_cluster.url + "/api/v1/namespaces/default/configmaps", data=body, timeout=5,
                  headers={"Content-Type": "application/vnd.kubernetes.protobuf",
                           "Accept": "application/vnd.kubernetes.protobuf,application/json"})
    assert r.status_code == 201 and r.headers["Content-Type"] == "application/json"
    assert r.json()["data"] == {"a": "b"} and r.json()["metadata"]["namespace"] == "default"


def test_dry_run_does_not_store(dev_cluster: DevCluster, http: requests.Session) -> None:
    url = dev_cluster.url + "/api/v1/namespaces/default/configmaps"
    r = http.post(url + "?dryRun=All", json={"metadata": {"name": "dry"}}, timeout=5)
    assert r.status_code == 201
    assert http.get(url + "/dry", timeout=5).status_code == 404


def test_watch_stream_is_chunked_json_lines_and_410_is_an_error_event(dev_cluster: DevCluster, http: requests.Session) -> None:
    url = dev_cluster.url + "/api/v1/namespaces/default/configmaps"
    rv = http.post(url, json={"metadata": {"name": "a"}}, timeout=5).json()["metadata"]["resourceVersion"]
    r = http.get(url, params={"watch": "1", "resourceVersion": "0", "timeoutSeconds": "1"}, timeout=10)
    assert r.headers["Transfer-Encoding"] == "chunked"
    events = [json.loads(line) for line in r.text.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]
    dev_cluster.compact()
    r = http.get(url, params={"watch": "1", "resourceVersion": str(int(rv) - 1), "timeoutSeconds": "5"}, timeout=10)
    assert r.status_code == 200
    (event,) = [json.loads(line) for line in r.text.splitlines()]
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"


def test_partial_object_metadata(dev_cluster: DevCluster, http: requests.Session) -> None:
    url = dev_cluster.url + "/api/v1/namespaces/default/configmaps"
    http.post(url, json={"metadata": {"name": "a"}, "data": {"secret": "x"}}, timeout=5)
    r = http.get(url, headers={"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"}, timeout=5)
    doc = r.json()
    assert doc["kind"] == "PartialObjectMetadataList"
    assert doc["items"][0]["metadata"]["name"] == "a" and "data" not in doc["items"][0]
