"""The messages between the controller and a runner (`tfcontroller runner run`), issue 15.

One run = one request and one result. The controller decides (design.md §4: what to plan, which plan to
apply); the runner executes: it downloads the artifact and checks its digest, reads `varsFrom`/`envFrom`/
`env.valueFrom` with *its own* identity, runs init, plan + show or apply, and reports. The same messages
serve both runner modes (docs/architecture.md, "Runner pods"): in local mode they are files in the run's
private exchange directory, in pod mode they travel over the controller's run API.

What never appears in a request: the controller's credentials or keys. Values of Secrets are not in it
either, only references that the runner resolves; sealed values arrive already decrypted (the controller
holds the sealing key), in `sealed_variables`, which in pod mode comes from the per-run Secret instead.
What never appears in a result: a value of a Secret or an output (names only); messages and warnings are
scrubbed by the runner before they are written. The one exception is `show`, the plan's own
`terraform show -json` document: it is plan content (it holds what the plan file holds, variables
included), so it travels the way the plan file does and the controller stores it encrypted beside it.

Pure: dataclasses, JSON round trips and validation; `RequestInvalid` names the field that is wrong.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from tfcontroller.api.artifact_bounds import ArtifactBounds
from tfcontroller.api.refs import VALUE_SOURCE_KINDS, KeyRef, ValuesFrom
from tfcontroller.api.run_files import LOCATIONS, CliConfigRef, FileMapping, path_problem
from tfcontroller.api.terraform import EnvVar, PlanOptions
from tfcontroller.api.tfaddress import replace_problem, target_problem

PROTOCOL_VERSION = 1
PLAN = "plan"
APPLY = "apply"
FORCE_UNLOCK = "force-unlock"
OPERATIONS = (PLAN, APPLY, FORCE_UNLOCK)
REQUEST_FILE = "request.json"
RESULT_FILE = "result.json"
PLAN_IN_FILE = "plan.in"  # the plan an apply run applies (local mode: written by the controller)
PLAN_OUT_FILE = "plan.out"  # the plan a plan run made (local mode: read by the controller)
# Local mode, issue 21: the line a controller writes to the stdin of a plan run that awaits its apply
# (`--await-apply`), after putting the apply's request and plan.in in the run's inbox (read-only in the
# sandbox): `apply <sha256 of plan.in> <sha256 of request.json>` (hand_over_line / hand_over_digests)
HAND_OVER_APPLY = "apply"
# `artifact_url` of a pod run whose artifact only the controller has (its cached copy of a GitRepository that
# is gone, for a destroy on deletion): the runner GETs it from the run API, as its own Pod, and checks the digest
ARTIFACT_FROM_RUN_API = "run-api:artifact"

SUCCEEDED = "succeeded"
FAILED = "failed"
# How the controller should treat a failure (api/errors.py): bad input never retried, a wait, a retry.
STALLING, WAITING, TRANSIENT = "stalling", "waiting", "transient"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_RUN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def hand_over_line(plan_sha256: str, request_sha256: str) -> str:
    """The line that hands a held plan run its apply: the digests (hex) of the plan and the request the
    controller wrote into the run's inbox, so that the runner applies exactly those. Pure."""
    return f"{HAND_OVER_APPLY} {plan_sha256} {request_sha256}"


def hand_over_digests(line: str) -> tuple[str, str] | None:
    """The (plan, request) digests of a hand-over line; None for any other line. Pure."""
    words = line.split(" ")
    if len(words) != 3 or words[0] != HAND_OVER_APPLY or not all(_HEX_DIGEST.match(w) for w in words[1:]):
        return None
    return words[1], words[2]


def variable_name_carried(name: str) -> bool:
    """Whether a request can carry a declared variable of this name. Terraform accepts more (`päss`); a
    module that declares such a name is sent without declarations, and the runner parses it itself. Pure."""
    return bool(_VAR_NAME.match(name))


