"""Built-in kinds are checked the way a real API server checks them: a value the Go
types cannot hold is refused on create and update (400 "cannot be handled as a"), on merge, JSON and
strategic merge patches (422 `patch: Invalid value`), and on server-side apply (400 "failed to create
typed patch object"); missing required fields are 422 `Required value`; unknown fields of built-in kinds
follow `fieldValidation` — through raw HTTP (typed clients would refuse the bodies first) and the real kubectl, for
Deployments, Services, ConfigMaps, Jobs and Pods."""

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

from tests.fixtures.devcluster import admin_urlopen
from tfcontroller.dev.cluster import DevCluster

pytestmark = pytest.mark.timeout(60)

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
REPLICAS_ERROR = ("json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas "
                  "of type int32")


def deployment(name: str = "web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": 1,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": "example/web:1", "ports": [{"containerPort": 80}]}]}},
    }
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": body}


def request(cluster: DevCluster, method: str, path: str, body: Any,
            content_type: str = "application/json") -> tuple[int, dict[str, Any], str]:
    """(status, decoded body, Warning header) of a plain HTTP request: the typed client would coerce."""
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    req = urllib.request.Request(cluster.url + path, data, method=method, headers={"Content-Type": content_type})
    try:
        with admin_urlopen(cluster, req) as resp:
            return resp.status, json.loads(resp.read()), resp.headers.get("Warning", "")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), ""


def test_create_and_update_with_wrong_types_are_400(dev_cluster: DevCluster) -> None:
    code, status, _ = request(dev_cluster, "POST", DEPLOYMENTS, deployment(replicas="3"))
    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"] == f'Deployment in version "v1" cannot be handled as a Deployment: {REPLICAS_ERROR}'

    cases = [
        ("/api/v1/namespaces/default/configmaps",
         {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"port": 8080}},
         'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go '
         "struct field ConfigMap.data of type string"),
        ("/api/v1/namespaces/default/services",
         {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}, "spec": {"ports": [{"port": "80"}]}},
         'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal string into Go struct '
         "field ServicePort.spec.ports.port of type int32"),
        ("/apis/batch/v1/namespaces/default/jobs",
         {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job"}, "spec": {
             "template": {"spec": {"restartPolicy": "Never", "containers": [
                 {"name": "c", "image": "i", "env": [{"name": "DEBUG", "value": True}]}]}}}},
         'Job in version "v1" cannot be handled as a Job: json: cannot unmarshal bool into Go struct field '
         "EnvVar.spec.template.spec.containers.env.value of type string"),
        ("/api/v1/namespaces/default/pods",
         {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod"}, "spec": {"containers": [
             {"name": "c", "image": "i", "resources": {"limits": {"memory": "lots"}}}]}},
         'Pod in version "v1" cannot be handled as a Pod: quantities must match the regular expression '
         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    ]
    for path, body, message in cases:
        code, status, _ = request(dev_cluster, "POST", path, body)
        assert (code, status["message"]) == (400, message)

    assert request(dev_cluster, "POST", DEPLOYMENTS, deployment())[0] == 201
    code, status, _ = request(dev_cluster, "PUT", f"{DEPLOYMENTS}/web", deployment(replicas="3"))
    assert (code, status["message"]) == (400, f'Deployment in version "v1" cannot be handled as a Deployment: {REPLICAS_ERROR}')


def test_patches_with_wrong_types_are_422(dev_cluster: DevCluster) -> None:
    assert request(dev_cluster, "POST", DEPLOYMENTS, deployment())[0] == 201
    path = f"{DEPLOYMENTS}/web"

    for content_type, patch in (
        ("application/merge-patch+json", {"spec": {"replicas": "3"}}),
        ("application/json-patch+json", [{"op": "replace", "path": "/spec/replicas", "value": "3"}]),
    ):
        code, status, _ = request(dev_cluster, "PATCH", path, patch, content_type)
        assert (code, status["reason"]) == (422, "Invalid")
        assert status["message"].startswith(' "" is invalid: patch: Invalid value: "{\\"apiVersion\\":\\"apps/v1\\"')
        assert status["message"].endswith(f'": {REPLICAS_ERROR}')
        [cause] = status["details"]["causes"]
        assert cause["field"] == "patch" and cause["reason"] == "FieldValueInvalid"

    code, status, _ = request(dev_cluster, "PATCH", path, {"spec": {"replicas": "3"}},
                              "application/strategic-merge-patch+json")
    assert (code, status["message"]) == (
        422, ' "" is invalid: patch: Invalid value: "map[spec:map[replicas:3]]": cannot convert string to int32')
    assert request(dev_cluster, "GET", path, None)[1]["spec"]["replicas"] == 1  # nothing was stored


