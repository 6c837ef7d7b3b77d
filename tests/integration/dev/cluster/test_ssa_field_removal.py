"""The dev cluster removes, like kube-apiserver, what a field manager stops applying,
checked with the real `kubectl apply --server-side`: a label, an annotation, a container env var (keyed
list item) and a ConfigMap data key all leave the object when the manager that applied them omits them;
a field another manager also owns stays; and a Secret key sent as `stringData` stays in `data` when
omitted, because `stringData` is write-only and its keys are never owned as `data` (the real server's
behaviour, which is why the controller applies `data` instead)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tfcontroller.dev.cluster import DevCluster

Kubectl = Callable[..., str]


@pytest.fixture(name="kubectl")
def kubectl_fixture(dev_cluster: DevCluster, tmp_path: Path) -> Kubectl:
    """kubectl on the dev cluster with a private discovery cache; returns stdout, fails on an error."""
    env = {**os.environ, "KUBECONFIG": dev_cluster.kubeconfig, "KUBECACHEDIR": str(tmp_path / "cache"),
           "HOME": str(tmp_path)}

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run

FIRST = """
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: default, labels: {a: "1", b: "2"}, annotations: {x: "1", y: "2"}}
data: {k1: v1, k2: v2, shared: s}
---
apiVersion: v1
kind: Secret
metadata: {name: s, namespace: default}
stringData: {DB_USER: u, DB_PASSWORD: p, LEGACY_TOKEN: t}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: default}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers:
      - name: c
        image: x
        env: [{name: E1, value: "1"}, {name: E2, value: "2"}]
"""

SECOND = """
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: default, labels: {a: "1"}, annotations: {x: "1"}}
data: {k1: v1}
---
apiVersion: v1
kind: Secret
metadata: {name: s, namespace: default}
stringData: {DB_USER: u2, DB_PASSWORD: p}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: default}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers:
      - name: c
        image: x
        env: [{name: E1, value: "1"}]
"""


def _get(kubectl: Kubectl, what: str) -> dict:
    return json.loads(kubectl("get", what, "-o", "json"))


def test_fields_a_manager_stops_applying_are_removed(kubectl: Kubectl) -> None:
    kubectl("apply", "--server-side", "--field-manager=git", "-f", "-", stdin=FIRST)
    other = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\ndata: {shared: s}\n"
    kubectl("apply", "--server-side", "--field-manager=other", "-f", "-", stdin=other)
    uid = _get(kubectl, "configmap/c")["metadata"]["uid"]
    kubectl("apply", "--server-side", "--field-manager=git", "-f", "-", stdin=SECOND)

    cm = _get(kubectl, "configmap/c")
    assert cm["metadata"]["uid"] == uid
    assert cm["metadata"]["labels"] == {"a": "1"}
    assert cm["metadata"]["annotations"] == {"x": "1"}
    assert cm["data"] == {"k1": "v1", "shared": "s"}  # `shared` is still applied by "other"
    env = _get(kubectl, "deployment/d")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "E1", "value": "1"}]
    data = _get(kubectl, "secret/s")["data"]
    assert set(data) == {"DB_USER", "DB_PASSWORD", "LEGACY_TOKEN"}  # stringData keys are never owned as data


def test_an_update_keeps_other_managers_paths_it_did_not_touch(kubectl: Kubectl) -> None:
    """A write by another manager takes what it changed or removed, nothing else: the applier keeps
    `f:stringData` (absent from the stored object before and after) and the keys the write left alone."""
    kubectl("apply", "--server-side", "--field-manager=git", "-f", "-", stdin=FIRST)
    kubectl("patch", "secret", "s", "--type=merge", "-p", '{"data": {"DB_USER": "aGFuZA=="}}')
    kubectl("patch", "configmap", "c", "--type=json", "-p", '[{"op": "remove", "path": "/data/k2"}]')
    secret = json.loads(kubectl("get", "secret/s", "-o", "json", "--show-managed-fields"))
    [git] = [e for e in secret["metadata"]["managedFields"] if e["manager"] == "git"]
    assert set(git["fieldsV1"]["f:stringData"]) == {"f:DB_USER", "f:DB_PASSWORD", "f:LEGACY_TOKEN"}
    cm = json.loads(kubectl("get", "configmap/c", "-o", "json", "--show-managed-fields"))
    [git] = [e for e in cm["metadata"]["managedFields"] if e["manager"] == "git"]
    assert set(git["fieldsV1"]["f:data"]) == {"f:k1", "f:shared"}  # k2 was removed: nobody owns it