@dataclass(frozen=True)
class VarRef:
    """`spec.vars[].valueFrom`: the variable `name` takes one key of a Secret or ConfigMap (issue 20),
    read by the runner with its own identity, as `varsFrom` is."""

    name: str
    value_from: KeyRef
    index: int = 0  # its place in spec.vars: messages name the field as the controller does


@dataclass(frozen=True)
class DeclaredVariable:
    """A variable the root module declares, as the controller read it from the same artifact (issue 21:
    the runner then needs no HCL parser of its own): its type expression (None: untyped), for decoding a
    value read from a Secret or ConfigMap, and whether it is `sensitive`, for scrubbing its value."""

    type: str | None = None
    sensitive: bool = False


class RequestInvalid(ValueError):
    """A request the runner cannot execute; the message names the field."""


@dataclass(frozen=True)
class RunRequest:
    run_id: str
    operation: str  # PLAN or APPLY
    namespace: str  # the object's namespace: where references are read and state lives
    name: str  # the Terraform object
    artifact_url: str
    artifact_digest: str  # sha256:<hex>; the runner refuses an artifact with another digest
    path: str = ""  # the module's directory inside the artifact
    workspace: str = "default"
    secret_suffix: str = ""  # the state Secret's suffix (backendConfig.secretSuffix, default the name)
    custom_backend: str = ""  # backendConfig.customConfiguration: the backend block used instead of kubernetes
    destroy: bool = False
    plan_id: str = ""  # APPLY: the plan being applied (the controller has checked the approval)
    lock_id: str = ""  # FORCE_UNLOCK: the lock to release (the controller has checked it is held)
    variables: dict[str, Any] = field(default_factory=dict, repr=False)  # plain spec.vars
    sealed_variables: dict[str, str] = field(default_factory=dict, repr=False)  # decrypted by the controller
    vars_from: tuple[ValuesFrom, ...] = ()
    env: tuple[EnvVar, ...] = ()
    env_from: tuple[ValuesFrom, ...] = ()
    var_refs: tuple[VarRef, ...] = ()  # spec.vars[].valueFrom
    tf_vars_files: tuple[str, ...] = ()  # spec.tfVarsFiles, artifact-relative, in order
    timeout_seconds: float | None = None  # spec.timeout: the limit of each Terraform command
    # The controller's init key (terraform/initcache.py): with a cache directory of the object's (local mode
    # mounts one, `--init-cache`), the runner skips init while the directory was initialised for this key
    init_key: str = ""
    # issue 20: references the runner reads with its own identity (api/run_files.py), never their values
    cli_config_ref: CliConfigRef | None = None
    file_mappings: tuple[FileMapping, ...] = ()
    # issue 20: PLAN: -target / -replace / -parallelism (PlanOptions); APPLY: -parallelism
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    parallelism: int = 0
    # issue 21: the root module's variables as the controller read them; None: the runner reads the module
    # itself (a controller that could not parse it, or an older one)
    declared_variables: dict[str, DeclaredVariable] | None = None
    # issue 21: the controller's artifact bounds (--artifact-max-entries/-bytes), so the runner extracts and
    # reads the artifact with the bounds it was packed with; 0: the defaults (api/artifact_bounds.py)
    artifact_max_entries: int = 0
    artifact_max_bytes: int = 0
    version: int = PROTOCOL_VERSION

    @property
    def plan_options(self) -> PlanOptions:
        return PlanOptions(self.targets, self.replace, self.parallelism)

    @property
    def state_suffix(self) -> str:
        """The state Secret's suffix: `backendConfig.secretSuffix`, by default the object's name."""
        return self.secret_suffix or self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RunRequest:
        """Validate and build; raises RequestInvalid naming the first wrong field."""
        if not isinstance(data, dict):
            raise RequestInvalid("request: not a JSON object")
        if data.get("version") != PROTOCOL_VERSION:
            raise RequestInvalid(f"version: {data.get('version')!r}, this runner speaks {PROTOCOL_VERSION}")
        request = cls(
            run_id=_text(data, "run_id", _RUN_ID),
            operation=_choice(data, "operation", OPERATIONS),
            namespace=_text(data, "namespace", _NAME),
            name=_text(data, "name", _NAME),
            artifact_url=_text(data, "artifact_url"),
            artifact_digest=_text(data, "artifact_digest", _DIGEST),
            path=_optional_text(data, "path", ""),
            workspace=_optional_text(data, "workspace", "default"),
            secret_suffix=_optional_text(data, "secret_suffix", ""),
            custom_backend=_optional_text(data, "custom_backend", ""),
            destroy=_bool(data, "destroy"),
            plan_id=_optional_text(data, "plan_id", ""),
            lock_id=_optional_text(data, "lock_id", ""),
            variables=_mapping(data, "variables"),
            sealed_variables={k: str(v) for k, v in _mapping(data, "sealed_variables").items()},
            vars_from=tuple(_values_from(item, f"vars_from[{i}]") for i, item in enumerate(_list(data, "vars_from"))),
            env=tuple(_env_entry(item, f"env[{i}]") for i, item in enumerate(_list(data, "env"))),
            env_from=tuple(_values_from(item, f"env_from[{i}]") for i, item in enumerate(_list(data, "env_from"))),
            var_refs=tuple(_var_ref(item, f"var_refs[{i}]") for i, item in enumerate(_list(data, "var_refs"))),
            tf_vars_files=tuple(_path(item, f"tf_vars_files[{i}]")
                                for i, item in enumerate(_list(data, "tf_vars_files"))),
            timeout_seconds=_optional_number(data, "timeout_seconds"),
            init_key=_optional_text(data, "init_key", ""),
            cli_config_ref=_cli_config_ref(data.get("cli_config_ref")),
            file_mappings=tuple(_file_mapping(item, f"file_mappings[{i}]")
                                for i, item in enumerate(_list(data, "file_mappings"))),
            targets=_addresses(data, "targets", target_problem),
            replace=_addresses(data, "replace", replace_problem),
            parallelism=_count(data, "parallelism"),
            declared_variables=_declared_variables(data.get("declared_variables")),
            artifact_max_entries=_count(data, "artifact_max_entries"),
            artifact_max_bytes=_count(data, "artifact_max_bytes"),
        )
        if request.operation == APPLY and not request.plan_id:
            raise RequestInvalid("plan_id: an apply names the plan it applies")
        if request.operation == FORCE_UNLOCK and not request.lock_id:
            raise RequestInvalid("lock_id: a force-unlock names the lock it releases")
        try:
            request.artifact_bounds()
        except ValueError as exc:
            raise RequestInvalid(f"artifact_max_entries/artifact_max_bytes: {exc}") from None
        return request

    def artifact_bounds(self) -> ArtifactBounds:
        """The bounds the controller packs and reads artifacts with (the defaults where 0)."""
        default = ArtifactBounds()
        return ArtifactBounds(self.artifact_max_entries or default.max_entries,
                              self.artifact_max_bytes or default.max_bytes)


