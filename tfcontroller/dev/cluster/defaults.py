"""Defaulting the API server does for built-in kinds whose defaults clients rely on or see.

Decoding defaults (kube-apiserver's `SetDefaults_*` functions of core/v1, applied to every request body and
patched object, on create and update alike; `default_object`):
- every PodSpec — a Pod's and the Pod template of a Job, CronJob, Deployment, ReplicaSet, StatefulSet or
  DaemonSet (`SetDefaults_PodSpec`): `restartPolicy: Always`, `dnsPolicy: ClusterFirst`,
  `schedulerName: default-scheduler`, `securityContext: {}`, `terminationGracePeriodSeconds: 30`; per
  container and init container (`SetDefaults_Container`): `terminationMessagePath: /dev/termination-log`,
  `terminationMessagePolicy: File`, `imagePullPolicy` Always for the tag `latest` or no tag and no digest,
  else IfNotPresent (`image_pull_policy`); the nested ones a `kubectl get -o yaml` shows: port `protocol:
  TCP`, probe timings (1 s timeout, 10 s period, thresholds 1 and 3) and `httpGet` `path: /` `scheme: HTTP`,
  `fieldRef.apiVersion: v1`, volume `defaultMode: 420` (secret, configMap, downwardAPI, projected), a
  projected token's `expirationSeconds: 3600`, `emptyDir: {}` for a volume without a source;
- a Pod only (`SetDefaults_Pod`, not templates): `enableServiceLinks: true`, `requests` defaulting to the
  `limits` per container, and with `hostNetwork` each container port's `hostPort` = `containerPort`;
- the workload kinds' own (`_WORKLOAD_DEFAULTS`): a Deployment's `replicas` 1, `revisionHistoryLimit` 10,
  `progressDeadlineSeconds` 600, RollingUpdate with 25%/25%; a ReplicaSet's `replicas` 1; a StatefulSet's
  `replicas` 1, `revisionHistoryLimit` 10, `podManagementPolicy: OrderedReady`, RollingUpdate with
  `partition: 0`, PVC retention Retain/Retain; a DaemonSet's `revisionHistoryLimit` 10, RollingUpdate
  with maxUnavailable 1 and maxSurge 0; a CronJob's `concurrencyPolicy: Allow`, `suspend: false`, history
  limits 3 and 1; a Job's scalars (below) and `podReplacementPolicy` (TerminatingOrFailed, or Failed with
  a podFailurePolicy).

On create only:
- a Pod is stored with `status: {phase: Pending, qosClass}` (kube-apiserver's Pod strategy), so a client
  reading it before the scheduler never sees a Pod without status; and it passes two of the default
  admission plugins (`admit_pod`): Priority (`priority: 0`, `preemptionPolicy: PreemptLowerPriority`
  without a `priorityClassName` — no PriorityClass is served, so there is no global default — or the
  built-in `system-cluster-critical`/`system-node-critical`; another class name, or a `priority` that
  differs, is refused) and DefaultTolerationSeconds (`not-ready` and `unreachable` NoExecute
  tolerations for 300 s unless the Pod tolerates them already);
- a Job gets, as kube-apiserver's Job strategy gives it (unless `spec.manualSelector`), the selector
  `batch.kubernetes.io/controller-uid: <uid>` and the four Job labels on its Pod template — `kubectl logs
  job/NAME`, `kubectl describe job` and `kubectl wait` find its Pods through that selector, and without one
  they take every Pod of the namespace — plus the scalar defaults of `JobSpec` (backoffLimit 6, completions
  and parallelism 1 when both are unset, completionMode NonIndexed, suspend false).

Pure: unit-tested (tests/unit/dev/cluster/test_defaults.py).
"""

from __future__ import annotations

import re
from typing import Any

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"


