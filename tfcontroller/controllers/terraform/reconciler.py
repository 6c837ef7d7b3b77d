"""The Terraform reconciler: source → dependencies → inputs → plan → approval → apply → outputs.

`reconcile(key)` handles a missing object, a spec that does not parse, deletion (finalizer, optional
destroy, dependents), the finalizer and `suspend` first; then it runs ordered steps sharing a
`RunContext`, and one `finally` summarises Ready/Reconciling/Stalled and patches the status (design.md,
conventions.md). Status is also checkpointed before every Terraform command that takes the state lock
(progress message, the pending plan, and a *run record* telling a later controller that a run was under
way: see terraform_locks).

Rules of design.md §4 live in terraform_policy (pure): re-plan only when the inputs digest changes (1),
apply only the exact approved plan (2), drift plans are ordinary approvable plans (3), dead runs' locks
are released (4), a lost state stalls instead of re-creating everything (5), no secret value reaches
status, events or logs (7): values from Secrets and sealed values are scrubbed from Terraform's errors
and only output *names* are reported. A state belongs to one object (8): terraform_ownership checks (and
records) the owner of the state Secret before the first Terraform command of a reconcile.

A no-op reconcile (nothing changed) reads the GitRepository, the cached artifact's module digest and the
referenced Secrets/ConfigMaps, and starts no Terraform process.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import socket
import tempfile
import threading
import urllib.error
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tfcontroller.api import conditions as c
from tfcontroller.api.commands import approve_command, force_unlock_command
from tfcontroller.api.constants import (
    ANNOTATION_APPROVE_PLAN,
    ANNOTATION_FORCE_UNLOCK,
    FINALIZER,
    TERRAFORM_KIND,
)
from tfcontroller.api.errors import ReconcileError, SpecError, StallingError, TransientError, WaitingError
from tfcontroller.api.terraform import Terraform
from tfcontroller.controllers import terraform_policy as policy
from tfcontroller.controllers.terraform_artifacts import ArtifactCache
from tfcontroller.controllers.terraform_drift_hooks import DriftHooks  # drift (engineer M)
from tfcontroller.controllers.terraform_drift_mail import DriftNotifier  # drift (engineer M)
from tfcontroller.controllers.terraform_initcache import LOCK_FILE, InitCache, init_key
from tfcontroller.controllers.terraform_inputs import ResolvedInputs, resolve_inputs
from tfcontroller.controllers.terraform_locks import (
    APPLY_INTERRUPTED,
    RUN_ENV,
    Recovery,
    RecoveryContext,
    RunRecord,
    is_dead_run_lock,
    records_from_status,
    recover_runs,
    release_lock,
    report_recovery,
    write_records,
)
from tfcontroller.controllers.terraform_outputs import write_outputs
from tfcontroller.controllers.terraform_ownership import destroy_refusal, ensure_state_owner
from tfcontroller.crypto.errors import DecryptionError
from tfcontroller.crypto.keys import ControllerKeys, ensure_keys
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, NotFound
from tfcontroller.kube.events import EventRecorder
from tfcontroller.kube.resources import GITREPOSITORIES, SECRETS, TERRAFORMS, object_key, split_key
from tfcontroller.runtime.manager import Controller, Manager, Watch
from tfcontroller.runtime.reconciler import (
    CONTINUE,
    Outcome,
    StepResult,
    error_reason_message,
    mark_reconciling,
    ready,
    ready_transition,
    run_steps,
    summarize_object,
)
from tfcontroller.runtime.requested import mark_handled
from tfcontroller.runtime.result import Result
from tfcontroller.runtime.status import patch_status_with_retry
from tfcontroller.source.artifact import ModuleInputs, module_inputs
from tfcontroller.source.errors import PathNotFoundError
from tfcontroller.source.refs import parse_revision
from tfcontroller.source.store import ArtifactDigestMismatchError
from tfcontroller.terraform.archive import extract_artifact, read_module_files, resolve_subpath
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.errors import (
    InitRequiredError,
    StalePlanError,
    StateLockedError,
    TimeoutExpiredError,
)
from tfcontroller.terraform.inspect import (
    ModuleInfo,
    ModuleParseError,
    check_module,
    inspect_files,
    inspect_module,
)
from tfcontroller.terraform.plan import make_plan_id, plan_digest
from tfcontroller.terraform.plan import summarize as summarize_plan
from tfcontroller.terraform.plan_store import PlanNotFoundError, delete_plan, load_plan, save_plan
from tfcontroller.terraform.processes import boot_id, run_alive
from tfcontroller.terraform.runner import TerraformRunner
from tfcontroller.terraform.state import delete_state, read_lock, read_state
from tfcontroller.terraform.workspace import KubernetesBackend, Workspace

log = logging.getLogger(__name__)
T = TypeVar("T")

# Condition reasons of this controller (the Event reason equals them).
SOURCE_NOT_READY = "SourceNotReady"
PLAN_PENDING = "PlanPending"
APPROVAL_REFUSED = "ApprovalRefused"
NO_CHANGES = "NoChanges"
APPLY_SUCCEEDED = "ApplySucceeded"
PLAN_GENERATED = "PlanGenerated"
STATE_MISSING = "StateMissing"
STATE_LOCKED = "StateLocked"
STATE_UNLOCKED = "StateLockReleased"
OUTPUTS_WRITTEN_REASON = "OutputsWritten"
DELETION_BLOCKED = "DeletionBlockedByDependents"
DESTROY_SUCCEEDED = "DestroySucceeded"
DESTROY_SKIPPED = "DestroySkipped"
PLAN_STALE = "PlanStale"

INDEX_SOURCE = "sourceRef"
INDEX_DEPENDS_ON = "dependsOn"


class PlanPendingError(WaitingError):
    """Not a failure: a plan waits for the user. Ready=False, but neither Reconciling nor Stalled."""


@dataclass
class TerraformControllerOptions:
    work_dir: Path
    terraform: TerraformConfig
    kubeconfig: str | None = None  # the kubernetes backend's config_path; None: in-cluster
    controller_namespace: str = "default"  # where the controller's keys live
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    leader_elected: bool = False
    lock_retry: float = 30.0
    concurrency: int | None = None
    plan_chunk_bytes: int | None = None  # None: PLAN_CHUNK_BYTES
    reuse_init: bool = True  # skip `terraform init` when the object's data dir is still valid
    drift_notifier: DriftNotifier | None = None  # drift e-mail (terraform_drift_mail); None: no mail


@dataclass
class RunContext:
    key: str
    tf: Terraform
    baseline: dict[str, Any]  # what the server last returned: incremental status patches start here
    previous_runs: list[RunRecord]  # runs of ours that did not finish and may hold the lock (terraform_locks)
    deleting: bool = False
    revision: str = ""
    artifact_path: Path | None = None
    artifact_digest: str = ""
    held_artifact: str = ""  # counted as in use in the artifact cache until the reconcile ends
    module_digest: str = ""
    module_info: ModuleInfo | None = None
    inputs: ResolvedInputs | None = None
    digest: str = ""
    workspace: Workspace | None = None
    runner: TerraformRunner | None = None
    plan_local: bool = False  # the workspace's plan file is the pending plan
    applied: bool = False
    planned_no_changes: bool = False
    replanned_after_stale: bool = False
    init_key: str = ""  # set when the object's initialised data dir is reused (terraform_initcache)
    init_skipped: bool = False
    init_reusable: bool = False  # the prepared run directory can skip init (terraform_initcache)
    saved_plan_secrets: int | None = None  # Secrets save_plan wrote for the pending plan in this run
    collect_artifacts: bool = False  # a new artifact was downloaded: collect unused ones after the patch
    applied_output_names: list[str] | None = None  # from the apply's JSON stream (values never kept)
    run: RunRecord | None = None  # this reconcile's run: one marker for all its Terraform processes
    own_lock_released: bool = False
    events: list[tuple[str, str, str]] = field(default_factory=list)
    success: bool = False

    @property
    def name(self) -> str:
        return self.tf.meta.name

    @property
    def namespace(self) -> str:
        return self.tf.meta.namespace


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.setdefault("status", {})


def _parse_rfc3339(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def source_index(obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec") or {}
    ref = spec.get("sourceRef") or {}
    ns = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace") or "default"
    return [f"{ns}/{ref['name']}"] if ref.get("name") else []


def depends_on_index(obj: dict[str, Any]) -> list[str]:
    own_ns = (obj.get("metadata") or {}).get("namespace") or "default"
    return [f"{d.get('namespace') or own_ns}/{d['name']}" for d in (obj.get("spec") or {}).get("dependsOn") or []
            if isinstance(d, dict) and d.get("name")]


class TerraformReconciler:
    def __init__(self, kube: KubeClient, options: TerraformControllerOptions,
                 recorder: EventRecorder | None = None) -> None:
        self.kube = kube
        self.options = options
        self.recorder = recorder or EventRecorder(kube, instance=options.instance_id)
        self._lock = threading.Lock()
        self._keys: ControllerKeys | None = None
        self._tf_version: str | None = None
        self._modules: dict[tuple[str, str], ModuleInfo | None] = {}
        self._module_inputs: dict[tuple[Any, ...], ModuleInputs] = {}
        self._in_flight: set[str] = set()
        self._runners: dict[str, TerraformRunner] = {}
        self.stopping = threading.Event()
        self.drift = DriftHooks(options.drift_notifier)  # drift detection and e-mail (terraform_drift_hooks)
        for sub in ("artifacts", "runs"):
            (options.work_dir / sub).mkdir(parents=True, exist_ok=True)
        self.artifacts = ArtifactCache(options.work_dir / "artifacts")
        self.init_cache = InitCache(options.work_dir / "init")

    # ---- wiring ------------------------------------------------------------------------------
    def controller(self) -> Controller:
        return Controller(
            name="terraform",
            resource=TERRAFORMS,
            reconcile=self.reconcile,
            concurrency=self.options.concurrency,
            watches=[Watch(GITREPOSITORIES, index=INDEX_SOURCE), Watch(TERRAFORMS, index=INDEX_DEPENDS_ON)],
            indexes={INDEX_SOURCE: source_index, INDEX_DEPENDS_ON: depends_on_index},
        )

    def register(self, manager: Manager) -> None:
        """Add the controller and cancel running Terraform processes (SIGINT, grace, SIGKILL) when the
        manager stops, so state is saved and the lock released (design.md §4.4)."""
        manager.add_controller(self.controller())

        def cancel_on_stop() -> None:
            manager.stopping.wait()
            self.cancel_all()

        threading.Thread(target=cancel_on_stop, name="terraform-cancel-on-stop", daemon=True).start()

    def cancel_all(self) -> None:
        self.stopping.set()
        with self._lock:
            runners = list(self._runners.values())
        for r in runners:
            r.cancel()

    # ---- shared, cached ----------------------------------------------------------------------
    def keys(self) -> ControllerKeys:
        with self._lock:
            if self._keys is None:
                self._keys = ensure_keys(self.kube, self.options.controller_namespace)
            return self._keys

    def terraform_version(self) -> str:
        with self._lock:
            if self._tf_version is not None:
                return self._tf_version
        with tempfile.TemporaryDirectory(dir=self.options.work_dir) as tmp:
            env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": tmp, "TF_IN_AUTOMATION": "1",
                   "TF_CLI_CONFIG_FILE": str(self.options.terraform.write_cli_config(Path(tmp) / "rc.json"))}
            version = TerraformRunner(Path(tmp), env, self.options.terraform).version().terraform_version
        with self._lock:
            self._tf_version = version
        return version

    def _keyed(self, value: Any) -> str:
        """A digest of secret-bearing data that reveals nothing even for low-entropy values."""
        key = self.keys().digest_key  # stable across key rotation (crypto.keys)
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
        return "hmac-sha256:" + hmac.new(key, canonical, hashlib.sha256).hexdigest()

    # ---- entry point -------------------------------------------------------------------------
    def reconcile(self, key: str) -> Result:
        ns, name = split_key(key)
        obj = self.kube.get_or_none(TERRAFORMS, name, ns)
        if obj is None:
            return Result()
        obj.setdefault("apiVersion", TERRAFORMS.api_version)
        obj.setdefault("kind", TERRAFORM_KIND)
        try:
            tf = Terraform.from_dict(obj)
        except SpecError as exc:
            if (obj.get("metadata") or {}).get("deletionTimestamp"):
                return self._remove_finalizer(obj)
            spec_error = exc
            return self._frame(obj, None, [lambda ctx, o: _raise(spec_error)])[1]
        if tf.meta.deleting:
            return self._reconcile_delete(obj, tf)
        if FINALIZER not in tf.meta.finalizers:
            obj = self.kube.patch(TERRAFORMS, name, {"metadata": {
                "finalizers": [*tf.meta.finalizers, FINALIZER],
                "resourceVersion": tf.meta.resource_version}}, ns)
            tf = Terraform.from_dict(obj)
        if tf.spec.suspend:
            log.info("suspended; nothing done", extra={"obj": key})
            return Result()
        steps = [self.step_recover, self.step_source, self.step_dependencies, self.step_inputs,
                 self.step_force_unlock, self.step_plan, self.step_apply, self.step_outputs]
        return self.drift.requeue(self._frame(obj, tf, steps)[1], obj, tf)  # next drift check / mail retry

    # ---- the frame ---------------------------------------------------------------------------
    def _frame(self, obj: dict[str, Any], tf: Terraform | None, steps: list[Callable[[RunContext, dict[str, Any]], StepResult | None]],
               deleting: bool = False) -> tuple[Outcome, Result]:
        key = object_key(obj)
        before = copy.deepcopy(obj)
        ctx = RunContext(key, tf, before, records_from_status(obj.get("status") or {}),  # type: ignore[arg-type]
                         deleting=deleting)
        outcome = Outcome("transient", TransientError(c.FAILED, "reconcile interrupted"))
        try:
            outcome = run_steps(ctx, obj, steps)
        finally:
            try:
                self._finish(ctx, obj, before, outcome)
            finally:
                with self._lock:
                    self._runners.pop(key, None)
                    if ctx.run is not None:
                        self._in_flight.discard(ctx.run.marker)
                if ctx.collect_artifacts:  # the new artifact is still held: only others can go
                    self._collect_artifacts(key)
                if ctx.held_artifact:
                    self.artifacts.release(ctx.held_artifact)
                if ctx.workspace is not None:
                    ctx.workspace.cleanup(outcome.kind in ("success", "requeue"))
        interval = tf.spec.interval if tf else None
        retry = tf.spec.retry_interval if tf else None
        if isinstance(outcome.error, PlanPendingError):
            return outcome, Result(requeue_after=interval)
        return outcome, outcome.result(interval, retry)

    def _finish(self, ctx: RunContext, obj: dict[str, Any], before: dict[str, Any], outcome: Outcome) -> None:
        status = _status(obj)
        self._finish_runs(ctx, status)
        mark_handled(obj)
        summarize_object(obj, outcome)
        conds = status.setdefault("conditions", [])
        pending = isinstance(outcome.error, PlanPendingError)
        if pending:
            c.remove_condition(conds, c.RECONCILING)
            gen = (obj.get("metadata") or {}).get("generation")
            if gen is not None:
                status["observedGeneration"] = gen
        if outcome.kind in ("transient", "stalled") or (outcome.kind == "waiting" and not pending):
            status["failures"] = int((before.get("status") or {}).get("failures") or 0) + 1
        else:
            status.pop("failures", None)
        self.drift.on_finish(obj, None if ctx.deleting else ctx.tf, ctx.events)  # drift mail, retries
        try:
            self._patch(ctx, obj)
        except NotFound:
            return
        notice = ready_transition((before.get("status") or {}).get("conditions") or [], conds)
        if notice is not None and notice.type == "Warning" and notice.reason != PLAN_PENDING:
            ctx.events.append((notice.type, notice.reason, notice.message))
        for etype, reason, message in ctx.events:
            self.recorder.event(obj, etype, reason, message)
        if outcome.error is not None and outcome.kind != "waiting":
            log.warning("reconcile failed reason=%s: %s", *error_reason_message(outcome.error), extra={"obj": ctx.key})
            if not isinstance(outcome.error, ReconcileError):  # a bug of ours: keep the traceback for debugging
                log.debug("unexpected error in step %s", outcome.step, exc_info=outcome.error, extra={"obj": ctx.key})

    def _finish_runs(self, ctx: RunContext, status: dict[str, Any]) -> None:
        """Drop this reconcile's run record (its processes are gone, and Terraform released its lock on
        exit) unless a command ended by a signal (SIGKILLed after the grace, or by the OOM killer) and its
        lock is not known released: then the next reconcile recovers it. Records of older runs not yet
        recovered stay (terraform_locks)."""
        own: list[RunRecord] = []
        if ctx.run is not None and ctx.runner is not None and ctx.runner.killed and not ctx.own_lock_released:
            own = [ctx.run]
        write_records(status, [*ctx.previous_runs, *own])

    def _patch(self, ctx: RunContext, obj: dict[str, Any]) -> None:
        """Send the status changes since the last patch (a checkpoint or the final summary)."""
        returned = patch_status_with_retry(self.kube, TERRAFORMS, ctx.baseline, obj)
        if returned is not None:
            base = copy.deepcopy(obj)
            base["metadata"]["resourceVersion"] = returned["metadata"]["resourceVersion"]
            ctx.baseline = base

    def _checkpoint(self, ctx: RunContext, obj: dict[str, Any], message: str, operation: str | None = None,
                    meanwhile: Callable[[], object] | None = None, plan: str = "") -> None:
        """Progress and, before a locking command, the run record; sent at once so a crash leaves them.
        `meanwhile` (local preparation that touches neither `obj` nor the cluster, e.g. the run directory)
        runs while the patch is in flight; this returns only when both are done, so the command that
        follows still starts after the checkpoint is stored."""
        mark_reconciling(obj, message)
        if operation is not None:
            if ctx.run is None:  # the first command of this reconcile that may lock: the run starts here
                ctx.run = RunRecord.new(self.options.instance_id, operation)
                with self._lock:
                    self._in_flight.add(ctx.run.marker)
            ctx.run = ctx.run.doing(operation, plan)
            write_records(_status(obj), [*ctx.previous_runs, ctx.run])  # appended: older records stay
        if meanwhile is None:
            self._patch(ctx, obj)
            return
        failed: list[BaseException] = []

        def send() -> None:
            try:
                self._patch(ctx, obj)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the reconciling thread below
                failed.append(exc)

        sender = threading.Thread(target=send, name=f"checkpoint-{ctx.name}", daemon=True)
        sender.start()
        try:
            meanwhile()
        finally:
            sender.join()
        if failed:
            raise failed[0]

    # ---- steps -------------------------------------------------------------------------------
    def step_source(self, ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
        tf = ctx.tf
        ref = tf.spec.source_ref
        repo = self.kube.get_or_none(GITREPOSITORIES, ref.name, ref.namespace)
        artifact = ((repo or {}).get("status") or {}).get("artifact") or {}
        status = _status(obj)
        if not artifact.get("url") or not artifact.get("digest"):
            if ctx.deleting and status.get("lastArtifactDigest"):
                self._hold_artifact(ctx, str(status["lastArtifactDigest"]))
            cached = self.artifacts.cached(status.get("lastArtifactDigest")) if ctx.deleting else None
            if cached is None:
                what = "not found" if repo is None else "has no artifact yet"
                raise WaitingError(SOURCE_NOT_READY, f"GitRepository {ref.key} {what}", tf.spec.retry_interval)
            ctx.artifact_path, ctx.artifact_digest = cached, str(status["lastArtifactDigest"])
            ctx.revision = status.get("lastAttemptedRevision") or ""
            return CONTINUE
        ctx.revision, ctx.artifact_digest = str(artifact.get("revision") or ""), str(artifact["digest"])
        self._hold_artifact(ctx, ctx.artifact_digest)
        ctx.artifact_path = self._fetch_artifact(ctx, artifact, ref.key, tf.spec.retry_interval)
        status["lastAttemptedRevision"] = ctx.revision
        status["lastArtifactDigest"] = ctx.artifact_digest
        return CONTINUE

    def _hold_artifact(self, ctx: RunContext, digest: str) -> None:
        """Count the artifact as in use before looking it up, so a collection cannot remove it."""
        if ctx.held_artifact == digest:
            return
        self.artifacts.hold(digest)
        if ctx.held_artifact:
            self.artifacts.release(ctx.held_artifact)
        ctx.held_artifact = digest

    def _fetch_artifact(self, ctx: RunContext, artifact: dict[str, Any], source: str, retry: float) -> Path:
        try:
            path, downloaded = self.artifacts.fetch(str(artifact["url"]), str(artifact["digest"]))
        except (OSError, ValueError, ArtifactDigestMismatchError, urllib.error.URLError) as exc:
            raise WaitingError(c.ARTIFACT_FAILED, f"cannot fetch the artifact of GitRepository {source}: {exc}",
                               retry) from None
        if downloaded:
            ctx.collect_artifacts = True  # after the final status patch: not on the way to Ready
        return path

    def _collect_artifacts(self, own_key: str) -> None:
        """After a download (the only time the cache grows): drop archives no object needs any more. This
        object's previous archive goes too (its new one is held); a failure only postpones it."""
        try:
            items, _ = self.kube.list_all(TERRAFORMS)
            latest = {str((o.get("status") or {}).get("lastArtifactDigest") or "") for o in items
                      if object_key(o) != own_key}
            self.artifacts.collect(latest)
        except (ApiError, OSError) as exc:
            log.warning("artifact cache collection skipped: %s", exc, extra={"obj": own_key})

    def step_dependencies(self, ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
        for dep in ctx.tf.spec.depends_on:
            other = self.kube.get_or_none(TERRAFORMS, dep.name, dep.namespace)
            why = _dependency_problem(other)
            if why:
                raise WaitingError(c.DEPENDENCY_NOT_READY, f"dependency Terraform {dep.key} {why}",
                                   ctx.tf.spec.retry_interval)
        return CONTINUE

    def _module(self, ctx: RunContext) -> ModuleInfo | None:
        cache_key = (ctx.artifact_digest, ctx.tf.spec.path)
        with self._lock:
            if cache_key in self._modules:
                return self._modules[cache_key]
        assert ctx.artifact_path is not None
        info: ModuleInfo | None
        files = read_module_files(ctx.artifact_path, ctx.tf.spec.path)  # plain files and directories only
        try:
            if files is not None:
                info = inspect_files(files)
            else:  # links, odd names...: the safe extraction judges them (and refuses what escapes)
                with tempfile.TemporaryDirectory(dir=self.options.work_dir) as tmp:
                    src = Path(tmp) / "src"
                    extract_artifact(ctx.artifact_path, src)  # refuses traversal and links leaving the tree
                    info = inspect_module(resolve_subpath(src, ctx.tf.spec.path))
        except ModuleParseError:
            info = None  # python-hcl2 lags the language: let terraform judge the module
        with self._lock:
            if len(self._modules) > 256:
                self._modules.clear()
            self._modules[cache_key] = info
        return info

    def _module_digest(self, ctx: RunContext, inputs: ResolvedInputs) -> ModuleInputs:
        """The module part of the inputs digest (rules §4.1, §4.9): the module, its local modules and the
        files they read, or the whole artifact when a read is not static. It depends on which root
        variables the object sets (their defaults then resolve no path), on the values of those that are
        literal strings in `spec.vars` (public, unless the module declares them sensitive: they resolve
        paths), and on the workspace."""
        tf = ctx.tf
        provided = frozenset(inputs.variables) | {k[len("TF_VAR_"):] for k in inputs.env
                                                  if k.startswith("TF_VAR_")}
        declared = ctx.module_info.variables if ctx.module_info else {}
        literals = {v.name: v.value for v in tf.spec.vars if not v.sealed and isinstance(v.value, str)
                    and v.name in declared and not declared[v.name].sensitive}  # may show in a status message
        known = tuple(sorted((n, value) for n, value in inputs.variables.items()
                             if literals.get(n) == value and f"TF_VAR_{n}" not in inputs.env))
        cache_key = (ctx.artifact_digest, tf.spec.path, provided, known, tf.spec.workspace)
        with self._lock:
            found = self._module_inputs.get(cache_key)
        if found is not None:
            return found
        assert ctx.artifact_path is not None
        try:
            found = module_inputs(ctx.artifact_path, tf.spec.path, provided, dict(known), tf.spec.workspace)
        except PathNotFoundError:
            raise StallingError(c.ARTIFACT_FAILED, f"path {ctx.tf.spec.path!r} not found in revision "
                                                   f"{ctx.revision}") from None
        with self._lock:
            if len(self._module_inputs) > 256:
                self._module_inputs.clear()
            self._module_inputs[cache_key] = found
        return found

    def step_inputs(self, ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
        tf = ctx.tf
        ctx.module_info = self._module(ctx)
        types = {n: v.type for n, v in ctx.module_info.variables.items()} if ctx.module_info else {}
        ctx.inputs = resolve_inputs(self.kube, tf, sealing_key=lambda: self.keys().sealing_key_pem,
                                    variable_types=types, retry_after=tf.spec.retry_interval)
        if ctx.module_info is not None:
            check_module(ctx.module_info, ctx.inputs.variables.keys(), ctx.inputs.env)
        module = self._module_digest(ctx, ctx.inputs)
        ctx.module_digest = module.digest
        self._report_digest_scope(ctx, obj, module)
        ctx.digest = policy.inputs_digest(
            module_digest=ctx.module_digest,
            variables={"keyed": self._keyed(ctx.inputs.variables)},
            env_names_digest=self._keyed(sorted(ctx.inputs.env.items())),
            backend={"kind": "kubernetes", "namespace": ctx.namespace, "secretSuffix": tf.spec.secret_suffix},
            workspace=tf.spec.workspace,
            destroy=tf.spec.destroy or ctx.deleting,
            terraform_version=self.terraform_version(),
        )
        return CONTINUE

    def _report_digest_scope(self, ctx: RunContext, obj: dict[str, Any], module: ModuleInputs) -> None:
        """status.inputsDigestScope says what the digest covers; widening is an Event when it starts."""
        status = _status(obj)
        scope = policy.digest_scope(module.widened)
        if scope != status.get("inputsDigestScope") and scope["scope"] == policy.SCOPE_ARTIFACT:
            ctx.events.append(("Normal", policy.DIGEST_WIDENED, scope["message"]))
        status["inputsDigestScope"] = scope

    def step_force_unlock(self, ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
        wanted = (ctx.tf.force_unlock_id or "").strip()
        status = _status(obj)
        if not wanted or status.get("lastHandledForceUnlock") == wanted:
            return CONTINUE
        self._checkpoint(ctx, obj, f"Releasing state lock {wanted}", operation="force-unlock")
        runner = self._workspace(ctx)
        status["lastHandledForceUnlock"] = wanted
        try:
            runner.force_unlock(wanted)
        except ReconcileError as exc:
            ctx.events.append(("Warning", "ForceUnlockFailed", f"could not release state lock {wanted}: {exc.message}"))
            return CONTINUE
        c.remove_condition(status.setdefault("conditions", []), c.STATE_LOCKED)
        status.pop("lock", None)
        ctx.events.append(("Normal", STATE_UNLOCKED, f"released state lock {wanted} as requested by annotation "
                                                     f"{ANNOTATION_FORCE_UNLOCK}"))
        return CONTINUE

    def step_plan(self, ctx: RunContext, obj: dict[str, Any], force: bool = False) -> StepResult | None:
        tf = ctx.tf
        status = _status(obj)
        replan_value = tf.replan_requested
        replan = bool(replan_value) and status.get("lastHandledReplan") != replan_value
        drift_is_due = self.drift.due(tf, status)  # interval ± jitter since the last check (terraform_drift)
        decision = policy.decide_plan(
            status, ctx.digest, replan_requested=replan or force, drift_due=drift_is_due,
            lock_blocked_last_try=c.is_true(status.get("conditions"), c.STATE_LOCKED),
        )
        decision = self.drift.recheck(decision, tf, status, drift_is_due)  # a pending drift plan is re-checked
        if replan:
            status["lastHandledReplan"] = replan_value
        if not decision.plan:
            if tf.pending_plan or (status.get("plan") or {}).get("pending"):
                return CONTINUE
            ready_cond = c.find(status.get("conditions"), c.READY)
            if ready_cond is not None and ready_cond.status == c.TRUE:
                return ready(ready_cond.reason, ready_cond.message)
            return ready(c.SUCCEEDED, f"Up to date at {status.get('lastAppliedRevision') or ctx.revision}")
        return self._plan(ctx, obj, decision)

    def _plan(self, ctx: RunContext, obj: dict[str, Any], decision: policy.PlanDecision) -> StepResult | None:
        tf = ctx.tf
        status = _status(obj)
        destroy = tf.spec.destroy or ctx.deleting
        self._checkpoint(ctx, obj, f"Planning{' destroy' if destroy else ''} at {ctx.revision} ({decision.reason})",
                         operation="plan", meanwhile=lambda: self._prepare_workspace(ctx))
        runner = self._workspace(ctx)
        ws = ctx.workspace
        assert ws is not None
        planned = self._locked(ctx, obj, lambda: self._with_init(
            ctx, lambda: runner.plan(ws.plan_path, destroy=destroy)))
        # The state-loss guard below reads the state Secret; with changes planned it is read while
        # `show -json` runs (a read only: nothing is decided before the guard has the plan's summary).
        state_read = _in_background(lambda: read_state(self.kube, ctx.namespace, tf.state_secret_name)) \
            if planned.has_changes and not ctx.deleting else None
        show = runner.show_json(ws.plan_path)
        summary = summarize_plan(show)
        now = c.rfc3339()
        drift = dict(status.get("drift") or {})
        drift["lastCheckedAt"] = now
        status["drift"] = drift
        if decision.is_drift_check:  # status.drift, Drifted, DriftDetected Event (terraform_drift_hooks)
            self.drift.on_check(obj, tf, show, ctx.events)
        status["lastPlannedRevision"] = ctx.revision
        status["inputsDigest"] = ctx.digest
        conds = status.setdefault("conditions", [])
        gen = tf.meta.generation
        if not summary.has_changes:
            if (status.get("plan") or {}).get("pending"):
                delete_plan(self.kube, ctx.namespace, ctx.name, tf.spec.workspace)
            status["plan"] = {"pending": ""}
            status["lastAppliedInputsDigest"] = ctx.digest
            status["lastAppliedRevision"] = ctx.revision
            status["lastAppliedResourceCount"] = summary.prior_resource_count
            c.set_condition(conds, c.PLANNED, c.TRUE, NO_CHANGES, f"No changes at {ctx.revision}", gen)
            ctx.planned_no_changes = True
            return ready(NO_CHANGES, f"No changes at {ctx.revision}")
        if not ctx.deleting:
            state = state_read() if state_read is not None else read_state(self.kube, ctx.namespace,
                                                                           tf.state_secret_name)
            if policy.state_lost(applied_resources=int(status.get("lastAppliedResourceCount") or 0),
                                 state_exists=state.exists, state_empty=state.empty,
                                 creates_everything=summary.creates_everything):
                raise StallingError(STATE_MISSING, (
                    f"the state Secret {tf.state_secret_name} is missing or empty although "
                    f"{status.get('lastAppliedResourceCount')} resources were applied at "
                    f"{status.get('lastAppliedRevision')}; the plan would create all {summary.add} again, so "
                    "nothing is applied. Restore the state Secret, or remove status.lastAppliedResourceCount "
                    "to accept re-creating them."))
        ref, commit = _ref_commit(ctx.revision)
        salt = self.keys().digest_key
        plan_id = make_plan_id(ref, commit, plan_digest(show, sensitive_salt=salt))
        ctx.saved_plan_secrets = save_plan(self.kube, obj, tf.spec.workspace, plan_id, ws.plan_path.read_bytes(),
                                           self.keys().keyring, chunk_bytes=self.options.plan_chunk_bytes)
        ctx.plan_local = True
        status["plan"] = {"pending": plan_id, "add": summary.add, "change": summary.change,
                          "destroy": summary.destroy, "createdAt": now, "isDrift": decision.is_drift_check,
                          "isDestroy": destroy}
        status["planExpectedResources"] = policy.expected_resources(summary.prior_resource_count, summary.add,
                                                                    summary.destroy)
        counts = f"{summary.add} to add, {summary.change} to change, {summary.destroy} to destroy"
        c.set_condition(conds, c.PLANNED, c.TRUE, PLAN_GENERATED, f"Plan {plan_id}: {counts}", gen)
        if not tf.spec.auto_approve and not ctx.deleting:
            ctx.events.append(("Normal", PLAN_PENDING, f"Plan {plan_id} ({counts}); {approve_hint(ctx.namespace, ctx.name, plan_id)}"))
        # checkpoint the pending plan: a crash must find it, not plan from scratch. With `auto` the apply's
        # own checkpoint, at once in the next step, carries it: one API round trip less per run.
        if not tf.spec.auto_approve:
            self._patch(ctx, obj)
        return CONTINUE

    def step_apply(self, ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
        tf = ctx.tf
        status = _status(obj)
        plan = status.get("plan") or {}
        pending = str(plan.get("pending") or "")
        if not pending:
            return CONTINUE
        if not ctx.deleting:
            spec_offer, note_offer = policy.offered_approvals(
                tf.spec.approve_plan, tf.meta.annotations.get(ANNOTATION_APPROVE_PLAN, "").strip() or None,
                {p for p in (status.get("lastAppliedPlan"), status.get("lastDiscardedPlan")) if p})
            decision = policy.decide_approval(spec_offer, note_offer, pending)
            if not decision.apply:
                counts = f"{plan.get('add', 0)} to add, {plan.get('change', 0)} to change, " \
                         f"{plan.get('destroy', 0)} to destroy"
                if decision.refused:
                    raise PlanPendingError(APPROVAL_REFUSED, f"{decision.refused}; {approve_hint(ctx.namespace, ctx.name, pending)}",
                                           tf.spec.interval)
                raise PlanPendingError(PLAN_PENDING, f"Plan {pending} ({counts}) waits for approval: "
                                                     f"{approve_hint(ctx.namespace, ctx.name, pending)}", tf.spec.interval)
        self._checkpoint(ctx, obj, f"Applying plan {pending}", operation="apply", plan=pending)
        runner = self._workspace(ctx)
        ws = ctx.workspace
        assert ws is not None
        if not ctx.plan_local:
            try:
                data = load_plan(self.kube, ctx.namespace, ctx.name, tf.spec.workspace, pending, self.keys().keyring)
            except (PlanNotFoundError, DecryptionError) as exc:
                return self._replan(ctx, obj, f"the stored plan {pending} cannot be used ({exc})")
            ws.plan_path.write_bytes(data)
            ctx.plan_local = True
        try:
            result = self._locked(ctx, obj, lambda: self._with_init(ctx, lambda: runner.apply(ws.plan_path)))
        except StalePlanError:
            return self._replan(ctx, obj, f"plan {pending} is stale: the state changed since it was made")
        ctx.applied_output_names = _output_names(result.messages)
        delete_plan(self.kube, ctx.namespace, ctx.name, tf.spec.workspace, saved=ctx.saved_plan_secrets)
        drift_before = status.get("drift") or {}
        status["lastAppliedRevision"] = ctx.revision or status.get("lastPlannedRevision")
        status["lastAppliedInputsDigest"] = status.get("inputsDigest")
        status["lastAppliedPlan"] = pending
        status["lastAppliedResourceCount"] = int(status.pop("planExpectedResources", 0) or 0)
        status["plan"] = {"pending": ""}
        conds = status.setdefault("conditions", [])
        self.drift.on_applied(obj, tf, ctx.events)  # drift remediated: Drifted=False, mail (terraform_drift_hooks)
        counts = f"{plan.get('add', 0)} added, {plan.get('change', 0)} changed, {plan.get('destroy', 0)} destroyed"
        reason = DESTROY_SUCCEEDED if plan.get("isDestroy") else APPLY_SUCCEEDED
        message = f"Applied plan {pending} at {status['lastAppliedRevision']}: {counts}"
        c.set_condition(conds, c.APPLIED, c.TRUE, reason, message, tf.meta.generation)
        c.remove_condition(conds, APPLY_INTERRUPTED)  # status.lastInterruptedApply keeps the record (terraform_locks)
        ctx.events.append(("Normal", reason, message))
        ctx.applied = True
        # Checkpoint what was applied before the outputs are written (Secret writes, mail may follow). When
        # nothing but in-memory work follows (output names from the apply's stream, no outputs Secret, no
        # drift mail), the final status patch, a moment later, records the same: one round trip less.
        if not (tf.spec.write_outputs_to_secret is None and ctx.applied_output_names is not None
                and not drift_before.get("fingerprint") and not drift_before.get("pendingNotification")):
            self._patch(ctx, obj)
        return ready(reason, message)

    def _replan(self, ctx: RunContext, obj: dict[str, Any], why: str) -> StepResult | None:
        """Rule 2: a stale (or lost) plan is planned again; it is applied only when `auto` (or deleting),
        otherwise it waits for a new approval."""
        if ctx.replanned_after_stale:
            raise TransientError(PLAN_STALE, f"{why}; planned again and it went stale again")
        ctx.replanned_after_stale = True
        tf = ctx.tf
        delete_plan(self.kube, ctx.namespace, ctx.name, tf.spec.workspace)
        status = _status(obj)
        status["lastDiscardedPlan"] = (status.get("plan") or {}).get("pending") or status.get("lastDiscardedPlan")
        status["plan"] = {"pending": ""}
        ctx.plan_local = False
        ctx.saved_plan_secrets = None
        ctx.events.append(("Normal", PLAN_STALE, f"{why}; planning again"))
        if ctx.workspace is not None:
            ctx.workspace.plan_path.unlink(missing_ok=True)
        result = self._plan(ctx, obj, policy.PlanDecision(True, why))
        if not (status.get("plan") or {}).get("pending"):
            return result
        return self.step_apply(ctx, obj)

    def step_outputs(self, ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
        tf = ctx.tf
        status = _status(obj)
        conds = status.setdefault("conditions", [])
        wanted = tf.spec.write_outputs_to_secret
        fresh = ctx.applied or ctx.planned_no_changes
        if not fresh:
            if not status.get("lastAppliedRevision"):
                return CONTINUE
            if wanted is None and "availableOutputs" in status:
                return CONTINUE
            written = c.find(conds, c.OUTPUTS_WRITTEN)
            if wanted is not None and written is not None and written.status == c.TRUE and \
                    written.observed_generation == tf.meta.generation and \
                    self.kube.get_or_none(SECRETS, wanted.name, ctx.namespace) is not None:
                return CONTINUE
        if wanted is None and ctx.applied and ctx.applied_output_names is not None:
            status["availableOutputs"] = ctx.applied_output_names  # names only: no need to read the state
            c.remove_condition(conds, c.OUTPUTS_WRITTEN)
            return CONTINUE
        state = read_state(self.kube, ctx.namespace, tf.state_secret_name)
        outputs = state.outputs or {}
        status["availableOutputs"] = sorted(outputs)
        if wanted is None:
            c.remove_condition(conds, c.OUTPUTS_WRITTEN)
            return CONTINUE
        count = write_outputs(self.kube, obj, wanted, outputs)
        c.set_condition(conds, c.OUTPUTS_WRITTEN, c.TRUE, OUTPUTS_WRITTEN_REASON,
                        f"{count} outputs written to Secret {wanted.name}", tf.meta.generation)
        return CONTINUE

    # ---- Terraform helpers -------------------------------------------------------------------
    def _workspace(self, ctx: RunContext) -> TerraformRunner:
        """The run directory, prepared once per reconcile: artifact, backend, variables, init."""
        if ctx.runner is not None:
            return ctx.runner
        ensure_state_owner(self.kube, ctx.tf, ctx.events)  # rule §4.8, before any command (terraform_ownership)
        skip_init = self._prepare_workspace(ctx)
        ws = ctx.workspace
        assert ws is not None
        runner = ws.runner()
        with self._lock:
            self._runners[ctx.key] = runner
        if self.stopping.is_set():
            runner.cancel()
        ctx.runner = runner
        if skip_init:
            ctx.init_skipped = True
        else:
            self._init(ctx, runner)  # in tf.spec.workspace only (TF_WORKSPACE): no stray default state
        return runner

    def _prepare_workspace(self, ctx: RunContext) -> bool:
        """The local part of `_workspace`, once: the run directory and the object's initialised data dir.
        No Terraform command that touches the state runs here. Returns whether init can be skipped."""
        if ctx.workspace is not None:
            return ctx.init_reusable
        tf = ctx.tf
        assert ctx.artifact_path is not None and ctx.inputs is not None
        assert ctx.run is not None, "no Terraform process starts before its run record is checkpointed"
        marker = ctx.run.marker
        ws = Workspace.create(
            self.options.work_dir / "runs", ctx.artifact_path, tf.spec.path,
            config=dataclasses.replace(self.options.terraform,
                                       timeouts=policy.run_timeouts(self.options.terraform.timeouts, tf.spec.timeout)),
            backend=KubernetesBackend(ctx.namespace, tf.spec.secret_suffix, self.options.kubeconfig),
            variables=ctx.inputs.variables,
            env={**ctx.inputs.env, RUN_ENV: marker},
            secrets=ctx.inputs.secrets,
            name_hint=f"{ctx.namespace}-{ctx.name}",
            workspace=tf.spec.workspace,
        )
        ctx.workspace = ws
        skip_init = False
        if self.options.reuse_init:  # the object's own initialised data dir (terraform_initcache)
            ctx.init_key = init_key(
                backend_hcl=KubernetesBackend(ctx.namespace, tf.spec.secret_suffix, self.options.kubeconfig).hcl(),
                workspace=tf.spec.workspace, terraform_version=self.terraform_version(),
                cli_config=json.dumps(self.options.terraform.cli_config(), sort_keys=True),
                shipped_lock=_read_or_none(ws.module_dir / LOCK_FILE))
            data_dir, skip_init = self.init_cache.attach(ctx.key, ws.module_dir, ctx.init_key)
            ws.env["TF_DATA_DIR"] = str(data_dir)
        ctx.init_reusable = skip_init
        return skip_init

    def _init(self, ctx: RunContext, runner: TerraformRunner) -> None:
        if ctx.init_key:
            self.init_cache.invalidate(ctx.key)
        runner.init()
        if ctx.init_key and ctx.workspace is not None:
            self.init_cache.record(ctx.key, ctx.workspace.module_dir, ctx.init_key)

    def _with_init(self, ctx: RunContext, command: Callable[[], T]) -> T:
        """Run a command; when init was skipped and Terraform says it is needed after all, init (in the
        same data dir) and run it again, once."""
        try:
            return command()
        except InitRequiredError:
            if not ctx.init_skipped or ctx.runner is None:
                raise
            ctx.init_skipped = False
            log.info("terraform asks for init; running it", extra={"obj": ctx.key})
            self._init(ctx, ctx.runner)
            return command()

    def _locked(self, ctx: RunContext, obj: dict[str, Any] | None, command: Callable[[], T]) -> T:
        """Run a command that takes the state lock. A lock left by a dead run of ours is released (with
        an Event) and the command retried once; any other lock is reported as StateLocked. A command
        that ran out of `spec.timeout` was interrupted (SIGINT, grace, SIGKILL); should it have been
        killed before releasing the lock, the lock is released here, so the next run is not blocked."""
        try:
            return self._locked_once(ctx, obj, command)
        except TimeoutExpiredError as exc:
            released = self._release_own_lock(ctx, exc.message)
            note = "; its state lock was released" if released else ""
            raise TransientError(exc.reason, f"{exc.message} (spec.timeout limits each Terraform command){note}") \
                from None

    def _release_own_lock(self, ctx: RunContext, why: str) -> bool:
        """Release the state lock if the run of this reconcile (all its processes now gone) holds it."""
        if ctx.run is None:
            return False
        lock = read_lock(self.kube, ctx.namespace, ctx.tf.state_lease_name)
        if lock is None or not is_dead_run_lock(
                ctx.run, lock, own_instance=self.options.instance_id, own_host=socket.gethostname(),
                in_flight_markers=set(), run_alive=run_alive(ctx.run.marker), leader_elected=False,
                own_boot=boot_id()):
            return False
        if not release_lock(self.kube, ctx.namespace, ctx.tf.state_lease_name, lock.id):
            log.warning("could not release state lock id=%s after a timeout", lock.id, extra={"obj": ctx.key})
            return False
        ctx.own_lock_released = True
        ctx.events.append(("Warning", STATE_UNLOCKED, f"released state lock {lock.id} left by a run that "
                                                      f"was stopped: {why}"))
        log.warning("released state lock id=%s after a timeout", lock.id, extra={"obj": ctx.key})
        return True

    def _locked_once(self, ctx: RunContext, obj: dict[str, Any] | None, command: Callable[[], T]) -> T:
        status = _status(obj) if obj is not None else None
        try:
            result = command()
        except StateLockedError as exc:
            lock = read_lock(self.kube, ctx.namespace, ctx.tf.state_lease_name) or exc.lock
            if not (ctx.previous_runs and self._recover(ctx, obj).released):
                if status is not None:
                    status["lock"] = {k: v for k, v in (("id", lock.id), ("holder", lock.who),
                                                        ("since", _rfc3339_or_none(lock.created))) if v}
                    c.set_condition(status.setdefault("conditions", []), c.STATE_LOCKED, c.TRUE, STATE_LOCKED,
                                    exc.message, ctx.tf.meta.generation)
                raise WaitingError(STATE_LOCKED, f"{exc.message}; retrying in {self.options.lock_retry:g}s "
                                                 f"(release it with "
                                                 f"{force_unlock_command(ctx.namespace, ctx.name, lock.id)})",
                                   self.options.lock_retry) from None
            result = command()
        if status is not None:
            c.remove_condition(status.setdefault("conditions", []), c.STATE_LOCKED)
            status.pop("lock", None)
        return result

    # ---- runs of ours that did not finish (design.md §4.4, terraform_locks) --------------------------
    def step_recover(self, ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
        """Before any Terraform command: runs of ours whose records survived (the reconcile that wrote them
        never finished) are recovered: what is left of a dead one is stopped, its lock released, an
        interrupted apply reported. Records of runs that may still be alive stay."""
        if ctx.previous_runs:
            self._recover(ctx, obj)
        return CONTINUE

    def _recover(self, ctx: RunContext, obj: dict[str, Any] | None) -> Recovery:
        with self._lock:
            in_flight = frozenset(self._in_flight)
        recovery = recover_runs(self.kube, ctx.namespace, ctx.tf.state_lease_name, ctx.previous_runs,
                                RecoveryContext(self.options.instance_id, in_flight, self.options.leader_elected,
                                                self.options.terraform.timeouts.grace))
        ctx.previous_runs = recovery.kept
        status = _status(obj) if obj is not None else {}
        write_records(status, [*ctx.previous_runs, *([ctx.run] if ctx.run is not None else [])])
        events = report_recovery(recovery, status, ctx.tf.meta.generation)
        for _, reason, message in events:
            log.warning("%s: %s", reason, message, extra={"obj": ctx.key})
        ctx.events.extend(events)
        return recovery

    # ---- deletion ----------------------------------------------------------------------------
    def _reconcile_delete(self, obj: dict[str, Any], tf: Terraform) -> Result:
        if FINALIZER not in tf.meta.finalizers:
            return Result()
        steps: list[Callable[[RunContext, dict[str, Any]], StepResult | None]] = [self.step_recover,
                                                                                    self.step_dependents]
        if tf.spec.destroy_resources_on_deletion:
            steps += [self.step_source, self.step_inputs, self.step_destroy]
        outcome, result = self._frame(obj, tf, steps, deleting=True)
        if outcome.kind != "success":
            return result
        return self._remove_finalizer(obj)

    def step_dependents(self, ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
        items, _ = self.kube.list_all(TERRAFORMS)
        own = f"{ctx.namespace}/{ctx.name}"
        blocking = sorted(object_key(o) for o in items
                          if own in depends_on_index(o) and not (o.get("metadata") or {}).get("deletionTimestamp"))
        if blocking:
            raise WaitingError(DELETION_BLOCKED, f"deletion waits: Terraform {', '.join(blocking)} depend(s) on it",
                               ctx.tf.spec.retry_interval)
        return CONTINUE

    def step_destroy(self, ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
        """Deleting with destroyResourcesOnDeletion: the deletion is the approval of the destroy plan."""
        tf = ctx.tf
        skipped = destroy_refusal(self.kube, tf)  # only the state's owner destroys (terraform_ownership)
        if skipped:
            ctx.events.append(("Normal", DESTROY_SKIPPED, skipped))
            return CONTINUE
        _status(obj)["plan"] = {"pending": ""}
        self._plan(ctx, obj, policy.PlanDecision(True, "the object is being deleted"))
        if (_status(obj).get("plan") or {}).get("pending"):
            self.step_apply(ctx, obj)
        delete_state(self.kube, ctx.namespace, tf.state_secret_name, tf.state_lease_name)
        ctx.events.append(("Normal", DESTROY_SUCCEEDED, f"destroyed the resources of {ctx.name}; state removed"))
        return CONTINUE

    def _remove_finalizer(self, obj: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        try:
            fresh = self.kube.get(TERRAFORMS, meta["name"], meta.get("namespace"))
        except NotFound:
            return Result()
        self.init_cache.forget(object_key(fresh))
        finalizers = [f for f in (fresh["metadata"].get("finalizers") or []) if f != FINALIZER]
        try:
            self.kube.patch(TERRAFORMS, meta["name"], {"metadata": {
                "finalizers": finalizers, "resourceVersion": fresh["metadata"]["resourceVersion"]}},
                meta.get("namespace"))
        except NotFound:
            pass
        except ApiError as exc:
            return Result(error=exc)
        try:
            tf = Terraform.from_dict(fresh)
            delete_plan(self.kube, tf.meta.namespace, tf.meta.name, tf.spec.workspace)
        except (SpecError, ApiError):
            pass
        return Result()


def approve_hint(namespace: str, name: str, plan_id: str) -> str:
    return f"approve with: {approve_command(namespace, name, plan_id)}"


def _ref_commit(revision: str) -> tuple[str, str]:
    try:
        ref, commit = parse_revision(revision)
    except ValueError:
        return "rev", hashlib.sha1(revision.encode()).hexdigest()  # noqa: S324 - a name, not security
    return (ref or "commit").removeprefix("refs/heads/").removeprefix("refs/tags/"), commit


def _rfc3339_or_none(text: str) -> str | None:
    """Terraform's lock time (RFC 3339 with nanoseconds) at second precision, UTC."""
    try:
        return c.rfc3339(dt.datetime.fromisoformat(text[:19]).replace(tzinfo=dt.UTC)) if text else None
    except ValueError:
        return None


def _dependency_problem(other: dict[str, Any] | None) -> str:
    if other is None:
        return "not found"
    status = other.get("status") or {}
    conds = status.get("conditions") or []
    if (other.get("metadata") or {}).get("generation") != status.get("observedGeneration"):
        return "has not been reconciled at its latest generation"
    if not c.is_true(conds, c.READY):
        ready_c = c.find(conds, c.READY)
        return f"is not ready ({ready_c.reason})" if ready_c else "is not ready"
    if ((other.get("spec") or {}).get("writeOutputsToSecret")) and not c.is_true(conds, c.OUTPUTS_WRITTEN):
        return "has not written its outputs"
    return ""


def _in_background(fn: Callable[[], T]) -> Callable[[], T]:
    """Start `fn` in a thread; the returned function waits for it and returns its result or raises its
    error. Not waiting is harmless (the thread ends on its own)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the waiting thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="terraform-background", daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]  # type: ignore[no-any-return]

    return result


def _output_names(messages: Any) -> list[str] | None:
    """The root module's output names from the `outputs` message of `apply -json` (it lists every output
    in the new state; sensitive values are not in it, and no value is kept here). None when absent."""
    for msg in messages:
        if msg.get("type") == "outputs" and isinstance(msg.get("outputs"), dict):
            return sorted(str(name) for name in msg["outputs"])
    return None


def _read_or_none(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


def _raise(exc: BaseException) -> StepResult:
    raise exc



# ---- `tfcontroller run` plug-in contract (tfcontroller.controllers.setup) ----------------------------

DEFAULT_WORK_DIR = os.path.join(tempfile.gettempdir(), "tfcontroller", "terraform")


def add_run_arguments(parser: Any) -> None:
    """Flags of `tfcontroller run` for the Terraform controller (and its drift e-mail)."""
    from tfcontroller.controllers import terraform_drift_mail

    g = parser.add_argument_group("terraform")
    g.add_argument("--terraform-work-dir", default=DEFAULT_WORK_DIR,
                   help="run directories and the artifact cache of Terraform runs")
    g.add_argument("--terraform-binary", help="terraform executable (default: $TFCONTROLLER_TERRAFORM_BINARY or PATH)")
    g.add_argument("--plugin-mirror-dir", help="provider filesystem mirror (default: /opt/tf-plugins when present)")
    g.add_argument("--plugin-cache-dir", help="shared provider plugin cache (linked into runs, never copied)")
    g.add_argument("--keep-failed-workspaces", action="store_true", help="keep run directories of failed runs")
    g.add_argument("--controller-namespace",
                   help="namespace of the controller's key Secret and sealing certificate "
                        f"(default: ${POD_NAMESPACE_ENV}, else the lease namespace, else default)")
    g.add_argument("--state-lock-retry", type=float, default=30.0, help="seconds between tries of a locked state")
    terraform_drift_mail.add_run_arguments(parser)


POD_NAMESPACE_ENV = "POD_NAMESPACE"  # the pod's namespace, from the downward API (fieldRef metadata.namespace)


def controller_namespace(flag: str | None, environ: dict[str, str] | Any, lease_namespace: str | None) -> str:
    """Where the keys Secret lives: `--controller-namespace`, else the pod's own namespace (env
    POD_NAMESPACE), else the leader-election Lease's namespace, else `default`."""
    return flag or environ.get("POD_NAMESPACE") or lease_namespace or "default"


def _backend_kubeconfig(kubeconfig: str | None) -> str | None:
    """The kubeconfig path Terraform's backend uses: the controller's own; None means in-cluster."""
    if kubeconfig:
        return os.path.abspath(kubeconfig)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    default = os.path.expanduser("~/.kube/config")
    return os.path.abspath(env) if env else (default if os.path.exists(default) else None)


def register(manager: Any, kube: KubeClient, opts: Any) -> TerraformReconciler:
    """Add the Terraform controller to a `ControllerManager` built by `setup.build_manager`."""
    from tfcontroller.controllers.terraform_drift_mail import notifier_from_options

    extra = dict(getattr(opts, "extra", {}) or {})
    config = TerraformConfig.from_env(
        binary=extra.get("terraform_binary"), plugin_mirror_dir=extra.get("plugin_mirror_dir"),
        plugin_cache_dir=extra.get("plugin_cache_dir"), keep_failed_workspaces=bool(extra.get("keep_failed_workspaces")),
    )
    options = TerraformControllerOptions(
        work_dir=Path(extra.get("terraform_work_dir") or DEFAULT_WORK_DIR),
        terraform=config,
        kubeconfig=_backend_kubeconfig(getattr(opts, "kubeconfig", None)),
        controller_namespace=controller_namespace(extra.get("controller_namespace"), os.environ,
                                                  getattr(opts, "lease_namespace", None)),
        leader_elected=bool(getattr(opts, "leader_elect", False)),
        lock_retry=float(extra.get("state_lock_retry") or 30.0),
        reuse_init=bool(extra.get("terraform_reuse_init", True)),  # programmatic only (benchmarks)
        drift_notifier=notifier_from_options(extra, kube),
    )
    reconciler = TerraformReconciler(kube, options, recorder=getattr(manager, "events", None))
    reconciler.register(manager)
    return reconciler
