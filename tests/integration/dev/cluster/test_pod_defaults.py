"""Pods and Pod templates are stored with the defaults kube-apiserver 1.32 gives them, so that `kubectl get
pod -o yaml` looks as on a real cluster: the PodSpec and container defaults (also in the templates of Jobs
and Deployments, without the Pod-only ones, beside the kinds' own defaults), the Priority and DefaultTolerationSeconds admission of new
Pods (and its 403s), and no spurious change from a PUT that leaves the defaults out (generation, immutable
Job template). Real kubectl and the Python client, against a dev cluster without a node (nothing runs)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from kubernetes.client.rest import ApiException

from tfcontroller.dev.cluster import DevCluster

pytestmark = pytest.mark.timeout(120)

POD_SPEC_DEFAULTS = {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                     "securityContext": {}, "terminationGracePeriodSeconds": 30}
CONTAINER_DEFAULTS = {"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]


@pytest.fixture
def kubectl(cluster: DevCluster, tmp_path: Path) -> Callable[..., str]:
    env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "kube-cache"), "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)

    def run(*args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, *args], input=stdin, capture_output=True,
                              text=True, env=env, timeout=60)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    return run


def pod_manifest(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["true"]}],
        "containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": 80}],
                        "readinessProbe": {"httpGet": {"port": 80}},
                        "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
                       {"name": "side", "image": "ghcr.io/org/side:v2"}],
        "volumes": [{"name": "creds", "secret": {"secretName": "creds"}}],
        **spec}}


def test_kubectl_get_pod_shows_the_api_servers_defaults(kubectl: Callable[..., str]) -> None:
    kubectl("create", "-f", "-", stdin=json.dumps(pod_manifest("web")))
    pod = yaml.safe_load(kubectl("get", "pod", "web", "-o", "yaml"))
    spec = pod["spec"]
    assert {k: spec[k] for k in POD_SPEC_DEFAULTS} == POD_SPEC_DEFAULTS
    assert (spec["enableServiceLinks"], spec["priority"], spec["preemptionPolicy"]) == (True, 0, "PreemptLowerPriority")
    assert spec["tolerations"] == TOLERATIONS
    init, app, side = spec["initContainers"][0], spec["containers"][0], spec["containers"][1]
    for container in (init, app, side):
        assert {k: container[k] for k in CONTAINER_DEFAULTS} == CONTAINER_DEFAULTS
    assert [c["imagePullPolicy"] for c in (init, app, side)] == ["IfNotPresent", "Always", "IfNotPresent"]
    assert app["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert app["readinessProbe"] == {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "failureThreshold": 3,
                                     "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1}
    assert app["env"][0]["valueFrom"]["fieldRef"] == {"apiVersion": "v1", "fieldPath": "metadata.name"}
    assert spec["volumes"] == [{"name": "creds", "secret": {"defaultMode": 420, "secretName": "creds"}}]
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}

    # Server-side apply of the manifest takes the fields it names; a second apply changes nothing, as the
    # defaults are nobody's fields and stay.
    kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(pod_manifest("web")))
    first = yaml.safe_load(kubectl("get", "pod", "web", "-o", "yaml"))
    kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(pod_manifest("web")))
    again = yaml.safe_load(kubectl("get", "pod", "web", "-o", "yaml"))
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["spec"] == spec


def test_admission_refuses_unknown_priority_classes_and_given_priorities(admin: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(admin)
    critical = core.create_namespaced_pod("default", pod_manifest("critical", priorityClassName="system-cluster-critical"))
    assert (critical.spec.priority, critical.spec.preemption_policy) == (2000000000, "PreemptLowerPriority")
    for name, extra, message in (
        ("high", {"priorityClassName": "high"}, 'pods "high" is forbidden: no PriorityClass with name high was found'),
        ("given", {"priority": 7}, 'pods "given" is forbidden: the integer value of priority (7) must not be provided '
                                   "in pod spec; priority admission controller computed 0 from the given PriorityClass name"),
    ):
        with pytest.raises(ApiException) as err:
            core.create_namespaced_pod("default", pod_manifest(name, **extra))
        body = json.loads(err.value.body)
        assert (body["code"], body["reason"], body["message"]) == (403, "Forbidden", message)


def test_pod_templates_get_the_pod_spec_defaults_and_puts_without_them_change_nothing(
        admin: kubernetes.client.ApiClient) -> None:
    template = {"metadata": {"labels": {"app": "w"}}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "c", "image": "busybox", "resources": {"limits": {"cpu": "1"}}}]}}
    batch = kubernetes.client.BatchV1Api(admin)
    job = batch.create_namespaced_job("default", {"metadata": {"name": "j"}, "spec": {"template": template}})
    spec = admin.sanitize_for_serialization(job.spec.template.spec)
    assert spec["restartPolicy"] == "Never" and spec["dnsPolicy"] == "ClusterFirst"
    assert spec["terminationGracePeriodSeconds"] == 30 and spec["schedulerName"] == "default-scheduler"
    assert spec["containers"][0]["imagePullPolicy"] == "Always"
    # The Pod-only defaults and the admission are not a template's.
    assert "enableServiceLinks" not in spec and "priority" not in spec and "tolerations" not in spec
    assert spec["containers"][0]["resources"] == {"limits": {"cpu": "1"}}
    assert (job.spec.backoff_limit, job.spec.pod_replacement_policy) == (6, "TerminatingOrFailed")

    apps = kubernetes.client.AppsV1Api(admin)
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"}, "spec": {
        "selector": {"matchLabels": {"app": "w"}}, "template": {**template, "spec": {"containers": [
            {"name": "c", "image": "busybox:1.36"}]}}}}
    created = apps.create_namespaced_deployment("default", manifest)
    assert created.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
    assert admin.sanitize_for_serialization(created.spec.strategy) == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert (created.spec.replicas, created.spec.revision_history_limit, created.spec.progress_deadline_seconds) == \
        (1, 10, 600)
    replaced = apps.replace_namespaced_deployment("w", "default", manifest)  # the defaults left out again
    assert replaced.metadata.generation == 1
    assert replaced.metadata.resource_version == created.metadata.resource_version  # a no-op write

    # A Job's template is immutable: a PUT of it as written (the selector the server gave kept) is no change.
    job_body = admin.sanitize_for_serialization(job)
    job_body["spec"]["template"]["spec"] = template["spec"]
    batch.replace_namespaced_job("j", "default", job_body)
