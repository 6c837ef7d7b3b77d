"""What Git no longer declares leaves the live object, through `Applier` on the dev
cluster: removing a Secret `stringData` key, a Secret `data` key, a label, an annotation, a container env
var and a ConfigMap data key from the manifests removes them from the live objects (same uids), while a
changed value follows; a label someone else added stays. A Secret that an earlier version applied with
`stringData` (so its data keys are owned by nobody) loses the keys Git dropped too, unless it is
immutable: then the apply says so and `spec.force` recreates it. An object applied with `kubectl apply`
(client- or server-side) before is adopted, so what Git drops leaves it too."""

from __future__ import annotations

import base64
import copy
import os
import subprocess
from typing import Any

import pytest

from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import CONFIGMAPS, SECRETS, Resource
from tfcontroller.manifests.apply import Applier, ApplyError, ApplyOptions, Manifest
from tfcontroller.manifests.normalize import owner_labels

DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
OWNER = owner_labels("ms", "default")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def apply(kube: KubeClient, *objs: dict[str, Any]) -> None:
    applier = Applier(kube, ApplyOptions(default_namespace="default", labels=OWNER))
    applier.apply_all([Manifest(copy.deepcopy(o), "set.yaml") for o in objs])


def secret(name: str, **body: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque", **body}


def configmap(labels: dict[str, str], annotations: dict[str, str], data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": labels, "annotations": annotations}, "data": data}


def deployment(env: list[dict[str, str]]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"app": "d"}},
                     "template": {"metadata": {"labels": {"app": "d"}},
                                  "spec": {"containers": [{"name": "c", "image": "x", "env": env}]}}}}


def decoded(kube: KubeClient, name: str) -> dict[str, str]:
    data = kube.get(SECRETS, name, "default").get("data") or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def uids(kube: KubeClient) -> list[str]:
    return [kube.get(r, n, "default")["metadata"]["uid"]
            for r, n in ((SECRETS, "string"), (SECRETS, "data"), (CONFIGMAPS, "c"), (DEPLOYMENTS, "d"))]


def test_fields_removed_from_git_leave_the_live_objects(kube: KubeClient) -> None:
    apply(kube,
          secret("string", stringData={"DB_USER": "u", "DB_PASSWORD": "p", "LEGACY_TOKEN": "t"}),
          secret("data", data={"K1": b64("1"), "K2": b64("2")}),
          configmap({"a": "1", "b": "2"}, {"x": "1", "y": "2"}, {"k1": "v1", "k2": "v2"}),
          deployment([{"name": "E1", "value": "1"}, {"name": "E2", "value": "2"}]))
    before = uids(kube)
    kube.patch(CONFIGMAPS, "c", {"metadata": {"labels": {"by-hand": "yes"}}}, "default")

    apply(kube,
          secret("string", stringData={"DB_USER": "u2", "DB_PASSWORD": "p"}),
          secret("data", data={"K1": b64("1")}),
          configmap({"a": "1"}, {"x": "1"}, {"k1": "v1"}),
          deployment([{"name": "E1", "value": "1"}]))

    assert uids(kube) == before
    assert decoded(kube, "string") == {"DB_USER": "u2", "DB_PASSWORD": "p"}
    assert decoded(kube, "data") == {"K1": "1"}
    cm = kube.get(CONFIGMAPS, "c", "default")
    assert cm["metadata"]["labels"] == {"a": "1", "by-hand": "yes", **OWNER}
    assert cm["metadata"]["annotations"] == {"x": "1"}
    assert cm["data"] == {"k1": "v1"}
    env = kube.get(DEPLOYMENTS, "d", "default")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "E1", "value": "1"}]

    # a key moved between stringData and data stays; the last one removed empties the Secret
    apply(kube, secret("string", data={"DB_USER": b64("u3")}, stringData={"DB_PASSWORD": "p"}))
    assert decoded(kube, "string") == {"DB_USER": "u3", "DB_PASSWORD": "p"}
    apply(kube, secret("string"))
    assert decoded(kube, "string") == {}


def test_secret_applied_with_string_data_by_an_earlier_version(kube: KubeClient) -> None:
    old = secret("legacy", metadata={"name": "legacy", "namespace": "default", "labels": OWNER},
                 stringData={"DB_USER": "u", "LEGACY_TOKEN": "t", "OTHER": "o"})
    kube.apply(old, field_manager="tfcontroller", force=True)  # as tfcontroller did before data was sent
    kube.patch(SECRETS, "legacy", {"data": {"OTHER": b64("by-hand")}}, "default")  # now someone else's
    uid = kube.get(SECRETS, "legacy", "default")["metadata"]["uid"]
    apply(kube, secret("legacy", stringData={"DB_USER": "u2"}))
    assert decoded(kube, "legacy") == {"DB_USER": "u2", "OTHER": "by-hand"}
    assert kube.get(SECRETS, "legacy", "default")["metadata"]["uid"] == uid


def test_immutable_secret_from_an_earlier_version_is_recreated_not_patched(kube: KubeClient) -> None:
    old = secret("frozen", metadata={"name": "frozen", "namespace": "default", "labels": OWNER},
                 stringData={"DB_USER": "u", "LEGACY_TOKEN": "t"}, immutable=True)
    kube.apply(old, field_manager="tfcontroller", force=True)
    desired = secret("frozen", stringData={"DB_USER": "u"}, immutable=True)
    with pytest.raises(ApplyError) as err:
        apply(kube, desired)
    assert err.value.cause == "immutable"
    Applier(kube, ApplyOptions(default_namespace="default", labels=OWNER, force_recreate=True)).apply_all(
        [Manifest(desired, "set.yaml")])
    assert decoded(kube, "frozen") == {"DB_USER": "u"}


KUBECTL_APPLIED = """apiVersion: v1
kind: ConfigMap
metadata: {name: adopted, namespace: default, labels: {team: a, legacy: "yes"}}
data: {k1: v1, k2: v2}
"""


@pytest.mark.parametrize("server_side", [False, True])
def test_object_applied_with_kubectl_before_is_adopted(kube: KubeClient, dev_cluster: DevCluster,
                                                       server_side: bool) -> None:
    """Fields `kubectl apply` set stay kubectl's when we apply the same values, so dropping them from Git
    would change nothing; they are adopted, and leave with Git (so does kubectl's last-applied annotation).
    A label added with `kubectl label` stays its own."""
    env = {**os.environ, "KUBECONFIG": dev_cluster.kubeconfig}
    for args in (["apply", *(["--server-side"] if server_side else []), "-f", "-"],
                 ["label", "configmap", "adopted", "by-hand=yes"]):
        done = subprocess.run(["kubectl", *args], input=KUBECTL_APPLIED, env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
    uid = kube.get(CONFIGMAPS, "adopted", "default")["metadata"]["uid"]
    desired = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "adopted", "labels": {"team": "a"}}, "data": {"k1": "v1"}}
    apply(kube, desired)
    live = kube.get(CONFIGMAPS, "adopted", "default")
    assert live["metadata"]["uid"] == uid
    assert live["data"] == {"k1": "v1"}
    assert live["metadata"]["labels"] == {"team": "a", "by-hand": "yes", **OWNER}
    assert not (live["metadata"].get("annotations") or {})
    apply(kube, desired)  # nothing left to adopt: a plain apply
    assert kube.get(CONFIGMAPS, "adopted", "default")["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
