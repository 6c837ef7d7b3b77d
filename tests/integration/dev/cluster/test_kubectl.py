"""The real `kubectl` (v1.32) against the development API server, with no `--validate=false`:
client-side apply (last-applied annotation, `unchanged`, 3-way strategic merge), server-side apply
(managedFields, conflicts, --force-conflicts), get with -l / -o jsonpath / short names / categories,
CRD printer columns, `get -w`, `patch --subresource=status` + `wait --for=condition`, delete,
api-resources, imperative `create configmap`, and `apply -f crds/` with the project's CRDs."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT
from tfcontroller.dev.cluster import DevCluster

REPO = REPO_ROOT
KUBECTL = "kubectl"

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:{tag}
        env:
{env}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: default
data: {greeting: hello}
"""

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [gadgets]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
              color: {type: string, default: blue}
          status:
            type: object
            properties:
              conditions:
                type: array
                items:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
"""

WIDGET = """
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: default, labels: {tier: gold}}
spec: {size: 3}
"""


@pytest.fixture
def tls_cluster() -> Iterator[DevCluster]:
    """kubectl sends its bearer token only over TLS, so these tests serve HTTPS."""
    with DevCluster(tls=True) as cluster:
        yield cluster


@pytest.fixture
def kubectl(tls_cluster: DevCluster, tmp_path: Path) -> Kubectl:
    """Run kubectl against the dev cluster with a private discovery cache and HOME."""
    env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "kube-cache"), "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)
    base = [KUBECTL, "--kubeconfig", tls_cluster.kubeconfig]

    def run(
        *args: str, stdin: str | None = None, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*base, *args], input=stdin, capture_output=True, text=True, env=env, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    run.base = base  # type: ignore[attr-defined]
    run.env = env  # type: ignore[attr-defined]
    return run


def _deployment(tag: str, env: dict[str, str]) -> str:
    lines = "\n".join(f"        - {{name: {k}, value: '{v}'}}" for k, v in env.items())
    return DEPLOYMENT.replace("{tag}", tag).replace("{env}", lines)


def _get_json(kubectl: Kubectl, *args: str) -> dict:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def test_client_side_apply_annotation_unchanged_and_three_way_merge(kubectl: Kubectl) -> None:
    out = kubectl("apply", "-f", "-", stdin=_deployment("1.25", {"A": "1", "B": "2"})).stdout
    assert "deployment.apps/web created" in out and "configmap/web-config created" in out

    dep = _get_json(kubectl, "deployment", "web")
    last = json.loads(dep["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["replicas"] == 2

    again = kubectl("apply", "-f", "-", stdin=_deployment("1.25", {"A": "1", "B": "2"})).stdout
    assert "deployment.apps/web unchanged" in again and "configmap/web-config unchanged" in again

    # someone else adds an env var; our next apply drops B and changes the image: 3-way merge keeps C
    kubectl(
        "patch",
        "deployment",
        "web",
        "--type=strategic",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"C","value":"3"}]}]}}}}',
    )
    out = kubectl("apply", "-f", "-", stdin=_deployment("1.27", {"A": "1"})).stdout
    assert "deployment.apps/web configured" in out
    container = _get_json(kubectl, "deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27"
    assert {e["name"] for e in container["env"]} == {"A", "C"}


def test_server_side_apply_records_managed_fields_and_conflicts(kubectl: Kubectl) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: default}\ndata: {k: v1}\n"
    out = kubectl("apply", "--server-side", "-f", "-", stdin=cm).stdout
    assert "configmap/ssa serverside-applied" in out
    obj = _get_json(kubectl, "configmap", "ssa", "--show-managed-fields")
    (entry,) = [e for e in obj["metadata"]["managedFields"] if e["manager"] == "kubectl"]
    assert entry["operation"] == "Apply" and "f:k" in entry["fieldsV1"]["f:data"]

    other = cm.replace("v1}", "v2}")
    clash = kubectl("apply", "--server-side", "--field-manager=other", "-f", "-", stdin=other, check=False)
    assert clash.returncode != 0 and "conflict" in clash.stderr.lower()
    kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-", stdin=other)
    assert _get_json(kubectl, "configmap", "ssa")["data"]["k"] == "v2"


def test_get_with_selectors_jsonpath_and_short_names(kubectl: Kubectl) -> None:
    for name, app in (("one", "a"), ("two", "b"), ("three", "a")):
        kubectl("create", "configmap", name, "--from-literal=k=" + name)
        kubectl("label", "configmap", name, f"app={app}")
    names = kubectl("get", "cm", "-l", "app=a", "-o", "name").stdout.split()
    assert sorted(names) == ["configmap/one", "configmap/three"]
    assert kubectl("get", "cm", "-l", "app!=a", "-o", "jsonpath={.items[*].metadata.name}").stdout == "two"
    assert kubectl("get", "configmap", "two", "-o", "jsonpath={.data.k}").stdout == "two"
    table = kubectl("get", "cm", "-l", "app in (a,b)").stdout.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"]
    assert sorted(line.split()[0] for line in table[1:]) == ["one", "three", "two"]


def test_crd_printer_columns_status_patch_and_wait(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=WIDGET_CRD)
    kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s")
    assert "widget.example.com/w1 created" in kubectl("apply", "-f", "-", stdin=WIDGET).stdout

    header, row = kubectl("get", "wd").stdout.splitlines()
    assert header.split() == ["NAME", "SIZE", "READY", "AGE"]
    assert row.split()[:2] == ["w1", "3"]
    assert kubectl("get", "widget", "w1", "-o", "jsonpath={.spec.color}").stdout == "blue"  # schema default
    assert "w1" in kubectl("get", "gadgets").stdout  # category

    bad = kubectl("apply", "-f", "-", stdin=WIDGET.replace("size: 3", "size: 0"), check=False)
    assert bad.returncode != 0 and "spec.size" in bad.stderr

    waiter = subprocess.Popen(
        [*kubectl.base, "wait", "--for=condition=Ready", "widget/w1", "--timeout=20s"],  # type: ignore[attr-defined]
        env=kubectl.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,  # type: ignore[attr-defined]
    )
    try:
        status = '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Done","message":"ok"}]}}'
        kubectl("patch", "widget", "w1", "--subresource=status", "--type=merge", "-p", status)
        out, err = waiter.communicate(timeout=25)
    finally:
        waiter.kill()
    assert waiter.returncode == 0, err
    assert "condition met" in out
    assert kubectl("get", "wd", "w1", "--no-headers").stdout.split()[2] == "True"


def test_get_watch_streams_changes(kubectl: Kubectl) -> None:
    kubectl("create", "configmap", "before")
    proc = subprocess.Popen(
        [*kubectl.base, "get", "configmaps", "-w"],  # type: ignore[attr-defined]
        env=kubectl.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,  # type: ignore[attr-defined]
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]

    def wait_for(word: str) -> str:
        while True:
            line = lines.get(timeout=15)
            if word in line:
                return line

    try:
        assert wait_for("before").split()[0] == "before"
        kubectl("create", "configmap", "after")
        assert wait_for("after").split()[0] == "after"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_delete_and_api_resources(kubectl: Kubectl) -> None:
    kubectl("create", "configmap", "doomed", "--from-literal=a=b")
    assert 'configmap "doomed" deleted' in kubectl("delete", "configmap", "doomed").stdout
    gone = kubectl("get", "configmap", "doomed", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr

    rows = [line.split() for line in kubectl("api-resources").stdout.splitlines()]
    assert ["configmaps", "cm", "v1", "true", "ConfigMap"] in rows
    assert ["deployments", "deploy", "apps/v1", "true", "Deployment"] in rows
    assert ["leases", "coordination.k8s.io/v1", "true", "Lease"] in rows


def test_imperative_create_configmap_and_secret(kubectl: Kubectl) -> None:
    assert "configmap/imp created" in kubectl("create", "configmap", "imp", "--from-literal=x=y").stdout
    assert kubectl("get", "cm", "imp", "-o", "jsonpath={.data.x}").stdout == "y"
    assert "secret/s created" in kubectl("create", "secret", "generic", "s", "--from-literal=p=q").stdout
    assert kubectl("get", "secret", "s", "-o", "jsonpath={.data.p}").stdout == "cQ=="  # base64("q")


def test_imperative_create_of_rbac_objects_and_their_effect(kubectl: Kubectl) -> None:
    """kubectl create role|clusterrole|rolebinding|clusterrolebinding POST protobuf: every field they can
    set arrives, and the binding then gives the ServiceAccount exactly what the role says."""
    kubectl("create", "namespace", "team")
    kubectl("create", "serviceaccount", "runner", "-n", "team")
    kubectl("create", "role", "read", "-n", "team", "--verb=get,list", "--resource=configmaps,pods/log",
            "--resource-name=settings")
    kubectl("create", "clusterrole", "logs", "--verb=get", "--non-resource-url=/logs/*")
    kubectl("create", "clusterrole", "combined", "--aggregation-rule=team=read,tier=b")
    kubectl("create", "rolebinding", "read", "-n", "team", "--role=read", "--serviceaccount=team:runner",
            "--user=alice", "--group=devs")
    kubectl("create", "clusterrolebinding", "logs", "--clusterrole=logs", "--serviceaccount=team:runner")
    role = _get_json(kubectl, "role", "read", "-n", "team")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps", "pods/log"],
                              "resourceNames": ["settings"], "verbs": ["get", "list"]}]
    assert _get_json(kubectl, "clusterrole", "logs")["rules"] == [{"nonResourceURLs": ["/logs/*"], "verbs": ["get"]}]
    assert _get_json(kubectl, "clusterrole", "combined")["aggregationRule"] == {
        "clusterRoleSelectors": [{"matchLabels": {"team": "read", "tier": "b"}}]}
    binding = _get_json(kubectl, "rolebinding", "read", "-n", "team")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read"}
    assert sorted(binding["subjects"], key=lambda s: s["kind"]) == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"},
        {"kind": "ServiceAccount", "name": "runner", "namespace": "team"},
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]
    assert _get_json(kubectl, "clusterrolebinding", "logs")["subjects"] == [
        {"kind": "ServiceAccount", "name": "runner", "namespace": "team"}]
    token = kubectl("create", "token", "runner", "-n", "team").stdout.strip()
    kubectl("create", "configmap", "settings", "-n", "team", "--from-literal=a=b")
    kubectl("create", "configmap", "other", "-n", "team", "--from-literal=a=b")
    assert kubectl("--token", token, "get", "cm", "settings", "-n", "team", "-o", "name").stdout.strip() \
        == "configmap/settings"
    refused = kubectl("--token", token, "get", "cm", "other", "-n", "team", check=False)
    assert refused.returncode != 0 and 'cannot get resource "configmaps"' in refused.stderr
    assert kubectl("--token", token, "auth", "can-i", "get", "/logs/x").stdout.strip() == "yes"


def test_apply_project_crds(kubectl: Kubectl) -> None:
    out = kubectl("apply", "-f", str(REPO / "crds")).stdout
    assert out.count("customresourcedefinition.apiextensions.k8s.io/") == len(
        list((REPO / "crds").glob("*.yaml"))
    )
    again = kubectl("apply", "-f", str(REPO / "crds")).stdout
    assert "configured" not in again and "unchanged" in again
    resources = kubectl("api-resources", "--api-group=tfcontroller.io", "-o", "name").stdout.split()
    assert {
        "gitrepositories.tfcontroller.io",
        "terraforms.tfcontroller.io",
        "manifestsets.tfcontroller.io",
    } <= set(resources)
    assert "No resources found" in kubectl("get", "tfcontroller").stderr
