"""tfcontroller.dev.cluster.defaults: a new Job's selector, template labels and JobSpec scalars; a new Pod's
status; the core/v1 decoding defaults of Pods and Pod templates (SetDefaults_PodSpec, _Container, _Pod and
the nested ones), imagePullPolicy from the image reference; the Priority and DefaultTolerationSeconds
admission of new Pods."""

from __future__ import annotations

import copy

import pytest

from tfcontroller.dev.cluster.defaults import (
    Refused,
    admit_pod,
    default_job,
    default_object,
    image_pull_policy,
    pending_status,
    pod_qos_class,
)


def _job(**spec: object) -> dict:
    return {"metadata": {"name": "j", "uid": "u-1"}, "spec": {"template": {"spec": {}}, **spec}}


def test_a_job_gets_its_selector_labels_and_scalars() -> None:
    job = _job()
    default_job(job)
    spec = job["spec"]
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    assert spec["template"]["metadata"]["labels"] == {"batch.kubernetes.io/controller-uid": "u-1",
                                                      "batch.kubernetes.io/job-name": "j",
                                                      "controller-uid": "u-1", "job-name": "j"}
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert (spec["completionMode"], spec["suspend"]) == ("NonIndexed", False)


def test_given_values_and_a_manual_selector_are_kept() -> None:
    job = _job(manualSelector=True, selector={"matchLabels": {"a": "b"}}, parallelism=3, backoffLimit=0)
    default_job(job)
    spec = job["spec"]
    assert spec["selector"] == {"matchLabels": {"a": "b"}} and "metadata" not in spec["template"]
    assert "completions" not in spec and spec["parallelism"] == 3 and spec["backoffLimit"] == 0  # a work queue
    work_queue = _job(completions=4)
    default_job(work_queue)
    assert (work_queue["spec"]["completions"], work_queue["spec"]["parallelism"]) == (4, 1)


def _pod(*resources: dict, init: dict | None = None) -> dict:
    spec: dict = {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}
    if init is not None:
        spec["initContainers"] = [{"name": "i", "resources": init}]
    return {"metadata": {"name": "p"}, "spec": spec}


def test_a_new_pod_is_pending_with_its_qos_class() -> None:
    both = {"cpu": "1", "memory": "1Gi"}
    cases = [
        (_pod({}), "BestEffort"),
        (_pod({"limits": both}), "Guaranteed"),  # requests default to the limits
        (_pod({"limits": both, "requests": both}), "Guaranteed"),
        (_pod({"limits": {"memory": "1Gi"}}), "Burstable"),
        (_pod({"requests": {"cpu": "1"}}), "Burstable"),
        (_pod({"limits": both}, {}), "Burstable"),  # one container without limits
        (_pod({}, init={"limits": both}), "Burstable"),  # init containers count
    ]
    for pod, want in cases:
        assert pod_qos_class(pod) == want, pod
        pending_status(pod)
        assert pod["status"] == {"phase": "Pending", "qosClass": want}


POD_SPEC_DEFAULTS = {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                     "securityContext": {}, "terminationGracePeriodSeconds": 30}
CONTAINER_DEFAULTS = {"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}


def test_a_pod_gets_the_pod_spec_and_container_defaults() -> None:
    pod = {"spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox:1.36"}],
                    "initContainers": [{"name": "i", "image": "busybox:latest"}]}}
    default_object("", "pods", pod)
    spec = pod["spec"]
    assert {k: spec[k] for k in POD_SPEC_DEFAULTS} == POD_SPEC_DEFAULTS and spec["enableServiceLinks"] is True
    assert [c["imagePullPolicy"] for c in spec["containers"] + spec["initContainers"]] == \
        ["Always", "IfNotPresent", "Always"]
    for c in spec["containers"] + spec["initContainers"]:
        assert {k: c[k] for k in CONTAINER_DEFAULTS} == CONTAINER_DEFAULTS
    again = copy.deepcopy(pod)
    default_object("", "pods", again)
    assert again == pod  # idempotent: an update of a defaulted object changes nothing


