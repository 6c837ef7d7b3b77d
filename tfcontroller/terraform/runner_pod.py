"""The manifests of a pod-mode run (issue 15; docs/architecture.md "Runner pods"): the per-run Secret and
the runner Pod. Pure: the controller decides names and contents here, `pod_runner.py` creates them.

Names are deterministic (`tfrun-<run id>-<n>`, n = the command's number in the run) so that a second
create answers AlreadyExists and a restarted controller finds the Pod of a run record by name: adoption,
never a second Pod. Both objects are owned by the Terraform object (deleting it removes them) and carry
the labels the controller, `tfcontroller logs` and adoption select on.

What the Pod gets, and why:
- the per-run Secret (the request, with the sealed values the controller decrypted, and the run API's CA)
  mounted read-only at RUN_DIR; no key of the controller is in it;
- a projected ServiceAccount token of audience `tfcontroller.io/runner`, bound to this Pod: the runner's
  credential towards the run API, which a Pod that is not this run's own cannot obtain;
- `automountServiceAccountToken` left on: the runner reads `varsFrom`/`envFrom` and the kubernetes backend
  keeps state with the Pod's own ServiceAccount (in-cluster configuration), so RBAC of the tenant's
  namespace, not the controller, decides what a run reaches;
- `activeDeadlineSeconds` from `spec.timeout` (each command's bound, as in local mode) plus a margin for
  the artifact, the grace periods and the delivery of the result, so a stuck runner ends;
- `terminationMessagePolicy: FallbackToLogsOnError`: the runner's summary (or its last log lines when it
  crashed) is the Pod's termination message, the controller's `RunnerFailed` message;
- a non-root, no-privilege-escalation security context unless the user's `securityContext` says otherwise;
- the user's `spec.runnerPod` fields merged in; our labels, volumes and mount path cannot be overridden
  (api/runner_pod.py refuses them at parse time, and ours are written last here).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.constants import API_VERSION, TERRAFORM_KIND
from tfcontroller.api.runner_pod import RunnerPodSpec
from tfcontroller.terraform.config import Timeouts

PREFIX = "tfrun-"
CONTAINER = "runner"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "tfcontroller"
LABEL_TERRAFORM = "tfcontroller.io/terraform"
LABEL_RUN_ID = "tfcontroller.io/run-id"
LABEL_PLAN_ID = "tfcontroller.io/plan-id"
LABEL_OPERATION = "tfcontroller.io/operation"
RUNNER_AUDIENCE = "tfcontroller.io/runner"
RUN_DIR = "/var/run/tfcontroller/run"  # the per-run Secret: request.json, ca.crt
TOKEN_DIR = "/var/run/tfcontroller/token"
TOKEN_FILE = "token"
WORK_DIR = "/var/run/tfcontroller/work"  # the runner's scratch directory (an emptyDir)
REQUEST_KEY = "request.json"
CA_KEY = "ca.crt"
ENV_RUN_API = "TFCONTROLLER_RUN_API"
ENV_DEADLINE = "TFCONTROLLER_RUN_DEADLINE"  # seconds the runner has from its start (delivery included)
TERMINATION_LOG = "/dev/termination-log"
TOKEN_SECONDS = 600
DEADLINE_MARGIN = 300  # artifact download, Python start, result delivery after the last command
RUNNER_ARGS = ("runner", "pod")
DEFAULT_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
}
_LABEL_VALUE_MAX = 63


@dataclass(frozen=True)
class RunPodParams:
    """Everything a run's Pod depends on; `command` numbers the runs of one run record (1, 2, ...)."""

    run_id: str
    command: int
    operation: str  # plan | apply | force-unlock
    plan_id: str
    namespace: str
    terraform_name: str
    terraform_uid: str
    image: str
    run_api_url: str
    timeouts: Timeouts  # the object's, already bounded by spec.timeout
    spec: RunnerPodSpec
    runner_command: tuple[str, ...] = ("tfcontroller",)
    run_as_user: int | None = None  # the image's non-root user, when the default security context applies


def run_object_name(run_id: str, command: int) -> str:
    """`tfrun-<run id>-<n>`: the Pod and its Secret; a run id is at most 63 characters of [a-z0-9-]."""
    return f"{PREFIX}{run_id}-{command}"


def labels(params: RunPodParams) -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_TERRAFORM: params.terraform_name, LABEL_RUN_ID: params.run_id,
            LABEL_PLAN_ID: _label_value(params.plan_id), LABEL_OPERATION: params.operation}


