"""The ordered steps of a ManifestSet reconcile, one function each (`step(deps, ctx, obj)`):

    handle_request → validate → check_dependencies → fetch → build → substitute → apply → prune →
    check_health

Steps never call steps; they hand results on through the RunContext and read the controller's shared
parts from `Deps`. Each phase fails with its own Ready=False reason through `ctx.fail` (retried after
spec.retryInterval, Secret values scrubbed); only a bad spec stalls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tfcontroller.api.access import ACCESS_DENIED
from tfcontroller.api.constants import TERRAFORM_KIND
from tfcontroller.api.errors import StallingError
from tfcontroller.api.manifestset import ManifestSet
from tfcontroller.controllers.manifestset.claims import ClaimFinder
from tfcontroller.controllers.manifestset.context import (
    REASON_APPLY_FAILED,
    REASON_ARTIFACT_FAILED,
    REASON_BUILD_FAILED,
    REASON_DEPENDENCY_NOT_READY,
    REASON_HEALTH_CHECK_FAILED,
    REASON_PRUNE_FAILED,
    REASON_SOURCE_NOT_READY,
    REASON_SUBSTITUTION_FAILED,
    REASON_SUCCEEDED,
    Obj,
    RunContext,
)
from tfcontroller.controllers.manifestset.deps import dependency_problem, outputs_secret_name
from tfcontroller.controllers.manifestset.policy import (
    access_refused_message,
    applied_before,
    applying_service_account,
    desired_digest,
    outputs_written,
    service_account_user,
)
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, SECRETS, TERRAFORMS
from tfcontroller.manifests import health as health_mod
from tfcontroller.manifests.apply import Applier, ApplyError, ApplyOptions, Change, Manifest
from tfcontroller.manifests.inventory import InventoryEntry, entry_for, from_status, stale_entries, to_status
from tfcontroller.manifests.normalize import ordered, owner_labels
from tfcontroller.manifests.prune import PruneError
from tfcontroller.manifests.prune import prune as prune_objects
from tfcontroller.manifests.render import KustomizeConfig, RenderError, render
from tfcontroller.manifests.sources import SourceError, read_variables
from tfcontroller.manifests.substitute import SubstitutionError, plain_strings, substitute_object
from tfcontroller.runtime.access import refused_dependency, refused_source
from tfcontroller.runtime.reconciler import StepResult, ready
from tfcontroller.runtime.requested import mark_handled
from tfcontroller.source.store import fetch_artifact
from tfcontroller.terraform.archive import extract_artifact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deps:
    """The controller's shared parts the steps use."""

    kube: KubeClient  # the controller's own identity (ctx.kube may impersonate)
    kustomize: KustomizeConfig
    stopping: threading.Event  # a health wait ends early on shutdown
    health_poll: float
    # issue 16: the ServiceAccount (of the ManifestSet's own namespace) to apply as when the spec names
    # none (`--default-service-account`); None: the controller's identity (single-team installs)
    default_service_account: str | None = None
    allow_cross_namespace_refs: bool = False  # `--allow-cross-namespace-refs`


Step = Callable[[Deps, RunContext, Obj], "StepResult | None"]