def test_given_values_are_kept_including_falsy_ones() -> None:
    spec = {"restartPolicy": "Never", "dnsPolicy": "Default", "schedulerName": "mine", "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 0, "securityContext": {"runAsUser": 1000},
            "containers": [{"name": "c", "image": "x", "imagePullPolicy": "Never", "terminationMessagePolicy":
                            "FallbackToLogsOnError", "terminationMessagePath": "/tmp/m"}]}
    pod = {"spec": copy.deepcopy(spec)}
    default_object("", "pods", pod)
    assert pod["spec"] == spec


def test_nested_defaults_ports_probes_env_and_volumes() -> None:
    pod = {"spec": {"containers": [{
        "name": "c", "image": "x:1", "ports": [{"containerPort": 80}],
        "readinessProbe": {"httpGet": {"port": 80}}, "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
        "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/quit"}}},
        "env": [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}, {"name": "A", "value": "b"}],
        "resources": {"limits": {"cpu": "1"}, "requests": {"memory": "1Gi"}}}],
        "volumes": [{"name": "scratch"}, {"name": "s", "secret": {"secretName": "s"}},
                    {"name": "m", "configMap": {"name": "m", "defaultMode": 256}},
                    {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}},
                                                            {"downwardAPI": {"items": [{"path": "n", "fieldRef": {
                                                                "fieldPath": "metadata.name"}}]}}]}}]}}
    default_object("", "pods", pod)
    c = pod["spec"]["containers"][0]
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["readinessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["livenessProbe"]["periodSeconds"] == 5
    assert c["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/quit", "scheme": "HTTP"}
    assert c["env"][0]["valueFrom"]["fieldRef"] == {"apiVersion": "v1", "fieldPath": "metadata.namespace"}
    assert c["resources"] == {"limits": {"cpu": "1"}, "requests": {"memory": "1Gi", "cpu": "1"}}  # Pods only
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["scratch"] == {"name": "scratch", "emptyDir": {}}
    assert volumes["s"]["secret"]["defaultMode"] == 420 and volumes["m"]["configMap"]["defaultMode"] == 256
    projected = volumes["p"]["projected"]
    assert projected["defaultMode"] == 420 and projected["sources"][0]["serviceAccountToken"]["expirationSeconds"] == 3600
    assert projected["sources"][1]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"] == "v1"


def test_host_network_pods_get_host_ports() -> None:
    pod = {"spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 8080}]}]}}
    default_object("", "pods", pod)
    assert pod["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"}]


@pytest.mark.parametrize(("group", "plural", "path"), [
    ("batch", "jobs", ("spec", "template", "spec")),
    ("batch", "cronjobs", ("spec", "jobTemplate", "spec", "template", "spec")),
    ("apps", "deployments", ("spec", "template", "spec")),
    ("apps", "statefulsets", ("spec", "template", "spec")),
    ("apps", "daemonsets", ("spec", "template", "spec")),
    ("apps", "replicasets", ("spec", "template", "spec")),
])
def test_pod_templates_get_pod_spec_defaults_but_not_the_pod_only_ones(group: str, plural: str,
                                                                        path: tuple[str, ...]) -> None:
    spec = {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"cpu": "1"}}}]}
    obj: dict = {}
    node = obj
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = spec
    default_object(group, plural, obj)
    assert {k: spec[k] for k in POD_SPEC_DEFAULTS} == POD_SPEC_DEFAULTS
    assert spec["containers"][0]["imagePullPolicy"] == "Always"
    assert "enableServiceLinks" not in spec and "requests" not in spec["containers"][0]["resources"]


def test_other_kinds_and_missing_templates_are_left_alone() -> None:
    for group, plural, obj in (("", "configmaps", {"data": {"restartPolicy": "x"}}), ("batch", "jobs", {}),
                               ("", "pods", {"metadata": {"name": "p"}}), ("apps", "deployments", {"spec": "x"})):
        before = copy.deepcopy(obj)
        default_object(group, plural, obj)
        assert obj == before