@dataclass(frozen=True)
class PlanSummary:
    has_changes: bool
    add: int = 0
    change: int = 0
    destroy: int = 0
    digest: str = ""  # sha256:<hex> of the plan file the runner made
    imports: int = 0  # issue 20: counted from the plan's show document (terraform/plan.summarize)
    moves: int = 0


@dataclass(frozen=True)
class LockHolder:
    """The state lock that stopped the run (StateLocked): Terraform's lock info, no secret in it."""

    id: str
    who: str = ""
    created: str = ""


@dataclass(frozen=True)
class RunResult:
    run_id: str
    operation: str
    outcome: str  # SUCCEEDED or FAILED
    reason: str  # CamelCase, past tense: PlanGenerated, NoChanges, ApplySucceeded, VarsGenerationFailed …
    message: str = ""  # scrubbed by the runner
    failure: str = ""  # FAILED: STALLING, WAITING or TRANSIENT
    plan: PlanSummary | None = None
    show: dict[str, Any] | None = field(default=None, repr=False)  # `terraform show -json`: plan content
    outputs: dict[str, bool] = field(default_factory=dict)  # output name -> sensitive (never a value)
    warnings: tuple[str, ...] = ()  # diagnostics' summaries, scrubbed
    lock: LockHolder | None = None
    retry_after_seconds: float | None = None  # WAITING: when to look again
    terraform_killed: bool = False  # Terraform ended by a signal: it may have left its state lock
    version: int = PROTOCOL_VERSION

    @property
    def succeeded(self) -> bool:
        return self.outcome == SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RunResult:
        if not isinstance(data, dict) or data.get("version") != PROTOCOL_VERSION:
            raise RequestInvalid("result: not a version 1 result object")
        plan, lock = data.get("plan"), data.get("lock")
        return cls(
            run_id=_text(data, "run_id", _RUN_ID),
            operation=_choice(data, "operation", OPERATIONS),
            outcome=_choice(data, "outcome", (SUCCEEDED, FAILED)),
            reason=_text(data, "reason"),
            message=_optional_text(data, "message", ""),
            failure=_optional_text(data, "failure", ""),
            plan=PlanSummary(**plan) if isinstance(plan, dict) else None,
            show=data.get("show") if isinstance(data.get("show"), dict) else None,
            outputs={str(k): bool(v) for k, v in _mapping(data, "outputs").items()},
            warnings=tuple(str(w) for w in _list(data, "warnings")),
            lock=LockHolder(**lock) if isinstance(lock, dict) else None,
            retry_after_seconds=_optional_number(data, "retry_after_seconds"),
            terraform_killed=_bool(data, "terraform_killed"),
        )