def test_server_side_apply_with_wrong_types_is_400(dev_cluster: DevCluster) -> None:
    path = f"{DEPLOYMENTS}/web?fieldManager=test"
    code, status, _ = request(dev_cluster, "PATCH", path, deployment(replicas="3"), "application/apply-patch+yaml")
    assert (code, status["message"]) == (400, "failed to create typed patch object (default/web; apps/v1, "
                                               "Kind=Deployment): .spec.replicas: expected numeric (int or float), got string")
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "i", "args": ["--n", 3]}]}}}}
    code, status, _ = request(dev_cluster, "PATCH", "/apis/batch/v1/namespaces/default/jobs/j?fieldManager=test",
                              job, "application/apply-patch+yaml")
    assert (code, status["message"]) == (400, "failed to create typed patch object (default/j; batch/v1, Kind=Job): "
                                               '.spec.template.spec.containers[name="c"].args[1]: expected string, '
                                               "got &value.valueUnstructured{Value:3}")
    code, _, _ = request(dev_cluster, "PATCH", path, deployment(), "application/apply-patch+yaml")
    assert code == 201


def test_missing_required_fields_are_422(dev_cluster: DevCluster) -> None:
    body = deployment()
    del body["spec"]["selector"]
    body["spec"]["template"]["spec"]["containers"][0].pop("name")
    code, status, _ = request(dev_cluster, "POST", DEPLOYMENTS, body)
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["message"] == ('Deployment.apps "web" is invalid: [spec.template.spec.containers[0].name: '
                                 "Required value, spec.selector: Required value]")
    assert [c["reason"] for c in status["details"]["causes"]] == ["FieldValueRequired"] * 2


def test_unknown_fields_of_builtin_kinds_follow_field_validation(dev_cluster: DevCluster) -> None:
    body = deployment()
    body["spec"]["replicaz"] = 2
    code, status, _ = request(dev_cluster, "POST", f"{DEPLOYMENTS}?fieldValidation=Strict", body)
    assert (code, status["message"]) == (
        400, 'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field '
             '"spec.replicaz"')
    code, stored, warning = request(dev_cluster, "POST", DEPLOYMENTS, body)
    assert code == 201 and "replicaz" not in stored["spec"]
    assert warning == '299 - "unknown field \\"spec.replicaz\\""'


# ------------------------------------------------------------------------------------------- kubectl

@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """kubectl against a TLS dev cluster (kubectl sends its token only over TLS)."""
    with DevCluster(tls=True) as cluster:
        env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
        env.pop("KUBECONFIG", None)

        def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, *args], input=stdin,
                                  capture_output=True, text=True, env=env, timeout=30)

        yield run


MANIFESTS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: example/web:1, ports: [{containerPort: 8080}], resources: {limits: {cpu: 100m}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web}
data: {PORT: "8080"}
"""


def test_kubectl_apply_checks_builtin_kinds(kubectl: Callable[..., Any]) -> None:
    proc = kubectl("apply", "-f", "-", stdin=MANIFESTS.replace("REPLICAS", '"3"'))
    assert proc.returncode == 1
    assert ('Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be '
            f"handled as a Deployment: {REPLICAS_ERROR}") in proc.stderr
    assert kubectl("get", "deployment", "web").returncode == 1

    proc = kubectl("apply", "-f", "-", stdin=MANIFESTS.replace("REPLICAS", "3"))
    assert proc.returncode == 0, proc.stderr
    assert kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}").stdout == "3"

    proc = kubectl("apply", "-f", "-", stdin=MANIFESTS.replace("REPLICAS", '"4"'))  # an update: a patch
    assert proc.returncode == 1
    assert 'is invalid: patch: Invalid value: "map[' in proc.stderr and "cannot convert string to int32" in proc.stderr

    proc = kubectl("apply", "--server-side", "-f", "-", stdin=MANIFESTS.replace("REPLICAS", '"5"'))
    assert proc.returncode == 1
    assert ".spec.replicas: expected numeric (int or float), got string" in proc.stderr
    assert kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}").stdout == "3"