def default_job(obj: dict[str, Any]) -> None:
    """Default a new Job in place (its metadata.uid and name are set)."""
    meta, spec = obj["metadata"], obj.setdefault("spec", {})
    uid, name = meta["uid"], meta["name"]
    if not spec.get("manualSelector") and not spec.get("selector"):
        spec["selector"] = {"matchLabels": {CONTROLLER_UID_LABEL: uid}}
        template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
        labels = template_meta.setdefault("labels", {})
        labels.update({CONTROLLER_UID_LABEL: uid, JOB_NAME_LABEL: name, "controller-uid": uid, "job-name": name})
    _job(spec)


def pod_qos_class(pod: dict[str, Any]) -> str:
    """The Pod's QoS class as kube-apiserver computes it, over init and regular containers: BestEffort
    without any request or limit; Guaranteed when every container limits cpu and memory and requests
    (defaulting to the limit) equal them; Burstable otherwise. Quantities are compared as written."""
    spec = pod.get("spec") or {}
    resources = [c.get("resources") or {} for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
    if not any(r.get("limits") or r.get("requests") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        for key in ("cpu", "memory"):
            if not limits.get(key) or requests.get(key, limits[key]) != limits[key]:
                return "Burstable"
    return "Guaranteed"


def pending_status(obj: dict[str, Any]) -> None:
    """A new Pod's status: Pending, with its QoS class (the status of the request is dropped before)."""
    obj["status"] = {"phase": "Pending", "qosClass": pod_qos_class(obj)}


# ------------------------------------------------------------------------------------ decoding defaults
# Where each kind keeps its Pod template's PodSpec.
_TEMPLATE_SPECS: dict[tuple[str, str], tuple[str, ...]] = {
    ("batch", "jobs"): ("spec", "template", "spec"),
    ("batch", "cronjobs"): ("spec", "jobTemplate", "spec", "template", "spec"),
    ("apps", "deployments"): ("spec", "template", "spec"),
    ("apps", "replicasets"): ("spec", "template", "spec"),
    ("apps", "statefulsets"): ("spec", "template", "spec"),
    ("apps", "daemonsets"): ("spec", "template", "spec"),
}
DEFAULT_MODE = 420  # 0644, the default file mode of secret, configMap, downwardAPI and projected volumes


def default_object(group: str, plural: str, obj: dict[str, Any]) -> None:
    """The decoding defaults of one object (a Pod, or a kind with a Pod template), in place; idempotent."""
    if (group, plural) == ("", "pods"):
        spec = obj.get("spec")
        if isinstance(spec, dict):
            default_pod_spec(spec)
            _default_pod_only(spec)
        return
    workload = _WORKLOAD_DEFAULTS.get((group, plural))
    if workload is not None and isinstance(obj.get("spec"), dict):
        workload(obj["spec"])
    path = _TEMPLATE_SPECS.get((group, plural))
    node: Any = obj
    for key in path or ():
        node = node.get(key) if isinstance(node, dict) else None
    if path and isinstance(node, dict):
        default_pod_spec(node)


def _setdefaults(spec: dict[str, Any], **values: Any) -> None:
    """Set each field that is absent or null (a Go pointer left nil)."""
    for key, value in values.items():
        if spec.get(key) is None:
            spec[key] = value


def _rolling_update(strategy: dict[str, Any], rolling_type: str, **values: Any) -> None:
    """A strategy of type `rolling_type` (the default type) gets its rollingUpdate parameters."""
    strategy.setdefault("type", rolling_type)
    if strategy["type"] == rolling_type:
        if not isinstance(strategy.get("rollingUpdate"), dict):
            strategy["rollingUpdate"] = {}
        _setdefaults(strategy["rollingUpdate"], **values)


def _deployment(spec: dict[str, Any]) -> None:
    """SetDefaults_Deployment."""
    _setdefaults(spec, replicas=1, revisionHistoryLimit=10, progressDeadlineSeconds=600)
    if not isinstance(spec.get("strategy"), dict):
        spec["strategy"] = {}
    _rolling_update(spec["strategy"], "RollingUpdate", maxUnavailable="25%", maxSurge="25%")


def _statefulset(spec: dict[str, Any]) -> None:
    """SetDefaults_StatefulSet (StatefulSetAutoDeletePVC is on in 1.32; MaxUnavailableStatefulSet is off)."""
    _setdefaults(spec, replicas=1, revisionHistoryLimit=10, podManagementPolicy="OrderedReady")
    if not isinstance(spec.get("updateStrategy"), dict):
        spec["updateStrategy"] = {}
    strategy = spec["updateStrategy"]
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        if not isinstance(strategy.get("rollingUpdate"), dict):
            strategy["rollingUpdate"] = {}
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        _setdefaults(strategy["rollingUpdate"], partition=0)
    if not isinstance(spec.get("persistentVolumeClaimRetentionPolicy"), dict):
        spec["persistentVolumeClaimRetentionPolicy"] = {}
    _setdefaults(spec["persistentVolumeClaimRetentionPolicy"], whenDeleted="Retain", whenScaled="Retain")


def _daemonset(spec: dict[str, Any]) -> None:
    """SetDefaults_DaemonSet."""
    _setdefaults(spec, revisionHistoryLimit=10)
    if not isinstance(spec.get("updateStrategy"), dict):
        spec["updateStrategy"] = {}
    _rolling_update(spec["updateStrategy"], "RollingUpdate", maxUnavailable=1, maxSurge=0)


def _cronjob(spec: dict[str, Any]) -> None:
    """SetDefaults_CronJob (its Job template gets no JobSpec defaults: those belong to a Job)."""
    _setdefaults(spec, concurrencyPolicy="Allow", suspend=False, successfulJobsHistoryLimit=3, failedJobsHistoryLimit=1)


def _job(spec: dict[str, Any]) -> None:
    """The scalar part of SetDefaults_Job, on every write (the selector and labels are create-only:
    `default_job`); JobPodReplacementPolicy is on in 1.32."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = spec["parallelism"] = 1
    _setdefaults(spec, parallelism=1, completionMode="NonIndexed", suspend=False,
                 backoffLimit=2147483647 if spec.get("backoffLimitPerIndex") is not None else 6,
                 podReplacementPolicy="Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed")


# The kinds' own SetDefaults_* (their Pod templates are defaulted by default_pod_spec besides).
_WORKLOAD_DEFAULTS = {
    ("apps", "deployments"): _deployment,
    ("apps", "replicasets"): lambda spec: _setdefaults(spec, replicas=1),
    ("apps", "statefulsets"): _statefulset,
    ("apps", "daemonsets"): _daemonset,
    ("batch", "cronjobs"): _cronjob,
    ("batch", "jobs"): _job,
}


def default_pod_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_PodSpec and what it holds (containers, volumes), for Pods and Pod templates alike."""
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    spec.setdefault("schedulerName", "default-scheduler")
    for container in _containers(spec):
        default_container(container)
    for volume in _dicts(spec.get("volumes")):
        _default_volume(volume)


def default_container(container: dict[str, Any]) -> None:
    """SetDefaults_Container, with its ports, probes, lifecycle handlers and env field references."""
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = image_pull_policy(str(container.get("image") or ""))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    for port in _dicts(container.get("ports")):
        port.setdefault("protocol", "TCP")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(key)
        if isinstance(probe, dict):
            for field, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                                 ("failureThreshold", 3)):
                if probe.get(field) is None:
                    probe[field] = value
            _default_http_get(probe)
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for key in ("postStart", "preStop"):
            if isinstance(lifecycle.get(key), dict):
                _default_http_get(lifecycle[key])
    for env in _dicts(container.get("env")):
        _default_field_ref((env.get("valueFrom") or {}).get("fieldRef"))


# A docker image reference (distribution/reference): [domain/]path[:tag][@digest].
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(rf"^(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*(?::(?P<tag>[\w][\w.-]{{0,127}}))?"
                        r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}))?$")