def handle_request(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    mark_handled(obj)


def validate(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    ctx.ms = ManifestSet.from_dict(obj)  # SpecError: stalled until the spec changes
    sa = applying_service_account(ctx.ms.spec.service_account_name, deps.default_service_account)
    ctx.service_account = sa
    ctx.kube = deps.kube.impersonating(service_account_user(ctx.namespace, sa)) if sa else deps.kube


def check_dependencies(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    assert ctx.ms is not None
    for ref in ctx.ms.spec.depends_on:
        refused = refused_dependency(ref.kind, ref.namespace, ref.name, ctx.namespace,
                                     deps.allow_cross_namespace_refs)
        if refused:
            raise StallingError(ACCESS_DENIED, refused)
        res = TERRAFORMS if ref.kind == TERRAFORM_KIND else MANIFESTSETS
        dep = deps.kube.get_or_none(res, ref.name, ref.namespace)
        secret_exists: bool | None = None
        if dep is not None and ref.kind == TERRAFORM_KIND:
            secret = outputs_secret_name(dep)
            if secret and ref.namespace != ctx.namespace:
                # another namespace's Terraform (allowed by the flag): its status only, never its Secret
                secret_exists = outputs_written(dep)
            elif secret:
                secret_exists = deps.kube.get_or_none(SECRETS, secret, ref.namespace) is not None
        problem = dependency_problem(ref.kind, ref.key, dep, secret_exists)
        if problem:
            raise ctx.fail(REASON_DEPENDENCY_NOT_READY, f"dependency {problem}")


def fetch(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    assert ctx.ms is not None
    ref = ctx.ms.spec.source_ref
    repo = deps.kube.get_or_none(GITREPOSITORIES, ref.name, ref.namespace)
    refused = refused_source(deps.kube, ref.kind, ref.namespace, ref.name, ctx.namespace, repo,
                             deps.allow_cross_namespace_refs)
    if refused:
        raise StallingError(ACCESS_DENIED, refused)
    artifact = ((repo or {}).get("status") or {}).get("artifact") or {}
    if not artifact.get("url"):  # waiting, not failing (Flux: Info): a Normal Event, an info log line
        what = "not found" if repo is None else "has no artifact yet"
        raise ctx.fail(REASON_SOURCE_NOT_READY, f"GitRepository {ref.key} {what}")
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


def build(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    assert ctx.ms is not None and ctx.root is not None
    try:
        substitutes = bool(ctx.ms.spec.substitute or ctx.ms.spec.substitute_from)
        rendered = render(ctx.root, ctx.ms.spec.path, deps.kustomize, mark_quoted=substitutes)
    except RenderError as exc:
        raise ctx.fail(REASON_BUILD_FAILED, str(exc)) from None
    ctx.rendered.manifests = [Manifest(r.obj, r.source) for r in rendered]


def substitute(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    assert ctx.ms is not None
    spec = ctx.ms.spec
    if not spec.substitute and not spec.substitute_from:
        # substitution is opt-in, as in Flux: `${...}` in manifests stays as written
        ctx.rendered.manifests = [Manifest(plain_strings(m.obj), m.source) for m in ctx.rendered.manifests]
        return
    try:
        variables = read_variables(deps.kube, ctx.namespace, spec.substitute_from, spec.substitute)
    except SourceError as exc:
        raise ctx.fail(REASON_SUBSTITUTION_FAILED, str(exc)) from None
    ctx.rendered.variables, ctx.secret_values = variables.values, variables.secrets
    out = []
    for m in ctx.rendered.manifests:
        try:
            out.append(Manifest(substitute_object(m.obj, ctx.rendered.variables), m.source))
        except SubstitutionError as exc:
            raise ctx.fail(REASON_SUBSTITUTION_FAILED, f"{m.source}: {exc}") from None
    ctx.rendered.manifests = out


def apply(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    assert ctx.ms is not None and ctx.kube is not None
    spec = ctx.ms.spec
    status = obj.setdefault("status", {})
    previous = from_status(status.get("inventory"))
    applier = Applier(ctx.kube, ApplyOptions(
        default_namespace=ctx.namespace, target_namespace=spec.target_namespace,
        labels=owner_labels(ctx.name, ctx.namespace), force_recreate=spec.force,
    ))
    entries: list[InventoryEntry] = []
    try:
        desired = applier.applied_objects(ordered(ctx.rendered.manifests, lambda m: m.obj))
    except ApplyError:
        desired = []  # a kind served only after a CRD of this set is applied: no digest this time
    if ctx.service_account:
        _check_access(ctx, applier)
    done = ctx.applied
    done.digest = desired_digest(desired) if desired else ""
    done.drift_of_same_render = bool(done.digest) and status.get("lastAppliedDigest") == done.digest
    try:
        for m in ordered(ctx.rendered.manifests, lambda m: m.obj):
            change = applier.apply_one(m)
            done.changes.append(change)
            entries.append(entry_for(change.obj))
    except ApplyError as exc:
        # keep what was applied in the inventory so that a later prune can still find it
        status["inventory"] = to_status(sorted(set(previous) | set(entries)))
        raise ctx.fail(REASON_APPLY_FAILED, f"{exc}; {applied_before(done.changes)}") from None
    done.inventory = sorted(set(entries))
    if not done.digest:
        done.digest = desired_digest(applier.applied_objects(ordered(ctx.rendered.manifests, lambda m: m.obj)))


def _check_access(ctx: RunContext, applier: Applier) -> None:
    """Applying as a ServiceAccount: every object RBAC would refuse it is named before the first write,
    and the run stops with nothing applied and nothing pruned (the prune step does not run)."""
    user = service_account_user(ctx.namespace, ctx.service_account or "")
    try:
        refused = applier.refusals(ctx.rendered.manifests)
    except ApiError as exc:
        raise ctx.fail(REASON_APPLY_FAILED, f"cannot check access as {user}: {exc.message}") from None
    if refused:
        raise ctx.fail(REASON_APPLY_FAILED, access_refused_message(user, [r.describe() for r in refused]))


def prune(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    assert ctx.ms is not None and ctx.kube is not None
    status = obj.setdefault("status", {})
    previous = from_status(status.get("inventory"))
    retained: list[InventoryEntry] = []
    if ctx.ms.spec.prune:
        stale = stale_entries(previous, ctx.applied.inventory)
        claims = ClaimFinder(deps.kube, ctx.namespace, ctx.name, ctx.workdir / "claims", deps.kustomize,
                             roots={(ctx.ms.spec.source_ref.key, ctx.revision): ctx.root})
        try:
            ctx.applied.pruned = prune_objects(ctx.kube, stale, owner_labels(ctx.name, ctx.namespace),
                                               claims.claimant)
        except PruneError as exc:
            status["inventory"] = to_status(sorted(set(previous) | set(ctx.applied.inventory)))
            raise ctx.fail(REASON_PRUNE_FAILED, str(exc)) from None
        retained = ctx.applied.pruned.retained
        for kept in ctx.applied.pruned.kept:
            log.info("not pruned: %s", kept, extra={"obj": f"{ctx.namespace}/{ctx.name}"})
    # objects another ManifestSet declares stay listed until it has taken them over (see prune.py)
    status["inventory"] = to_status(ctx.applied.inventory + retained)
    status["lastAppliedDigest"] = ctx.applied.digest


def check_health(deps: Deps, ctx: RunContext, obj: Obj) -> StepResult:
    assert ctx.ms is not None and ctx.kube is not None
    status = obj.setdefault("status", {})
    done = ready(REASON_SUCCEEDED, f"Applied revision: {ctx.revision}")
    if not ctx.ms.spec.wait or not ctx.applied.changes:
        status["lastAppliedRevision"] = ctx.revision
        return done
    deadline = time.monotonic() + ctx.ms.spec.timeout
    while True:
        result = health_mod.summarize([health_mod.assess(_live(ctx, ch)) for ch in ctx.applied.changes])
        if result.status == health_mod.Health.CURRENT:
            status["lastAppliedRevision"] = ctx.revision
            return done
        if result.status == health_mod.Health.FAILED:
            raise ctx.fail(REASON_HEALTH_CHECK_FAILED, f"health check failed: {result.message}")
        if time.monotonic() >= deadline or deps.stopping.is_set():
            raise ctx.fail(REASON_HEALTH_CHECK_FAILED,
                           f"timeout after {ctx.ms.spec.timeout:.0f}s waiting for {result.message}")
        time.sleep(deps.health_poll)


def _live(ctx: RunContext, change: Change) -> Obj:
    assert ctx.kube is not None
    meta = change.obj.get("metadata") or {}
    try:
        res = ctx.kube.resource_for(change.obj["apiVersion"], change.obj["kind"])
        return ctx.kube.get_or_none(res, meta["name"], meta.get("namespace")) or change.obj
    except ApiError as exc:
        raise ctx.fail(REASON_HEALTH_CHECK_FAILED, f"{change.label}: cannot read it: {exc.message}") from None


STEPS: tuple[Step, ...] = (handle_request, validate, check_dependencies, fetch, build, substitute, apply, prune,
                           check_health)