def plan_option_fields(options: PlanOptions) -> dict[str, Any]:
    """The request fields of a plan's options (the delegating runners replace them in their template)."""
    return {"targets": options.targets, "replace": options.replace, "parallelism": options.parallelism}


# --- field readers (each names the field it refuses) ------------------------------------------------


def _addresses(data: dict[str, Any], key: str, problem: Any) -> tuple[str, ...]:
    out = []
    for i, value in enumerate(_list(data, key)):
        why = problem(value) if isinstance(value, str) else "is not a string"
        if why:
            raise RequestInvalid(f"{key}[{i}]: {value!r} {why}")
        out.append(value)
    return tuple(out)


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RequestInvalid(f"{key}: a non-negative integer is required")
    return value


def _text(data: dict[str, Any], key: str, pattern: re.Pattern[str] | None = None, where: str = "") -> str:
    field_name = f"{where}.{key}" if where else key
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise RequestInvalid(f"{field_name}: a non-empty string is required")
    if pattern is not None and not pattern.match(value):
        raise RequestInvalid(f"{field_name}: {value!r} does not match {pattern.pattern}")
    return value


def _optional_text(data: dict[str, Any], key: str, default: str) -> str:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise RequestInvalid(f"{key}: a string is required")
    return value


def _choice(data: dict[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = data.get(key)
    if value not in choices:
        raise RequestInvalid(f"{key}: {value!r} is not one of {', '.join(choices)}")
    return str(value)


def _bool(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise RequestInvalid(f"{key}: true or false is required")
    return value


def _optional_number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise RequestInvalid(f"{key}: a positive number of seconds is required")
    return float(value)


def _mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestInvalid(f"{key}: an object is required")
    return dict(value)


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise RequestInvalid(f"{key}: a list is required")
    return list(value)


def _kind(data: dict[str, Any], where: str) -> str:
    kind = data.get("kind")
    if kind not in VALUE_SOURCE_KINDS:
        raise RequestInvalid(f"{where}.kind: {kind!r} is not Secret or ConfigMap")
    return str(kind)


def _values_from(item: Any, where: str) -> ValuesFrom:
    if not isinstance(item, dict):
        raise RequestInvalid(f"{where}: an object is required")
    keys = item.get("keys")
    if keys is not None and (not isinstance(keys, list | tuple) or not all(isinstance(k, str) for k in keys)):
        raise RequestInvalid(f"{where}.keys: a list of strings is required")
    return ValuesFrom(_kind(item, where), _text(item, "name", _NAME, where), bool(item.get("optional", False)),
                      tuple(keys) if keys is not None else None)


def _env_entry(item: Any, where: str) -> EnvVar:
    if not isinstance(item, dict):
        raise RequestInvalid(f"{where}: an object is required")
    name = item.get("name")
    if not isinstance(name, str) or not _ENV_NAME.match(name):
        raise RequestInvalid(f"{where}.name: {name!r} is not an environment variable name")
    ref = item.get("value_from")
    if ref is None:
        value = item.get("value")
        return EnvVar(name, "" if value is None else str(value))
    return EnvVar(name, None, _key_ref(ref, f"{where}.value_from"))


def _key_ref(ref: Any, where: str) -> KeyRef:
    if not isinstance(ref, dict):
        raise RequestInvalid(f"{where}: an object is required")
    return KeyRef(_kind(ref, where), _text(ref, "name", _NAME, where), _text(ref, "key", None, where),
                  bool(ref.get("optional", False)))


def _path(item: Any, where: str) -> str:
    """An artifact-relative file path (the workspace checks again that it stays inside the artifact)."""
    if not isinstance(item, str) or not item or item.startswith("/"):
        raise RequestInvalid(f"{where}: a relative path is required")
    return item


def _var_ref(item: Any, where: str) -> VarRef:
    if not isinstance(item, dict):
        raise RequestInvalid(f"{where}: an object is required")
    index = item.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise RequestInvalid(f"{where}.index: a non-negative integer is required")
    return VarRef(_text(item, "name", _VAR_NAME, where), _key_ref(item.get("value_from"), f"{where}.value_from"),
                  index)


def _declared_variables(value: Any) -> dict[str, DeclaredVariable] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RequestInvalid("declared_variables: an object is required")
    declared = {}
    for name, item in value.items():
        where = f"declared_variables.{name}"
        if not isinstance(name, str) or not _VAR_NAME.match(name) or not isinstance(item, dict):
            raise RequestInvalid(f"{where}: a variable name and an object are required")
        kind = item.get("type")
        if kind is not None and not isinstance(kind, str):
            raise RequestInvalid(f"{where}.type: a string or null is required")
        sensitive = item.get("sensitive", False)
        if not isinstance(sensitive, bool):
            raise RequestInvalid(f"{where}.sensitive: true or false is required")
        declared[name] = DeclaredVariable(kind, sensitive)
    return declared


def _cli_config_ref(item: Any) -> CliConfigRef | None:
    if item is None:
        return None
    if not isinstance(item, dict):
        raise RequestInvalid("cli_config_ref: an object is required")
    return CliConfigRef(_text(item, "name", _NAME, "cli_config_ref"), _text(item, "key", where="cli_config_ref"))


def _file_mapping(item: Any, where: str) -> FileMapping:
    """The same path rules as the spec's: a request is checked again by the runner that writes the files."""
    if not isinstance(item, dict):
        raise RequestInvalid(f"{where}: an object is required")
    location = _text(item, "location", where=where)
    if location not in LOCATIONS:
        raise RequestInvalid(f"{where}.location: one of {', '.join(LOCATIONS)}")
    path = _text(item, "path", where=where)
    problem = path_problem(location, path)
    if problem:
        raise RequestInvalid(f"{where}.path: {problem}")
    return FileMapping(location, path, _text(item, "secret_name", _NAME, where), _text(item, "key", where=where))