@pytest.mark.parametrize(("image", "policy"), [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
    ("docker.io/library/busybox", "Always"), ("ghcr.io/org/app:v2", "IfNotPresent"),
    ("localhost:5000/app", "Always"),  # a registry port is not a tag
    ("localhost:5000/app:dev", "IfNotPresent"), ("tfcontroller:dev", "IfNotPresent"),
    ("busybox@sha256:" + "a" * 64, "IfNotPresent"),  # a digest without a tag is not latest
    ("busybox:latest@sha256:" + "a" * 64, "Always"),
    ("", "IfNotPresent"), ("Not An/Image", "IfNotPresent"),  # unparsable: the kubelet's parse error is ignored
])
def test_image_pull_policy_follows_the_image_reference(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_priority_and_default_toleration_seconds_admission() -> None:
    pod: dict = {"spec": {"containers": []}}
    admit_pod(pod)
    assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert pod["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    ]
    critical: dict = {"spec": {"priorityClassName": "system-node-critical",
                               "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}]}}
    admit_pod(critical)
    assert critical["spec"]["priority"] == 2000001000
    assert [t["key"] for t in critical["spec"]["tolerations"]] == ["node.kubernetes.io/unreachable",
                                                                  "node.kubernetes.io/not-ready"]
    everything: dict = {"spec": {"tolerations": [{"operator": "Exists"}]}}  # tolerates every taint already
    admit_pod(everything)
    assert everything["spec"]["tolerations"] == [{"operator": "Exists"}]
    with pytest.raises(Refused, match="no PriorityClass with name high was found"):
        admit_pod({"spec": {"priorityClassName": "high"}})
    with pytest.raises(Refused, match=r"the integer value of priority \(5\) must not be provided"):
        admit_pod({"spec": {"priority": 5}})
    with pytest.raises(Refused, match=r"PreemptionPolicy \(Never\) must not be provided"):
        admit_pod({"spec": {"preemptionPolicy": "Never"}})


def test_workload_kinds_get_their_own_defaults_and_keep_given_values() -> None:
    deployment: dict = {"spec": {"replicas": 0, "template": {"spec": {"containers": []}}}}
    default_object("apps", "deployments", deployment)
    spec = deployment["spec"]
    assert (spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (0, 10, 600)
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    recreate: dict = {"spec": {"strategy": {"type": "Recreate"}}}
    default_object("apps", "deployments", recreate)
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}

    sts: dict = {"spec": {}}
    default_object("apps", "statefulsets", sts)
    assert sts["spec"] == {"replicas": 1, "revisionHistoryLimit": 10, "podManagementPolicy": "OrderedReady",
                           "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                           "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}}
    on_delete: dict = {"spec": {"updateStrategy": {"type": "OnDelete"}}}
    default_object("apps", "statefulsets", on_delete)
    assert on_delete["spec"]["updateStrategy"] == {"type": "OnDelete"}

    ds: dict = {"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": "10%"}}}}
    default_object("apps", "daemonsets", ds)
    assert ds["spec"] == {"revisionHistoryLimit": 10, "updateStrategy": {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%", "maxSurge": 0}}}

    rs: dict = {"spec": {}}
    default_object("apps", "replicasets", rs)
    assert rs["spec"] == {"replicas": 1}

    cron: dict = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}}
    default_object("batch", "cronjobs", cron)
    assert {k: v for k, v in cron["spec"].items() if k != "jobTemplate"} == {
        "concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}
    assert "backoffLimit" not in cron["spec"]["jobTemplate"]["spec"]  # JobSpec defaults are a Job's only

    job: dict = {"spec": {"podFailurePolicy": {"rules": []}, "backoffLimitPerIndex": 1, "completions": 3}}
    default_object("batch", "jobs", job)
    assert job["spec"]["podReplacementPolicy"] == "Failed" and job["spec"]["backoffLimit"] == 2147483647
    plain: dict = {"spec": {}}
    default_object("batch", "jobs", plain)  # an update gets the scalars too (not the selector)
    assert plain["spec"] == {"completions": 1, "parallelism": 1, "completionMode": "NonIndexed", "suspend": False,
                             "backoffLimit": 6, "podReplacementPolicy": "TerminatingOrFailed"}
