"""Typed view of a Terraform object (design.md §3) with the rules the CRD schema cannot express:
one value per variable (`value` XOR `sealedValue`), one source per env var (`value` XOR `valueFrom`),
unique names, a module path that stays inside the artifact, resolved defaults (secretSuffix = the name, or
a variant of it that Terraform accepts: api.statenames; retryInterval = interval, drift interval =
interval, dependency namespace = own namespace)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.constants import (
    ANNOTATION_APPROVE_PLAN,
    ANNOTATION_FORCE_UNLOCK,
    ANNOTATION_REPLAN,
    APPROVE_AUTO,
    TERRAFORM_KIND,
    is_plan_id,
    tfplan_secret_name,
    tfstate_lease_name,
    tfstate_secret_name,
)
from tfcontroller.api.errors import SpecError
from tfcontroller.api.fields import DNS_LABEL, Fields, unique_names
from tfcontroller.api.meta import ObjectMeta
from tfcontroller.api.refs import (
    KeyRef,
    ObjectRef,
    ValuesFrom,
    clean_path,
    parse_source_ref,
    parse_values_from,
)
from tfcontroller.api.runner_pod import RunnerPodSpec, parse_runner_pod
from tfcontroller.api.statenames import default_secret_suffix, explicit_suffix_problem
from tfcontroller.api.terraform_status import PendingPlan, TerraformStatus

DEFAULT_TIMEOUT = 20 * 60.0
DEFAULT_WORKSPACE = "default"
TF_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True)
class Var:
    """An input variable: `value` is any JSON (None is a valid value), unless `sealed_value` is set."""

    name: str
    value: Any = None
    sealed_value: str | None = None

    @property
    def sealed(self) -> bool:
        return self.sealed_value is not None


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None = None
    value_from: KeyRef | None = None


@dataclass(frozen=True)
class OutputsSecret:
    name: str
    outputs: tuple[str, ...] | None = None  # None: every output


@dataclass(frozen=True)
class DriftDetection:
    interval: float
    disabled: bool = False
    email_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class TerraformSpec:
    source_ref: ObjectRef
    interval: float
    path: str = "."
    retry_interval: float = 0.0
    approve_plan: str = ""
    workspace: str = DEFAULT_WORKSPACE
    vars: tuple[Var, ...] = ()
    vars_from: tuple[ValuesFrom, ...] = ()
    env: tuple[EnvVar, ...] = ()
    env_from: tuple[ValuesFrom, ...] = ()
    secret_suffix: str = ""
    # spec.backendConfig.customConfiguration: a `backend "<type>" { … }` block replacing the kubernetes backend
    # (the state lives elsewhere: no state Secret, no ownership record, no state-loss guard; docs/state.md)
    custom_backend: str = ""
    write_outputs_to_secret: OutputsSecret | None = None
    depends_on: tuple[ObjectRef, ...] = ()
    drift_detection: DriftDetection | None = None
    destroy: bool = False
    destroy_resources_on_deletion: bool = False
    timeout: float = DEFAULT_TIMEOUT
    suspend: bool = False
    runner_pod: RunnerPodSpec = field(default_factory=RunnerPodSpec)  # pod mode: the runner Pod (issue 15)

    @property
    def auto_approve(self) -> bool:
        return self.approve_plan == APPROVE_AUTO


@dataclass(frozen=True)
class Terraform:
    meta: ObjectMeta
    spec: TerraformSpec
    status: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Terraform:
        if obj.get("kind", TERRAFORM_KIND) != TERRAFORM_KIND:
            raise SpecError("kind", f"expected {TERRAFORM_KIND}, got {obj.get('kind')!r}")
        meta = ObjectMeta.from_dict(obj)
        return cls(meta, parse_spec(Fields.at(obj.get("spec"), "spec"), meta), dict(obj.get("status") or {}))

    # Names this object owns (design.md §3).
    @property
    def state_secret_name(self) -> str:
        return tfstate_secret_name(self.spec.workspace, self.spec.secret_suffix)

    @property
    def state_lease_name(self) -> str:
        return tfstate_lease_name(self.spec.workspace, self.spec.secret_suffix)

    @property
    def plan_secret_name(self) -> str:
        return tfplan_secret_name(self.spec.workspace, self.meta.name)

    # Approval and the user's requests.
    @property
    def approval_annotation(self) -> str | None:
        """The plan id the approve-plan annotation names (None when unset or blank); with
        `spec.approvePlan` it is what policy.decide_approval weighs."""
        return self.meta.annotations.get(ANNOTATION_APPROVE_PLAN, "").strip() or None

    @property
    def pending_plan(self) -> str:
        return PendingPlan.of(self.status).id

    @property
    def status_view(self) -> TerraformStatus:
        """The typed view of the status this object was read with (api/terraform_status.py)."""
        return TerraformStatus.of(self.status)

    @property
    def replan_requested(self) -> str | None:
        return self.meta.annotations.get(ANNOTATION_REPLAN)

    @property
    def force_unlock_id(self) -> str | None:
        return self.meta.annotations.get(ANNOTATION_FORCE_UNLOCK)


NAME_MAX = 63  # the name is the value of label tfcontroller.io/terraform on its plan and outputs Secrets


def parse_spec(f: Fields, meta: ObjectMeta) -> TerraformSpec:
    if len(meta.name) > NAME_MAX:  # the API server accepts 253; every plan would then fail: stall instead
        raise SpecError("metadata.name", f"must be at most {NAME_MAX} characters (it is the value of label "
                                         f"tfcontroller.io/terraform on the plan and outputs Secrets)")
    interval = f.duration("interval", required=True)
    assert interval is not None
    approve = f.str("approvePlan", default="") or ""
    if approve not in ("", APPROVE_AUTO) and not is_plan_id(approve):
        raise SpecError(f.field("approvePlan"), f'must be "auto", "" (manual) or a plan id, not {approve!r}')
    suffix = _secret_suffix(f, meta)
    return TerraformSpec(
        source_ref=parse_source_ref(f, meta.namespace),
        interval=interval,
        path=clean_path(f),
        retry_interval=f.duration("retryInterval") or interval,
        approve_plan=approve,
        workspace=f.str("workspace", default=DEFAULT_WORKSPACE, pattern=DNS_LABEL, max_len=63) or DEFAULT_WORKSPACE,
        vars=_vars(f),
        vars_from=tuple(parse_values_from(f, "varsFrom", with_keys=True)),
        env=_env(f),
        env_from=tuple(parse_values_from(f, "envFrom")),
        secret_suffix=suffix,
        custom_backend=_custom_backend(f),
        write_outputs_to_secret=_outputs(f),
        depends_on=_depends_on(f, meta),
        drift_detection=_drift(f, interval),
        destroy=f.bool("destroy"),
        destroy_resources_on_deletion=f.bool("destroyResourcesOnDeletion"),
        timeout=f.duration("timeout", default=DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT,
        suspend=f.bool("suspend"),
        runner_pod=parse_runner_pod(f.obj("runnerPod")),
    )


def _secret_suffix(f: Fields, meta: ObjectMeta) -> str:
    """The explicit suffix, refused when Terraform's backend would refuse it on every run (statenames);
    otherwise a default derived from the name that the backend accepts for every valid name."""
    backend = f.obj("backendConfig")
    explicit = backend.str("secretSuffix") if backend else None
    if not explicit:
        workspace = f.str("workspace", default=DEFAULT_WORKSPACE) or DEFAULT_WORKSPACE
        return default_secret_suffix(meta.name, workspace)
    assert backend is not None
    why = explicit_suffix_problem(explicit)
    if why:
        raise SpecError(backend.field("secretSuffix"), f"invalid secret suffix {explicit!r}: {why}")
    return explicit


def _custom_backend(f: Fields) -> str:
    """`backendConfig.customConfiguration`, stripped; its HCL is checked where HCL is parsed
    (terraform/workspace.py `parse_custom_backend`, Stalled `BackendConfigInvalid`). The outputs Secret is
    written from the kubernetes backend's state Secret, so the two are refused together for now."""
    backend = f.obj("backendConfig")
    text = (backend.str("customConfiguration") or "").strip() if backend else ""
    if text and f.obj("writeOutputsToSecret") is not None:
        assert backend is not None
        raise SpecError(backend.field("customConfiguration"), "spec.writeOutputsToSecret is not supported with a "
                        "custom backend yet (outputs are read from the kubernetes backend's state Secret); "
                        "remove one of them")
    return text


