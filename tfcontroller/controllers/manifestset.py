"""The ManifestSet reconciler: render manifests from a GitRepository artifact, substitute Terraform
outputs into them, and keep the cluster equal to them (design.md §1).

Shape (as the GitRepository reconciler, after Flux): deletion/finalizer/suspend first, then ordered
steps sharing a `RunContext` — request → validate → dependencies → artifact → build → substitute →
apply → prune → health — and one status patch in `run_frame`'s finally. Each phase fails with its own
Ready=False reason (ArtifactFailed, BuildFailed, SubstitutionFailed, DependencyNotReady, ApplyFailed,
PruneFailed, HealthCheckFailed) and is retried after `spec.retryInterval`; only a bad spec stalls.

Prune hands over instead of deleting an object another ManifestSet now declares (manifestset_claims.py),
whichever of the two reconciles first; such an object stays in the inventory until the new owner applied it.

Self-heal: every interval the whole render is applied again with server-side apply; fields someone
changed by hand come back and an Event (reason DriftCorrected) names the objects and fields. A change
is "drift" when the desired set (its digest, in status) is the one applied last time.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api.constants import FINALIZER, MANIFESTSET_KIND, TERRAFORM_KIND
from tfcontroller.api.errors import WaitingError
from tfcontroller.api.manifestset import ManifestSet
from tfcontroller.api.meta import ObjectMeta
from tfcontroller.api.redact import scrub
from tfcontroller.controllers.manifestset_claims import ClaimFinder
from tfcontroller.controllers.manifestset_deps import (
    INDEX_DEPENDS_ON,
    INDEX_SOURCE,
    INDEX_SUBSTITUTE_FROM,
    dependency_problem,
    index_depends_on,
    index_source_ref,
    index_substitute_from,
    key_of,
    outputs_secret_name,
)
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, Conflict, NotFound
from tfcontroller.kube.events import EventRecorder
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, SECRETS, TERRAFORMS, split_key
from tfcontroller.manifests import health as health_mod
from tfcontroller.manifests.apply import Applier, ApplyError, ApplyOptions, Change, Manifest
from tfcontroller.manifests.inventory import InventoryEntry, entry_for, from_status, stale_entries, to_status
from tfcontroller.manifests.normalize import ordered, owner_labels
from tfcontroller.manifests.prune import PruneError, PruneResult, prune
from tfcontroller.manifests.render import KustomizeConfig, RenderError, render
from tfcontroller.manifests.sources import SourceError, read_variables
from tfcontroller.manifests.substitute import SubstitutionError, plain_strings, substitute_object
from tfcontroller.runtime.manager import Controller, Manager, Watch
from tfcontroller.runtime.reconciler import StepResult, ready, ready_transition, run_frame
from tfcontroller.runtime.requested import mark_handled
from tfcontroller.runtime.result import Result
from tfcontroller.runtime.status import patch_status_with_retry
from tfcontroller.source.store import fetch_artifact
from tfcontroller.terraform.archive import extract_artifact

log = logging.getLogger(__name__)

Obj = dict[str, Any]
CONTROLLER_NAME = "manifestset"

REASON_SUCCEEDED = c.SUCCEEDED
REASON_ARTIFACT_FAILED = c.ARTIFACT_FAILED
REASON_BUILD_FAILED = "BuildFailed"
REASON_SUBSTITUTION_FAILED = "SubstitutionFailed"
REASON_DEPENDENCY_NOT_READY = c.DEPENDENCY_NOT_READY
REASON_APPLY_FAILED = "ApplyFailed"
REASON_PRUNE_FAILED = "PruneFailed"
REASON_HEALTH_CHECK_FAILED = "HealthCheckFailed"
REASON_DRIFT_CORRECTED = "DriftCorrected"
SERVICE_ACCOUNT_USER = "system:serviceaccount:{namespace}:{name}"
HEALTH_POLL = 0.5


@dataclass
class RunContext:
    namespace: str
    name: str
    workdir: Path
    ms: ManifestSet | None = None
    kube: KubeClient | None = None  # impersonating spec.serviceAccountName when set
    revision: str = ""
    root: Path | None = None
    manifests: list[Manifest] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    secret_values: tuple[str, ...] = ()  # substituted from Secrets: kept out of messages
    changes: list[Change] = field(default_factory=list)
    inventory: list[InventoryEntry] = field(default_factory=list)
    pruned: PruneResult | None = None
    digest: str = ""
    drift_of_same_render: bool = False

    @property
    def interval(self) -> float | None:
        return self.ms.spec.interval if self.ms else None

    @property
    def retry(self) -> float:
        return self.ms.spec.retry_interval if self.ms else 30.0

    def fail(self, reason: str, message: str) -> WaitingError:
        """Every phase failure is retried after spec.retryInterval (the input may be fixed meanwhile). The
        message goes to status and Events, so values substituted from Secrets are scrubbed from it."""
        return WaitingError(reason, scrub(message, self.secret_values), self.retry)


def desired_digest(objs: list[Obj]) -> str:
    """sha256 over the canonical JSON of the objects to apply (reveals nothing of their values)."""
    text = json.dumps(objs, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def service_account_user(namespace: str, name: str) -> str:
    return SERVICE_ACCOUNT_USER.format(namespace=namespace, name=name)


class ManifestSetReconciler:
    """One instance per manager; `reconcile` is safe to call from several worker threads."""

    def __init__(
        self,
        kube: KubeClient,
        events: EventRecorder | None = None,
        *,
        workdir: Path | str | None = None,
        kustomize: KustomizeConfig | None = None,
        stopping: threading.Event | None = None,
        health_poll: float = HEALTH_POLL,
    ) -> None:
        self.kube = kube
        self.events = events or EventRecorder(kube)
        self.workdir = Path(workdir) if workdir else Path(tempfile.gettempdir())
        self.kustomize = kustomize or KustomizeConfig()
        self.stopping = stopping or threading.Event()
        self.health_poll = health_poll

    # ------------------------------------------------------------------ entry point

    def reconcile(self, key: str) -> Result:
        namespace, name = split_key(key)
        namespace = namespace or "default"
        obj = self.kube.get_or_none(MANIFESTSETS, name, namespace)
        if obj is None:
            return Result()
        meta = ObjectMeta.from_dict(obj)
        if meta.deleting:
            self._finalize(obj, meta)
            return Result()
        if FINALIZER not in meta.finalizers:
            obj = self._add_finalizer(meta)
        if (obj.get("spec") or {}).get("suspend") is True:
            log.info("reconciliation is suspended", extra={"obj": key})
            return Result()
        self.workdir.mkdir(parents=True, exist_ok=True)
        ctx = RunContext(namespace, name, Path(tempfile.mkdtemp(prefix="manifestset-", dir=self.workdir)))
        before_conditions = copy.deepcopy((obj.get("status") or {}).get("conditions") or [])
        try:
            outcome = run_frame(ctx, obj, self.steps(), self._patch_status)
        finally:
            shutil.rmtree(ctx.workdir, ignore_errors=True)
        self._record_events(obj, ctx, before_conditions)
        if outcome.kind in ("transient", "waiting"):
            log.info("reconcile failed: %s", outcome.error, extra={"obj": key})
        return outcome.result(interval=ctx.interval, retry_base=ctx.retry)

    def steps(self) -> list[Callable[[RunContext, Obj], StepResult | None]]:
        return [self.handle_request, self.validate, self.check_dependencies, self.fetch, self.build,
                self.substitute, self.apply, self.prune, self.check_health]

    # ------------------------------------------------------------------ steps

    def handle_request(self, ctx: RunContext, obj: Obj) -> None:
        mark_handled(obj)

    def validate(self, ctx: RunContext, obj: Obj) -> None:
        ctx.ms = ManifestSet.from_dict(obj)  # SpecError: stalled until the spec changes
        sa = ctx.ms.spec.service_account_name
        ctx.kube = self.kube.impersonating(service_account_user(ctx.namespace, sa)) if sa else self.kube

    def check_dependencies(self, ctx: RunContext, obj: Obj) -> None:
        assert ctx.ms is not None
        for ref in ctx.ms.spec.depends_on:
            res = TERRAFORMS if ref.kind == TERRAFORM_KIND else MANIFESTSETS
            dep = self.kube.get_or_none(res, ref.name, ref.namespace)
            secret_exists: bool | None = None
            if dep is not None and ref.kind == TERRAFORM_KIND:
                secret = outputs_secret_name(dep)
                if secret:
                    secret_exists = self.kube.get_or_none(SECRETS, secret, ref.namespace) is not None
            problem = dependency_problem(ref.kind, ref.key, dep, secret_exists)
            if problem:
                raise ctx.fail(REASON_DEPENDENCY_NOT_READY, f"dependency {problem}")

    def fetch(self, ctx: RunContext, obj: Obj) -> None:
        assert ctx.ms is not None
        ref = ctx.ms.spec.source_ref
        repo = self.kube.get_or_none(GITREPOSITORIES, ref.name, ref.namespace)
        if repo is None:
            raise ctx.fail(REASON_ARTIFACT_FAILED, f"GitRepository {ref.key} not found")
        artifact = (repo.get("status") or {}).get("artifact") or {}
        if not artifact.get("url"):
            raise ctx.fail(REASON_ARTIFACT_FAILED, f"GitRepository {ref.key} has no artifact yet")
        ctx.revision = str(artifact.get("revision", ""))
        obj.setdefault("status", {})["lastAttemptedRevision"] = ctx.revision
        tarball = ctx.workdir / "artifact.tar.gz"
        try:
            fetch_artifact(artifact["url"], tarball, artifact.get("digest"))
            ctx.root = ctx.workdir / "src"
            ctx.root.mkdir()
            extract_artifact(tarball, ctx.root)
        except Exception as exc:  # noqa: BLE001 - any download/extract problem is an artifact failure
            raise ctx.fail(REASON_ARTIFACT_FAILED,
                           f"cannot fetch artifact {ctx.revision} of GitRepository {ref.key}: {exc}") from None

    def build(self, ctx: RunContext, obj: Obj) -> None:
        assert ctx.ms is not None and ctx.root is not None
        try:
            substitutes = bool(ctx.ms.spec.substitute or ctx.ms.spec.substitute_from)
            rendered = render(ctx.root, ctx.ms.spec.path, self.kustomize, mark_quoted=substitutes)
        except RenderError as exc:
            raise ctx.fail(REASON_BUILD_FAILED, str(exc)) from None
        ctx.manifests = [Manifest(r.obj, r.source) for r in rendered]

    def substitute(self, ctx: RunContext, obj: Obj) -> None:
        assert ctx.ms is not None
        spec = ctx.ms.spec
        if not spec.substitute and not spec.substitute_from:
            # substitution is opt-in, as in Flux: `${...}` in manifests stays as written
            ctx.manifests = [Manifest(plain_strings(m.obj), m.source) for m in ctx.manifests]
            return
        try:
            variables = read_variables(self.kube, ctx.namespace, spec.substitute_from, spec.substitute)
        except SourceError as exc:
            raise ctx.fail(REASON_SUBSTITUTION_FAILED, str(exc)) from None
        ctx.variables, ctx.secret_values = variables.values, variables.secrets
        out = []
        for m in ctx.manifests:
            try:
                out.append(Manifest(substitute_object(m.obj, ctx.variables), m.source))
            except SubstitutionError as exc:
                raise ctx.fail(REASON_SUBSTITUTION_FAILED, f"{m.source}: {exc}") from None
        ctx.manifests = out

    def apply(self, ctx: RunContext, obj: Obj) -> None:
        assert ctx.ms is not None and ctx.kube is not None
        spec = ctx.ms.spec
        status = obj.setdefault("status", {})
        previous = from_status(status.get("inventory"))
        applier = Applier(ctx.kube, ApplyOptions(
            default_namespace=ctx.namespace, target_namespace=spec.target_namespace,
            labels=owner_labels(ctx.name, ctx.namespace), force_recreate=spec.force,
        ))
        applied: list[InventoryEntry] = []
        try:
            desired = applier.applied_objects(ordered(ctx.manifests, lambda m: m.obj))
        except ApplyError:
            desired = []  # a kind served only after a CRD of this set is applied: no digest this time
        ctx.digest = desired_digest(desired) if desired else ""
        ctx.drift_of_same_render = bool(ctx.digest) and status.get("lastAppliedDigest") == ctx.digest
        try:
            for m in ordered(ctx.manifests, lambda m: m.obj):
                change = applier.apply_one(m)
                ctx.changes.append(change)
                applied.append(entry_for(change.obj))
        except ApplyError as exc:
            # keep what was applied in the inventory so that a later prune can still find it
            status["inventory"] = to_status(sorted(set(previous) | set(applied)))
            raise ctx.fail(REASON_APPLY_FAILED, str(exc)) from None
        ctx.inventory = sorted(set(applied))
        if not ctx.digest:
            ctx.digest = desired_digest(applier.applied_objects(ordered(ctx.manifests, lambda m: m.obj)))

    def prune(self, ctx: RunContext, obj: Obj) -> None:
        assert ctx.ms is not None and ctx.kube is not None
        status = obj.setdefault("status", {})
        previous = from_status(status.get("inventory"))
        retained: list[InventoryEntry] = []
        if ctx.ms.spec.prune:
            stale = stale_entries(previous, ctx.inventory)
            claims = ClaimFinder(self.kube, ctx.namespace, ctx.name, ctx.workdir / "claims", self.kustomize,
                                 roots={(ctx.ms.spec.source_ref.key, ctx.revision): ctx.root})
            try:
                ctx.pruned = prune(ctx.kube, stale, owner_labels(ctx.name, ctx.namespace), claims.claimant)
            except PruneError as exc:
                status["inventory"] = to_status(sorted(set(previous) | set(ctx.inventory)))
                raise ctx.fail(REASON_PRUNE_FAILED, str(exc)) from None
            retained = ctx.pruned.retained
            for kept in ctx.pruned.kept:
                log.info("not pruned: %s", kept, extra={"obj": f"{ctx.namespace}/{ctx.name}"})
        # objects another ManifestSet declares stay listed until it has taken them over (see prune.py)
        status["inventory"] = to_status(ctx.inventory + retained)
        status["lastAppliedDigest"] = ctx.digest

    def check_health(self, ctx: RunContext, obj: Obj) -> StepResult:
        assert ctx.ms is not None and ctx.kube is not None
        status = obj.setdefault("status", {})
        done = ready(REASON_SUCCEEDED, f"Applied revision: {ctx.revision}")
        if not ctx.ms.spec.wait or not ctx.changes:
            status["lastAppliedRevision"] = ctx.revision
            return done
        deadline = time.monotonic() + ctx.ms.spec.timeout
        while True:
            result = health_mod.summarize([health_mod.assess(self._live(ctx, ch)) for ch in ctx.changes])
            if result.status == health_mod.Health.CURRENT:
                status["lastAppliedRevision"] = ctx.revision
                return done
            if result.status == health_mod.Health.FAILED:
                raise ctx.fail(REASON_HEALTH_CHECK_FAILED, f"health check failed: {result.message}")
            if time.monotonic() >= deadline or self.stopping.is_set():
                raise ctx.fail(REASON_HEALTH_CHECK_FAILED,
                               f"timeout after {ctx.ms.spec.timeout:.0f}s waiting for {result.message}")
            time.sleep(self.health_poll)

    # ------------------------------------------------------------------ helpers

    def _live(self, ctx: RunContext, change: Change) -> Obj:
        assert ctx.kube is not None
        meta = change.obj.get("metadata") or {}
        try:
            res = ctx.kube.resource_for(change.obj["apiVersion"], change.obj["kind"])
            return ctx.kube.get_or_none(res, meta["name"], meta.get("namespace")) or change.obj
        except ApiError as exc:
            raise ctx.fail(REASON_HEALTH_CHECK_FAILED, f"{change.label}: cannot read it: {exc.message}") from None

    def _patch_status(self, before: Obj, after: Obj) -> object:
        try:
            return patch_status_with_retry(self.kube, MANIFESTSETS, before, after)
        except NotFound:
            return None

    def _add_finalizer(self, meta: ObjectMeta) -> Obj:
        patch = {"metadata": {"finalizers": [*meta.finalizers, FINALIZER], "resourceVersion": meta.resource_version}}
        try:
            return self.kube.patch(MANIFESTSETS, meta.name, patch, meta.namespace)
        except Conflict:
            fresh = self.kube.get(MANIFESTSETS, meta.name, meta.namespace)
            return self._add_finalizer(ObjectMeta.from_dict(fresh))

    def _finalize(self, obj: Obj, meta: ObjectMeta) -> None:
        """With prune: true, delete what the inventory lists (honouring the opt-out); then let go."""
        if FINALIZER not in meta.finalizers:
            return
        spec = obj.get("spec") or {}
        if spec.get("prune") and not spec.get("suspend"):
            kube = self.kube
            if spec.get("serviceAccountName"):
                kube = self.kube.impersonating(service_account_user(meta.namespace, spec["serviceAccountName"]))
            inventory = from_status((obj.get("status") or {}).get("inventory"))
            self.workdir.mkdir(parents=True, exist_ok=True)
            workdir = Path(tempfile.mkdtemp(prefix="manifestset-finalize-", dir=self.workdir))
            claims = ClaimFinder(self.kube, meta.namespace, meta.name, workdir, self.kustomize)
            try:
                done = prune(kube, inventory, owner_labels(meta.name, meta.namespace), claims.claimant)
                log.info("deleted %d objects of the inventory; kept %s", len(done.deleted),
                         "; ".join(done.kept) or "none", extra={"obj": meta.key})
            except PruneError as exc:
                log.warning("could not delete the inventory: %s", exc, extra={"obj": meta.key})
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        remaining = [f for f in meta.finalizers if f != FINALIZER]
        patch = {"metadata": {"finalizers": remaining or None, "resourceVersion": meta.resource_version}}
        try:
            self.kube.patch(MANIFESTSETS, meta.name, patch, meta.namespace)
        except NotFound:
            return

    def _record_events(self, obj: Obj, ctx: RunContext, before_conditions: list[Obj]) -> None:
        changed = [ch for ch in ctx.changes if ch.action != "unchanged"]
        pruned = ctx.pruned.deleted if ctx.pruned else []
        not_pruned = ctx.pruned.kept if ctx.pruned else []  # "label: why", e.g. declared by another set
        if changed and ctx.drift_of_same_render:
            self.events.warning(obj, REASON_DRIFT_CORRECTED,
                                "corrected drift: " + "; ".join(ch.describe() for ch in changed))
        elif changed or pruned:
            parts = ([ch.describe() for ch in changed] + [f"{p} pruned" for p in pruned]
                     + [f"{k} (not pruned)" for k in not_pruned])
            self.events.normal(obj, REASON_SUCCEEDED, f"revision {ctx.revision}: " + "; ".join(parts))
        notice = ready_transition(before_conditions, (obj.get("status") or {}).get("conditions") or [])
        if notice is not None and not (changed and notice.type == "Normal"):
            self.events.event(obj, notice.type, notice.reason, notice.message)


def new_controller(reconciler: ManifestSetReconciler, concurrency: int | None = None) -> Controller:
    """The Controller with its indexes and watches: a new artifact, a Terraform or ManifestSet
    dependency changing (a new apply), or an outputs Secret changing re-reconciles dependants at once."""
    return Controller(
        name=CONTROLLER_NAME,
        resource=MANIFESTSETS,
        reconcile=reconciler.reconcile,
        concurrency=concurrency,
        indexes={
            INDEX_SOURCE: index_source_ref,
            INDEX_DEPENDS_ON: index_depends_on,
            INDEX_SUBSTITUTE_FROM: index_substitute_from,
        },
        watches=[
            Watch(GITREPOSITORIES, index=INDEX_SOURCE, value_fn=lambda o: key_of("GitRepository", o)),
            Watch(TERRAFORMS, index=INDEX_DEPENDS_ON, value_fn=lambda o: key_of(TERRAFORM_KIND, o)),
            Watch(MANIFESTSETS, index=INDEX_DEPENDS_ON, value_fn=lambda o: key_of(MANIFESTSET_KIND, o)),
            # outputs Secrets carry the tfcontroller.io/terraform label; other Secrets wait for the interval
            Watch(SECRETS, index=INDEX_SUBSTITUTE_FROM, value_fn=lambda o: key_of("Secret", o),
                  label_selector="tfcontroller.io/terraform"),
        ],
    )


def register(manager: Manager, kube: KubeClient, opts: Any = None) -> ManifestSetReconciler:
    """Called by `controllers.setup.build_manager`. Uses the manager's Event recorder when it has one;
    work directories (extracted artifacts, deleted after each run) go under `opts.extra["manifestset_work_dir"]`
    or the system temporary directory."""
    extra = getattr(opts, "extra", None) or {}
    workdir = extra.get("manifestset_work_dir")
    events = getattr(manager, "events", None) or EventRecorder(kube)
    reconciler = ManifestSetReconciler(kube, events, workdir=Path(workdir) if workdir else None,
                                       stopping=manager.stopping)
    manager.add_controller(new_controller(reconciler))
    return reconciler


__all__ = ["CONTROLLER_NAME", "ManifestSetReconciler", "RunContext", "new_controller", "register",
           "service_account_user", "desired_digest"]
