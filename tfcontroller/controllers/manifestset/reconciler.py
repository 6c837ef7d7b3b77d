"""The ManifestSet reconciler: render manifests from a GitRepository artifact, substitute Terraform
outputs into them, and keep the cluster equal to them (design.md §1).

Shape (as the GitRepository reconciler, after Flux): deletion/finalizer/suspend first, then the ordered
steps of steps.py sharing a `RunContext` — request → validate → dependencies → artifact → build →
substitute → apply → prune → health — and one status patch in `run_frame`'s finally. Each phase fails with its own
Ready=False reason (SourceNotReady, ArtifactFailed, BuildFailed, SubstitutionFailed, DependencyNotReady, ApplyFailed,
PruneFailed, HealthCheckFailed) and is retried after `spec.retryInterval`; only a bad spec stalls.

Prune hands over instead of deleting an object another ManifestSet now declares (claims.py),
whichever of the two reconciles first; such an object stays in the inventory until the new owner applied it.

Self-heal: every interval the whole render is applied again with server-side apply; fields someone
changed by hand come back and an Event (reason DriftCorrected) names the objects and fields. A change
is "drift" when the desired set (its digest, in status) is the one applied last time.
"""

from __future__ import annotations

import copy
import functools
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from tfcontroller.api.constants import FINALIZER
from tfcontroller.api.meta import ObjectMeta
from tfcontroller.controllers.manifestset import steps
from tfcontroller.controllers.manifestset.claims import ClaimFinder
from tfcontroller.controllers.manifestset.context import (
    HEALTH_POLL,
    REASON_DRIFT_CORRECTED,
    REASON_SUCCEEDED,
    Obj,
    RunContext,
)
from tfcontroller.controllers.manifestset.policy import applying_service_account, service_account_user
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.kube.events import EventRecorder
from tfcontroller.kube.resources import MANIFESTSETS, split_key
from tfcontroller.manifests.inventory import from_status
from tfcontroller.manifests.normalize import owner_labels
from tfcontroller.manifests.prune import PruneError, prune
from tfcontroller.manifests.render import KustomizeConfig
from tfcontroller.runtime.finalizers import ensure_finalizer, release_finalizer
from tfcontroller.runtime.reconciler import StepResult, log_outcome, ready_transition, run_frame
from tfcontroller.runtime.result import Result
from tfcontroller.runtime.status import patch_status_with_retry
from tfcontroller.runtime.suspend import report_suspended

log = logging.getLogger(__name__)


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
        default_service_account: str | None = None,
        allow_cross_namespace_refs: bool = False,
    ) -> None:
        self.kube = kube
        self.events = events or EventRecorder(kube)
        self.workdir = Path(workdir) if workdir else Path(tempfile.gettempdir())
        self.kustomize = kustomize or KustomizeConfig()
        self.stopping = stopping or threading.Event()
        self.health_poll = health_poll
        self.default_service_account = default_service_account
        self.deps = steps.Deps(kube, self.kustomize, self.stopping, health_poll, default_service_account,
                               allow_cross_namespace_refs)

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
            obj = ensure_finalizer(self.kube, MANIFESTSETS, obj, FINALIZER)
        if (obj.get("spec") or {}).get("suspend") is True:
            log.info("reconciliation is suspended", extra={"obj": key})
            report_suspended(self.kube, MANIFESTSETS, obj)
            return Result()
        self.workdir.mkdir(parents=True, exist_ok=True)
        ctx = RunContext(namespace, name, Path(tempfile.mkdtemp(prefix="manifestset-", dir=self.workdir)))
        before_conditions = copy.deepcopy((obj.get("status") or {}).get("conditions") or [])
        try:
            outcome = run_frame(ctx, obj, self.steps(), self._patch_status)
        finally:
            shutil.rmtree(ctx.workdir, ignore_errors=True)
        self._record_events(obj, ctx, before_conditions)
        log_outcome(log, outcome, key)
        return outcome.result(interval=ctx.interval, retry_base=ctx.retry)

    def steps(self) -> list[Callable[[RunContext, Obj], StepResult | None]]:
        """The ordered steps of steps.py, bound to this controller's shared parts."""
        return [functools.partial(step, self.deps) for step in steps.STEPS]

    # ------------------------------------------------------------------ helpers

    def _patch_status(self, before: Obj, after: Obj) -> object:
        try:
            return patch_status_with_retry(self.kube, MANIFESTSETS, before, after)
        except NotFound:
            return None

    def _finalize(self, obj: Obj, meta: ObjectMeta) -> None:
        """With prune: true, delete what the inventory lists (honouring the opt-out); then let go."""
        if FINALIZER not in meta.finalizers:
            return
        spec = obj.get("spec") or {}
        if spec.get("prune") and not spec.get("suspend"):
            kube = self.kube
            account = applying_service_account(spec.get("serviceAccountName"), self.default_service_account)
            if account:
                kube = self.kube.impersonating(service_account_user(meta.namespace, account))
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
        release_finalizer(self.kube, MANIFESTSETS, obj, FINALIZER)

    def _record_events(self, obj: Obj, ctx: RunContext, before_conditions: list[Obj]) -> None:
        changed = [ch for ch in ctx.applied.changes if ch.action != "unchanged"]
        pruned = ctx.applied.pruned.deleted if ctx.applied.pruned else []
        not_pruned = ctx.applied.pruned.kept if ctx.applied.pruned else []  # "label: why", e.g. declared by another set
        if changed and ctx.applied.drift_of_same_render:
            self.events.warning(obj, REASON_DRIFT_CORRECTED,
                                "corrected drift: " + "; ".join(ch.describe() for ch in changed))
        elif changed or pruned:
            parts = ([ch.describe() for ch in changed] + [f"{p} pruned" for p in pruned]
                     + [f"{k} (not pruned)" for k in not_pruned])
            self.events.normal(obj, REASON_SUCCEEDED, f"revision {ctx.revision}: " + "; ".join(parts))
        notice = ready_transition(before_conditions, (obj.get("status") or {}).get("conditions") or [])
        if notice is not None and notice.wanted(quiet_success=bool(changed)):
            self.events.event(obj, notice.type, notice.reason, notice.message)

