"""`spec.runnerPod` of a Terraform object (issue 15): how the runner Pod of its runs looks.

The Kubernetes-shaped fields (`resources`, `nodeSelector`, `tolerations`, `affinity`, `securityContext`,
`volumes`, `volumeMounts`, `env`, `envFrom`) are kept as the user wrote them and passed to the Pod
unchanged: the CRD schema gives them the core API's shapes and the API server validates the Pod, so the
controller does not re-implement that validation, and `env[].valueFrom.secretKeyRef`/`envFrom` stay
*references* (a secret's value never passes through the controller). What only we can check is checked
here, naming the field: the ServiceAccount name, and that `labels`/`annotations` do not take keys the
controller sets on its runner Pods (`tfcontroller.io/*`, `app.kubernetes.io/managed-by`): those keys are how
the controller, `tfcontroller logs` and adoption find a run's Pod, so a Pod carrying a user's value for them
would be taken for another run's. Refused as a spec error (Stalled, on status) rather than silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.errors import SpecError
from tfcontroller.api.fields import DNS_SUBDOMAIN, Fields

RUNNER_SERVICE_ACCOUNT = "tfcontroller-runner"
RESERVED_PREFIXES = ("tfcontroller.io/",)
RESERVED_KEYS = ("app.kubernetes.io/managed-by",)
_VOLUME_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_RESERVED_VOLUMES = ("tfcontroller-run", "tfcontroller-token", "tfcontroller-work")
_RESERVED_MOUNTS = ("/var/run/tfcontroller",)


@dataclass(frozen=True)
class RunnerPodSpec:
    """`spec.runnerPod`; Kubernetes-shaped parts as plain JSON (see the module docstring)."""

    service_account_name: str = RUNNER_SERVICE_ACCOUNT
    image: str = ""  # "" = the controller's --runner-image
    resources: dict[str, Any] = field(default_factory=dict)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    affinity: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    security_context: dict[str, Any] = field(default_factory=dict)  # the container's securityContext
    volumes: tuple[dict[str, Any], ...] = ()
    volume_mounts: tuple[dict[str, Any], ...] = ()
    env: tuple[dict[str, Any], ...] = ()
    env_from: tuple[dict[str, Any], ...] = ()
    termination_grace_period_seconds: int | None = None


def reserved_key(key: str) -> bool:
    """Pure: is this label/annotation key one the controller sets on runner Pods?"""
    return key in RESERVED_KEYS or any(key.startswith(p) for p in RESERVED_PREFIXES)


def parse_runner_pod(f: Fields | None) -> RunnerPodSpec:
    if f is None:
        return RunnerPodSpec()
    grace = f.data.get("terminationGracePeriodSeconds")
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int) or grace < 0):
        raise SpecError(f.field("terminationGracePeriodSeconds"), "must be a whole number of seconds, 0 or more")
    volumes = _named_objects(f, "volumes", _RESERVED_VOLUMES)
    mounts = tuple(_object(item, f"{f.field('volumeMounts')}[{i}]") for i, item in enumerate(f.list("volumeMounts")))
    for i, mount in enumerate(mounts):
        path = mount.get("mountPath")
        if not isinstance(path, str) or not path.startswith("/"):
            raise SpecError(f"{f.field('volumeMounts')}[{i}].mountPath", "must be an absolute path")
        if any(path == r or path.startswith(r + "/") or r.startswith(path.rstrip("/") + "/") for r in _RESERVED_MOUNTS):
            raise SpecError(f"{f.field('volumeMounts')}[{i}].mountPath",
                            f"{path!r} overlaps /var/run/tfcontroller, where the controller mounts the run's "
                            "request and token: mount it elsewhere")
    return RunnerPodSpec(
        service_account_name=f.str("serviceAccountName", default=RUNNER_SERVICE_ACCOUNT, pattern=DNS_SUBDOMAIN,
                                   max_len=253) or RUNNER_SERVICE_ACCOUNT,
        image=f.str("image", default="") or "",
        resources=_mapping(f, "resources"),
        node_selector=_strings(f, "nodeSelector", reserved=False),
        tolerations=tuple(_object(item, f"{f.field('tolerations')}[{i}]") for i, item in enumerate(f.list("tolerations"))),
        affinity=_mapping(f, "affinity"),
        labels=_strings(f, "labels", reserved=True),
        annotations=_strings(f, "annotations", reserved=True),
        security_context=_mapping(f, "securityContext"),
        volumes=volumes,
        volume_mounts=mounts,
        env=_named_objects(f, "env", ()),
        env_from=tuple(_object(item, f"{f.field('envFrom')}[{i}]") for i, item in enumerate(f.list("envFrom"))),
        termination_grace_period_seconds=grace,
    )


def _mapping(f: Fields, key: str) -> dict[str, Any]:
    value = f.obj(key)
    return dict(value.data) if value is not None else {}


def _object(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SpecError(where, "must be an object")
    return dict(item)


def _strings(f: Fields, key: str, *, reserved: bool) -> dict[str, str]:
    data = _mapping(f, key)
    for k, v in data.items():
        if not isinstance(v, str):
            raise SpecError(f"{f.field(key)}.{k}", "must be a string")
        if reserved and reserved_key(k):
            raise SpecError(f"{f.field(key)}.{k}",
                            "is set by the controller on every runner Pod (it finds a run's Pod by it) and "
                            "cannot be overridden: remove it or use a key outside tfcontroller.io/")
    return {str(k): v for k, v in data.items()}


def _named_objects(f: Fields, key: str, reserved: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(f.list(key)):
        where = f"{f.field(key)}[{i}]"
        obj = _object(item, where)
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            raise SpecError(f"{where}.name", "Required value")
        if key == "volumes" and not _VOLUME_NAME.match(name):
            raise SpecError(f"{where}.name", f"invalid value {name!r}: must be a DNS label")
        if name in reserved:
            raise SpecError(f"{where}.name", f"{name!r} is the name of a volume the controller adds: rename it")
        if name in seen:
            raise SpecError(f"{where}.name", f"duplicate value {name!r}")
        seen.add(name)
        out.append(obj)
    return tuple(out)
