"""Typed view of a Terraform object (design.md §3) with the rules the CRD schema cannot express:
one value per variable (`value` XOR `sealedValue`), one source per env var (`value` XOR `valueFrom`),
unique names, a module path that stays inside the artifact, resolved defaults (secretSuffix = the name, or
a variant of it that Terraform accepts: api.statenames; retryInterval = interval, drift interval =
interval, dependency namespace = own namespace)."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.constants import (
    ANNOTATION_APPROVE_PLAN,
    ANNOTATION_FORCE_UNLOCK,
    ANNOTATION_REPLACE,
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
from tfcontroller.api.healthchecks import HealthCheck, parse_health_checks
from tfcontroller.api.meta import ObjectMeta
from tfcontroller.api.refs import (
    KeyRef,
    ObjectRef,
    ValuesFrom,
    clean_path,
    parse_source_ref,
    parse_values_from,
    unstorable_path,
)
from tfcontroller.api.run_files import CliConfigRef, FileMapping, parse_cli_config_ref, parse_file_mappings
from tfcontroller.api.runner_pod import RunnerPodSpec, parse_runner_pod
from tfcontroller.api.statenames import default_secret_suffix, explicit_suffix_problem
from tfcontroller.api.terraform_status import PendingPlan, TerraformStatus
from tfcontroller.api.tfaddress import replace_problem, split_request, target_problem

DEFAULT_TIMEOUT = 20 * 60.0
DEFAULT_WORKSPACE = "default"
TF_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")  # a Secret or ConfigMap data key
QUALIFIED_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                           r"[A-Za-z0-9]([-._A-Za-z0-9]*[A-Za-z0-9])?$")  # a label or annotation key
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-._A-Za-z0-9]*[A-Za-z0-9])?)?$")
RESERVED_PREFIX = "tfcontroller.io"


@dataclass(frozen=True)
class Var:
    """An input variable: `value` is any JSON (None is a valid value), unless `sealed_value` or
    `value_from` (one key of a Secret or ConfigMap, issue 20) is set. Every form enters the inputs digest
    through the resolved value (keyed: a Secret's value never shows in it), as `varsFrom` does."""

    name: str
    value: Any = None
    sealed_value: str | None = None
    value_from: KeyRef | None = None

    @property
    def sealed(self) -> bool:
        return self.sealed_value is not None

    @property
    def literal(self) -> bool:
        """The value is written in the spec (neither sealed nor read from another object)."""
        return self.sealed_value is None and self.value_from is None


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None = None
    value_from: KeyRef | None = None


@dataclass(frozen=True)
class OutputsSecret:
    """Where outputs go. `outputs` entries are `name` or `name:key` (renamed in the Secret, issue 20);
    `keys` maps each listed output to its key. Labels and annotations are the user's, beside ours.
    None of it enters the inputs digest: where outputs are written changes no plan (a spec change
    re-writes the Secret through the OutputsWritten generation rule instead)."""

    name: str
    outputs: tuple[str, ...] | None = None  # None: every output, each under its own name
    keys: tuple[tuple[str, str], ...] = ()  # (output, Secret key) in spec order; empty when outputs is None
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()

    def key_of(self, output: str) -> str:
        """The Secret key an output is written under (its own name unless renamed)."""
        return dict(self.keys).get(output, output)


@dataclass(frozen=True)
class DriftDetection:
    interval: float
    disabled: bool = False
    email_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanOptions:
    """What a plan is limited to or forced to do (issue 20): `-target`s, one-shot `-replace`s and
    `-parallelism` (0: Terraform's default). One value for both runner modes: the controller passes it to
    its runner, the run request carries it to `tfcontroller runner run` (api/run_protocol.py)."""

    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    parallelism: int = 0


@dataclass(frozen=True)
class Remediation:
    """`spec.remediation`: `retries` is how many times a failed apply is retried before the object stops
    (Stalled RetriesExhausted) until its spec (generation) or its inputs digest change, or a reconcile is
    requested; None retries forever."""

    retries: int | None = None


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
    # artifact-relative paths of `.tfvars`/`.tfvars.json` files (spec.tfVarsFiles, relative to `path` in
    # the spec), loaded in order before vars/varsFrom (issue 20); path and content enter the inputs digest
    # (they set variables, and may lie outside the module's directories)
    tf_vars_files: tuple[str, ...] = ()
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
    # issue 20: probed after an apply and on every interval; Ready only when all pass. Not in the inputs
    # digest: a check changes no plan (it reads the outputs of what was applied).
    health_checks: tuple[HealthCheck, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    suspend: bool = False
    runner_pod: RunnerPodSpec = field(default_factory=RunnerPodSpec)  # pod mode: the runner Pod (issue 15)
    # private modules, registries and providers (issue 20, api/run_files.py): read by the runner
    cli_config_secret_ref: CliConfigRef | None = None
    file_mappings: tuple[FileMapping, ...] = ()
    # issue 20, running: how plans are made and applied (docs/running.md)
    parallelism: int = 0  # -parallelism of plan and apply; 0: Terraform's default (10)
    plan_only: bool = False  # plan and report, never apply
    remediation: Remediation = field(default_factory=lambda: Remediation())
    replace: tuple[str, ...] = ()  # -replace, one-shot per distinct list (status.lastHandledReplace)
    targets: tuple[str, ...] = ()  # -target, on every plan

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

    @property
    def replace_requested(self) -> tuple[str, ...]:
        """The addresses of the one-shot `tfcontroller.io/replace` annotation; SpecError when one does not
        parse (the annotation is input like the spec: a bad one stalls, naming it)."""
        addresses = annotation_addresses(self.meta.annotations.get(ANNOTATION_REPLACE, ""))
        _destroy_replaces_nothing(self.spec.destroy, addresses, f"metadata.annotations[{ANNOTATION_REPLACE}]")
        return addresses


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
    spec = TerraformSpec(
        source_ref=parse_source_ref(f, meta.namespace),
        interval=interval,
        path=clean_path(f),
        retry_interval=f.duration("retryInterval") or interval,
        approve_plan=approve,
        workspace=f.str("workspace", default=DEFAULT_WORKSPACE, pattern=DNS_LABEL, max_len=63) or DEFAULT_WORKSPACE,
        vars=_vars(f),
        vars_from=tuple(parse_values_from(f, "varsFrom", with_keys=True)),
        tf_vars_files=tf_vars_files(f, clean_path(f)),
        env=_env(f),
        env_from=tuple(parse_values_from(f, "envFrom")),
        secret_suffix=suffix,
        custom_backend=_custom_backend(f),
        write_outputs_to_secret=_outputs(f),
        depends_on=_depends_on(f, meta),
        drift_detection=_drift(f, interval),
        destroy=f.bool("destroy"),
        destroy_resources_on_deletion=f.bool("destroyResourcesOnDeletion"),
        health_checks=parse_health_checks(f),
        timeout=f.duration("timeout", default=DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT,
        suspend=f.bool("suspend"),
        runner_pod=parse_runner_pod(f.obj("runnerPod")),
        cli_config_secret_ref=parse_cli_config_ref(f),
        file_mappings=parse_file_mappings(f),
        parallelism=_int(f, "parallelism", 1, MAX_PARALLELISM) or 0,
        plan_only=f.bool("planOnly"),
        remediation=_remediation(f),
        replace=_addresses(f, "replace", replace_problem),
        targets=_addresses(f, "targets", target_problem),
    )
    _custom_backend_outputs(spec)
    _plan_only_never_destroys(spec)
    _destroy_replaces_nothing(spec.destroy, spec.replace, "spec.replace")
    return spec


def _destroy_replaces_nothing(destroy: bool, replace: tuple[str, ...], where: str) -> None:
    """Terraform allows `-replace` only in normal planning mode: a destroy plan with replacements fails
    (`Unsupported plan mode`) on every attempt. Found by the fuzz (issue 21): `destroy: true` beside
    `replace` was TerraformFailed, re-planned every backoff. A destroy plan destroys what it would replace,
    so the pair is refused naming what to remove (Stalled, SpecValidationFailed), as spec.replace in the
    spec and as the `tfcontroller.io/replace` annotation (`Terraform.replace_requested`). A deletion's
    destroy takes no replacements at all (controllers/terraform/steps.plan_options). The CRD carries the
    spec rule as CEL."""
    if destroy and replace:
        raise SpecError(where, "cannot be used with spec.destroy: true (a destroy plan replaces nothing: Terraform "
                               "allows -replace only in normal planning mode); remove it, or set destroy false")


def _plan_only_never_destroys(spec: TerraformSpec) -> None:
    """`planOnly` promises that nothing is ever applied (a stack managed elsewhere, watched for drift);
    `destroyResourcesOnDeletion` would destroy that stack when the watching object is deleted — the most
    destructive apply there is. The pair is refused (Stalled, SpecValidationFailed) instead of letting one field
    silently break the other's promise. A deleted object whose spec does not parse loses its finalizer
    without any run (reconciler), so such an object created before this rule is never destroyed either.
    The CRD carries the same rule as CEL (x-kubernetes-validations on spec) for API servers that evaluate it."""
    if spec.plan_only and spec.destroy_resources_on_deletion:
        raise SpecError("spec.destroyResourcesOnDeletion",
                        "cannot be true with spec.planOnly: true (a plan-only stack is never applied, and "
                        "destroying it on deletion is an apply): remove destroyResourcesOnDeletion (or set it "
                        "false) to keep watching, or set planOnly false if this object should own the stack")


def _custom_backend_outputs(spec: TerraformSpec) -> None:
    """A custom backend keeps the state out of our reach, and the controller reads outputs from the
    kubernetes backend's state Secret: everything that needs output values is refused with one (as
    `_custom_backend` refuses writeOutputsToSecret), here health checks templated from outputs. A literal
    check needs no output and stays allowed."""
    if not spec.custom_backend:
        return
    templated = next((hc for hc in spec.health_checks if hc.outputs), None)
    if templated is not None:
        raise SpecError(templated.field, "a health check templated from outputs is not supported with "
                        "backendConfig.customConfiguration yet (outputs are read from the kubernetes "
                        "backend's state Secret): write the address or URL literally, or use the default backend")


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
        which = item.exactly_one("value", "sealedValue", "valueFrom")
        if which == "value":
            out.append(Var(name, item.data["value"]))
        elif which == "valueFrom":
            out.append(Var(name, value_from=_key_ref(item)))
        else:
            out.append(Var(name, sealed_value=item.req_str("sealedValue", non_empty=True)))
    unique_names(out, f.field("vars"))
    return tuple(out)


def _key_ref(item: Fields) -> KeyRef:
    """`valueFrom` of a var or env entry: exactly one of `secretKeyRef` / `configMapKeyRef`."""
    source = item.obj("valueFrom", required=True)
    assert source is not None
    which = source.exactly_one("secretKeyRef", "configMapKeyRef")
    ref = source.obj(which, required=True)
    assert ref is not None
    kind = "Secret" if which == "secretKeyRef" else "ConfigMap"
    return KeyRef(kind, ref.name("name") or "", ref.req_str("key", non_empty=True, pattern=SECRET_KEY),
                  ref.bool("optional"))


def _env(f: Fields) -> tuple[EnvVar, ...]:
    out = []
    for item in f.objects("env"):
        name = item.req_str("name", pattern=ENV_NAME)
        if item.exactly_one("value", "valueFrom") == "value":
            out.append(EnvVar(name, item.req_str("value")))
            continue
        out.append(EnvVar(name, value_from=_key_ref(item)))
    unique_names(out, f.field("env"))
    return tuple(out)


TFVARS_SUFFIXES = (".tfvars", ".tfvars.json")


def tf_vars_files(f: Fields, module_path: str) -> tuple[str, ...]:
    """`spec.tfVarsFiles`: each a file relative to `path` that stays inside the artifact and is a
    `.tfvars` or `.tfvars.json` file (Terraform reads nothing else as variable definitions), listed once.
    Returned artifact-relative (the one form the digest and the run use)."""
    out: list[str] = []
    for i, raw in enumerate(f.strings("tfVarsFiles")):
        where = f"{f.field('tfVarsFiles')}[{i}]"
        if raw.startswith("/") or "\\" in raw or "\0" in raw:
            raise SpecError(where, f"must be a path relative to spec.path, not {raw!r}")
        why = unstorable_path(raw)
        if why:
            raise SpecError(where, f"names no file of the artifact: {raw[:40]!r} {why}")
        if not raw.endswith(TFVARS_SUFFIXES) or posixpath.basename(raw) in TFVARS_SUFFIXES:
            raise SpecError(where, f"{raw!r} is not a variable definitions file: name a .tfvars or .tfvars.json file")
        joined = posixpath.normpath(posixpath.join(module_path, raw))
        if joined == ".." or joined.startswith("../"):
            raise SpecError(where, f"{raw!r} leaves the artifact: name a file inside the source")
        if joined in out:
            raise SpecError(where, f"{raw!r} is listed twice")
        out.append(joined)
    return tuple(out)


def tf_vars_json_problem(data: bytes) -> str | None:
    """Why a `.tfvars.json` file's content can never load (None: Terraform may take it): not UTF-8, not
    JSON, or not an object at the top. Python's parser is more lenient than Terraform's (it takes NaN and
    duplicate keys), so what it refuses Terraform refuses too; what slips through fails the run, which
    stalls (VariablesInvalid). Only the position is named, never the content: a file may hold secrets.
    Found by the fuzz (issue 21): such a file failed every plan with TerraformFailed."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"is not UTF-8 (byte {exc.start})"
    except json.JSONDecodeError as exc:
        return f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if not isinstance(doc, dict):
        return f"must hold a JSON object (variable name: value), not a {type(doc).__name__}"
    return None


def tf_vars_file_shown(path: str, module_path: str) -> str:
    """One of spec.tfVarsFiles as a message names it: as the user wrote it, relative to spec.path (normalised),
    followed by the artifact path the controller and the run read when the two differ — a message that says
    "relative to spec.path" must not print only the artifact path (`infra/app/x.tfvars` for `x.tfvars`)."""
    rel = posixpath.relpath(path, module_path or ".")
    return repr(rel) if rel == path else f"{rel!r} (artifact path {path!r})"


def _outputs(f: Fields) -> OutputsSecret | None:
    w = f.obj("writeOutputsToSecret")
    if w is None:
        return None
    name = w.name("name")
    assert name is not None
    outputs, keys = _output_keys(w) if w.has("outputs") else (None, ())
    return OutputsSecret(name, outputs, keys, _string_map(w, "labels", LABEL_VALUE),
                         _string_map(w, "annotations", None))


def _output_keys(w: Fields) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """`outputs` entries `name` or `name:key`: each output once, each Secret key once (two outputs
    under one key would overwrite each other)."""
    names: list[str] = []
    keys: list[tuple[str, str]] = []
    for i, entry in enumerate(w.strings("outputs")):
        where = f"{w.field('outputs')}[{i}]"
        out, _, key = entry.partition(":")
        key = key if ":" in entry else out
        if not TF_IDENTIFIER.match(out):
            raise SpecError(where, f"invalid output name {out!r}: write `output` or `output:secret_key`")
        if not SECRET_KEY.match(key) or len(key) > 253:
            raise SpecError(where, f"invalid Secret key {key!r}: use letters, digits, '-', '_' and '.'")
        if out in names:
            raise SpecError(where, f"output {out!r} is listed twice")
        if key in (k for _, k in keys):
            raise SpecError(where, f"Secret key {key!r} is used twice")
        names.append(out)
        keys.append((out, key))
    return tuple(names), tuple(keys)


def renamed_outputs(write_outputs_to_secret: Any) -> dict[str, str]:
    """Output name → Secret key for the renamed entries (`name:key`) of a raw `writeOutputsToSecret`,
    leniently (readers of another object's spec: the CLI, the notification scrubber); an output not
    in the result is written under its own name."""
    entries = write_outputs_to_secret.get("outputs") if isinstance(write_outputs_to_secret, Mapping) else None
    out: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, str) and ":" in entry:
            name, _, key = entry.partition(":")
            out[name] = key
    return out


def _string_map(w: Fields, key: str, value_pattern: re.Pattern[str] | None) -> tuple[tuple[str, str], ...]:
    """Labels or annotations the user adds to the outputs Secret: Kubernetes' key syntax, our own
    `tfcontroller.io/` keys refused (they say which object owns the Secret)."""
    raw = w.data.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise SpecError(w.field(key), "must be a map of strings")
    out = []
    for k, v in raw.items():
        where = f"{w.field(key)}[{k!r}]"
        if not isinstance(k, str) or not QUALIFIED_KEY.match(k) or len(k.rpartition("/")[2]) > 63:
            raise SpecError(where, "invalid key: use [prefix/]name, name at most 63 characters of [-._a-zA-Z0-9]")
        prefix = k.partition("/")[0] if "/" in k else ""
        if prefix == RESERVED_PREFIX or prefix.endswith("." + RESERVED_PREFIX):
            raise SpecError(where, f"keys under {RESERVED_PREFIX}/ are the controller's: choose another prefix")
        if not isinstance(v, str):
            raise SpecError(where, f"must be a string, not {type(v).__name__}")
        if value_pattern is not None and (len(v) > 63 or not value_pattern.match(v)):
            raise SpecError(where, f"invalid label value {v!r}: at most 63 characters of [-._a-zA-Z0-9], "
                                   "beginning and ending with a letter or digit")
        out.append((k, v))
    return tuple(sorted(out))


MAX_PARALLELISM = 256
MAX_RETRIES = 1000
MAX_ADDRESSES = 100


def _int(f: Fields, key: str, low: int, high: int) -> int | None:
    """An integer field within [low, high] (None when unset); the CRD schema says the same."""
    value = f.data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f.field(key), f"must be an integer, not {value!r}")
    if not low <= value <= high:
        raise SpecError(f.field(key), f"must be between {low} and {high}, not {value}")
    return value


def _remediation(f: Fields) -> Remediation:
    r = f.obj("remediation")
    return Remediation(_int(r, "retries", 0, MAX_RETRIES)) if r is not None else Remediation()


def _addresses(f: Fields, key: str, problem: Callable[[str], str]) -> tuple[str, ...]:
    """`spec.targets` / `spec.replace`: resource addresses (api/tfaddress.py), unique, at most 100."""
    out = tuple(f.strings(key))
    if len(out) > MAX_ADDRESSES:
        raise SpecError(f.field(key), f"at most {MAX_ADDRESSES} addresses, not {len(out)}")
    for i, address in enumerate(out):
        why = problem(address)
        if why:
            raise SpecError(f"{f.field(key)}[{i}]", f"{address!r} {why}")
        if address in out[:i]:
            raise SpecError(f"{f.field(key)}[{i}]", f"duplicate address {address!r}")
    return out


def annotation_addresses(value: str) -> tuple[str, ...]:
    """The addresses of a `tfcontroller.io/replace` annotation value (`<address>[,…][@<token>]`), checked
    as spec.replace's are; the token (tfaddress.split_request) only tells requests apart."""
    out, token = split_request(value)
    where = f"metadata.annotations[{ANNOTATION_REPLACE}]"
    if token and not out:
        raise SpecError(where, f"names no address before the token @{token}; write <address>[,…]@<token>")
    if len(out) > MAX_ADDRESSES:
        raise SpecError(where, f"at most {MAX_ADDRESSES} addresses, not {len(out)}")
    for address in out:
        why = replace_problem(address)
        if why:
            raise SpecError(where, f"{address!r} {why}")
    return tuple(dict.fromkeys(out))


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