def selector(terraform_name: str, run_id: str | None = None) -> str:
    """The label selector of an object's runner Pods (of one run with `run_id`)."""
    out = f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_TERRAFORM}={terraform_name}"
    return f"{out},{LABEL_RUN_ID}={run_id}" if run_id else out


def deadline_seconds(timeouts: Timeouts) -> int:
    """The Pod's `activeDeadlineSeconds`: a run is init, then plan + show or apply + output, each bounded
    as in local mode (`Timeouts.bounded_by(spec.timeout)`), each with its SIGINT grace; plus a margin."""
    commands = timeouts.init + max(timeouts.plan, timeouts.apply) + timeouts.short
    return int(commands + 3 * timeouts.grace + DEADLINE_MARGIN)


def owner_reference(params: RunPodParams) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": TERRAFORM_KIND, "name": params.terraform_name,
            "uid": params.terraform_uid, "controller": True, "blockOwnerDeletion": False}


def run_secret(params: RunPodParams, request: dict[str, Any], ca_pem: str) -> dict[str, Any]:
    """The per-run Secret: the request (sealed values included, already decrypted) and the run API's CA."""
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": run_object_name(params.run_id, params.command), "namespace": params.namespace,
                     "labels": labels(params), "ownerReferences": [owner_reference(params)]},
        "data": {REQUEST_KEY: _b64(json.dumps(request, sort_keys=True)), CA_KEY: _b64(ca_pem)},
    }


def run_pod(params: RunPodParams) -> dict[str, Any]:
    spec = params.spec
    name = run_object_name(params.run_id, params.command)
    deadline = deadline_seconds(params.timeouts)
    security = {**DEFAULT_SECURITY_CONTEXT, **({"runAsUser": params.run_as_user} if params.run_as_user else {}),
                **spec.security_context}
    env = [*spec.env,  # the user's first: ours below win on a name clash (the kubelet takes the last)
           {"name": ENV_RUN_API, "value": params.run_api_url},
           {"name": ENV_DEADLINE, "value": str(deadline)},
           {"name": "HOME", "value": WORK_DIR},
           {"name": "TMPDIR", "value": WORK_DIR}]
    container: dict[str, Any] = {
        "name": CONTAINER, "image": spec.image or params.image,
        "command": list(params.runner_command), "args": list(RUNNER_ARGS),
        "env": env,
        "volumeMounts": [
            *spec.volume_mounts,
            {"name": "tfcontroller-run", "mountPath": RUN_DIR, "readOnly": True},
            {"name": "tfcontroller-token", "mountPath": TOKEN_DIR, "readOnly": True},
            {"name": "tfcontroller-work", "mountPath": WORK_DIR},
        ],
        "securityContext": security,
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if spec.env_from:
        container["envFrom"] = list(spec.env_from)
    if spec.resources:
        container["resources"] = dict(spec.resources)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": spec.service_account_name,
        "automountServiceAccountToken": True,
        "activeDeadlineSeconds": deadline,
        "containers": [container],
        "volumes": [
            *spec.volumes,
            {"name": "tfcontroller-run", "secret": {"secretName": name, "defaultMode": 0o400}},
            {"name": "tfcontroller-token", "projected": {"sources": [{"serviceAccountToken": {
                "audience": RUNNER_AUDIENCE, "expirationSeconds": TOKEN_SECONDS, "path": TOKEN_FILE}}]}},
            {"name": "tfcontroller-work", "emptyDir": {}},
        ],
    }
    for key, value in (("nodeSelector", spec.node_selector), ("tolerations", list(spec.tolerations)),
                       ("affinity", spec.affinity)):
        if value:
            pod_spec[key] = value
    if spec.termination_grace_period_seconds is not None:
        pod_spec["terminationGracePeriodSeconds"] = spec.termination_grace_period_seconds
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": params.namespace,
                     "labels": {**spec.labels, **labels(params)},
                     "annotations": dict(spec.annotations),
                     "ownerReferences": [owner_reference(params)]},
        "spec": pod_spec,
    }


def _label_value(value: str) -> str:
    """A plan id as a label value (at most 63 characters of [A-Za-z0-9-_.]); the full id is in the request."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in value)[:_LABEL_VALUE_MAX]
    return cleaned.strip("-_.")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