def _vars(f: Fields) -> tuple[Var, ...]:
    out = []
    for item in f.objects("vars"):
        name = item.req_str("name", pattern=TF_IDENTIFIER)
        if item.exactly_one("value", "sealedValue") == "value":
            out.append(Var(name, item.data["value"]))
        else:
            out.append(Var(name, sealed_value=item.req_str("sealedValue", non_empty=True)))
    unique_names(out, f.field("vars"))
    return tuple(out)


def _env(f: Fields) -> tuple[EnvVar, ...]:
    out = []
    for item in f.objects("env"):
        name = item.req_str("name", pattern=ENV_NAME)
        if item.exactly_one("value", "valueFrom") == "value":
            out.append(EnvVar(name, item.req_str("value")))
            continue
        source = item.obj("valueFrom", required=True)
        assert source is not None
        which = source.exactly_one("secretKeyRef", "configMapKeyRef")
        ref = source.obj(which, required=True)
        assert ref is not None
        kind = "Secret" if which == "secretKeyRef" else "ConfigMap"
        out.append(EnvVar(name, value_from=KeyRef(kind, ref.req_str("name", non_empty=True),
                                                  ref.req_str("key", non_empty=True), ref.bool("optional"))))
    unique_names(out, f.field("env"))
    return tuple(out)


def _outputs(f: Fields) -> OutputsSecret | None:
    w = f.obj("writeOutputsToSecret")
    if w is None:
        return None
    name = w.name("name")
    assert name is not None
    outputs = tuple(w.strings("outputs")) if w.has("outputs") else None
    for i, out in enumerate(outputs or ()):
        if not TF_IDENTIFIER.match(out):
            raise SpecError(f"{w.field('outputs')}[{i}]", f"invalid output name {out!r}")
    return OutputsSecret(name, outputs)


def _depends_on(f: Fields, meta: ObjectMeta) -> tuple[ObjectRef, ...]:
    out = []
    for item in f.objects("dependsOn"):
        ref = ObjectRef(TERRAFORM_KIND, item.name("name") or "", item.name("namespace", required=False, label=True)
                        or meta.namespace)
        if (ref.namespace, ref.name) == (meta.namespace, meta.name):
            raise SpecError(item.path, "a Terraform cannot depend on itself")
        out.append(ref)
    return tuple(out)


def _drift(f: Fields, interval: float) -> DriftDetection:
    d = f.obj("driftDetection")
    if d is None:
        return DriftDetection(interval)
    email = d.obj("email")
    to: tuple[str, ...] = ()
    if email is not None:
        to = tuple(email.strings("to"))
        if not to:
            raise SpecError(email.field("to"), "Required value: at least one recipient")
        for i, addr in enumerate(to):
            if not EMAIL.match(addr):
                raise SpecError(f"{email.field('to')}[{i}]", f"invalid e-mail address {addr!r}")
    return DriftDetection(d.duration("interval") or interval, d.bool("disabled"), to)