def image_pull_policy(image: str) -> str:
    """Always when the image's tag is `latest` — also when it has neither tag nor digest, which means
    latest — else IfNotPresent; an image that does not parse as a reference is IfNotPresent, as
    kubelet's ParseImageName fails for it and the defaulter ignores that error."""
    match = _REFERENCE.match(image)
    if match is None:
        return "IfNotPresent"
    tag, digest = match.group("tag"), match.group("digest")
    return "Always" if tag == "latest" or (not tag and not digest) else "IfNotPresent"


def _default_pod_only(spec: dict[str, Any]) -> None:
    """SetDefaults_Pod: what a Pod gets and a Pod template does not."""
    for container in _containers(spec):
        resources = container.get("resources")
        if isinstance(resources, dict) and resources.get("limits"):
            requests = resources.setdefault("requests", {})
            for key, value in resources["limits"].items():
                requests.setdefault(key, value)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork"):
        for container in _containers(spec):
            for port in _dicts(container.get("ports")):
                if not port.get("hostPort"):
                    port["hostPort"] = port.get("containerPort")


def _default_volume(volume: dict[str, Any]) -> None:
    sources = [k for k in volume if k != "name"]
    if not sources:
        volume["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(key)
        if isinstance(source, dict) and source.get("defaultMode") is None:
            source["defaultMode"] = DEFAULT_MODE
    for item in _dicts((volume.get("downwardAPI") or {}).get("items")):
        _default_field_ref(item.get("fieldRef"))
    for source in _dicts((volume.get("projected") or {}).get("sources")):
        token = source.get("serviceAccountToken")
        if isinstance(token, dict) and token.get("expirationSeconds") is None:
            token["expirationSeconds"] = 3600
        for item in _dicts((source.get("downwardAPI") or {}).get("items")):
            _default_field_ref(item.get("fieldRef"))


def _default_http_get(handler: dict[str, Any]) -> None:
    http_get = handler.get("httpGet")
    if isinstance(http_get, dict):
        http_get.setdefault("path", "/")
        http_get.setdefault("scheme", "HTTP")


def _default_field_ref(ref: Any) -> None:
    if isinstance(ref, dict) and not ref.get("apiVersion"):
        ref["apiVersion"] = "v1"


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return _dicts(spec.get("initContainers")) + _dicts(spec.get("containers"))


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


# ------------------------------------------------------------------------------------ Pod admission
NOT_READY, UNREACHABLE = "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"
# The built-in PriorityClasses (scheduling/v1) every cluster has; no other class is served here.
SYSTEM_PRIORITIES = {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}


class Refused(Exception):
    """An admission plugin refuses the Pod (403 `pods "NAME" is forbidden: <message>`)."""


def admit_pod(obj: dict[str, Any]) -> None:
    """The Priority and DefaultTolerationSeconds admission plugins on a new Pod, in place."""
    spec = obj.setdefault("spec", {})
    class_name = spec.get("priorityClassName") or ""
    if class_name and class_name not in SYSTEM_PRIORITIES:
        raise Refused(f"no PriorityClass with name {class_name} was found")
    priority = SYSTEM_PRIORITIES.get(class_name, 0)
    if spec.get("priority") is not None and spec["priority"] != priority:
        raise Refused(f"the integer value of priority ({spec['priority']}) must not be provided in pod spec; "
                      f"priority admission controller computed {priority} from the given PriorityClass name")
    spec["priority"] = priority
    if spec.get("preemptionPolicy") not in (None, "PreemptLowerPriority"):
        raise Refused(f"the string value of PreemptionPolicy ({spec['preemptionPolicy']}) must not be provided in "
                      "pod spec; priority admission controller computed PreemptLowerPriority from the given "
                      "PriorityClass name")
    spec["preemptionPolicy"] = "PreemptLowerPriority"
    tolerations = list(spec.get("tolerations") or [])
    for key in (NOT_READY, UNREACHABLE):
        if not any(t.get("key") in (key, None, "") and t.get("effect") in ("NoExecute", None, "")
                   for t in _dicts(tolerations)):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    spec["tolerations"] = tolerations
