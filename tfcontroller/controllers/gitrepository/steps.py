"""The ordered steps of a GitRepository reconcile, one function each (`step(deps, ctx, obj)`):

    handle_request → validate → load_credentials → resolve → fetch → store_artifact

Steps never call steps; they hand results on through the RunContext and read the controller's shared
parts (client, fetcher, store, ls-remote cache) from `Deps`. A bad spec raises InvalidSpecError
(stalls); everything else is retried by the frame (reconciler.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tfcontroller.api.errors import SpecError
from tfcontroller.api.gitrepository import GitRepository
from tfcontroller.api.redact import redact_url
from tfcontroller.controllers.gitrepository.context import REASON_SUCCEEDED, Obj, RunContext
from tfcontroller.controllers.gitrepository.policy import artifact_is_current, ref_spec_of, succeeded_message
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.runtime.reconciler import StepResult, ready
from tfcontroller.runtime.requested import mark_handled
from tfcontroller.source.artifact import ignore_spec
from tfcontroller.source.auth import GitAuth
from tfcontroller.source.errors import AuthenticationFailedError, InvalidSpecError
from tfcontroller.source.git import GitFetcher, RemoteRefs
from tfcontroller.source.refs import resolve_ref
from tfcontroller.source.store import ArtifactStore

log = logging.getLogger(__name__)

# (url, auth, timeout, bypass cache) -> the remote's refs, through the controller's shared TTL cache
RemoteRefsFn = Callable[[str, GitAuth | None, float, bool], RemoteRefs]


@dataclass(frozen=True)
class Deps:
    """The controller's shared parts the steps use."""

    kube: KubeClient
    fetcher: GitFetcher
    store: ArtifactStore
    remote_refs: RemoteRefsFn


Step = Callable[[Deps, RunContext, Obj], "StepResult | None"]


def handle_request(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    """Echo a new `requested-at` value into status (the run itself is the handling)."""
    mark_handled(obj)


def validate(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    try:
        ctx.repo = GitRepository.from_dict(obj)
    except SpecError as exc:
        raise InvalidSpecError(exc.message) from None
    ctx.ref_spec = ref_spec_of(ctx.repo)  # a bad semver range raises InvalidSpecError
    ignore_spec(ctx.repo.spec.ignore)


def load_credentials(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    assert ctx.repo is not None
    secret = ctx.repo.spec.secret_ref
    if not secret:
        return
    try:
        data = deps.kube.read_secret_data(ctx.namespace, secret)
    except NotFound:
        raise AuthenticationFailedError(
            f"secret '{ctx.namespace}/{secret}' named in spec.secretRef not found") from None
    ctx.auth = GitAuth.from_secret_data(data)


def resolve(deps: Deps, ctx: RunContext, obj: Obj) -> StepResult | None:
    """Resolve the ref with (cached) ls-remote; stop when the current artifact already has it."""
    assert ctx.repo is not None and ctx.ref_spec is not None
    spec = ctx.repo.spec
    if ctx.ref_spec.kind == "commit":
        ctx.resolved = resolve_ref({}, ctx.ref_spec)
    else:
        refs = deps.remote_refs(spec.url, ctx.auth, spec.timeout, ctx.bypass_cache)
        ctx.resolved = resolve_ref(refs, ctx.ref_spec, refs.head_target)
    status = obj.setdefault("status", {})
    if not artifact_is_current(status, ctx.repo.meta.generation, ctx.resolved.revision):
        return None
    try:
        stored = deps.store.lookup(ctx.namespace, ctx.name, status["artifact"]["digest"])
    except ValueError:  # not a sha256 digest (edited by hand): rebuild
        stored = None
    if stored is None:
        return None  # the file is gone (a fresh volume): rebuild it
    # The server address may differ since the last run (a restart): keep path and url current.
    status["artifact"] = {**status["artifact"], "path": stored.path, "url": stored.url}
    ctx.artifact = stored
    revision = ctx.resolved.revision
    return StepResult("stop", reason=REASON_SUCCEEDED, message=succeeded_message(revision))


def fetch(deps: Deps, ctx: RunContext, obj: Obj) -> None:
    assert ctx.repo is not None and ctx.ref_spec is not None
    spec = ctx.repo.spec
    ctx.fetched = deps.fetcher.fetch(spec.url, ctx.ref_spec, ctx.auth, spec.timeout, resolved=ctx.resolved)


def store_artifact(deps: Deps, ctx: RunContext, obj: Obj) -> StepResult:
    assert ctx.repo is not None and ctx.fetched is not None
    fetched, ignore = ctx.fetched, ctx.repo.spec.ignore_patterns
    status = obj.setdefault("status", {})
    previous = status.get("artifact") or {}
    digest = str(previous.get("digest") or "")
    valid = digest.startswith("sha256:") and len(digest) == 71  # hand-edited values are not protected
    artifact = deps.store.put(
        ctx.namespace, ctx.name, lambda dest: deps.fetcher.build_artifact(fetched, dest, ignore),
        fetched.revision, protect=[digest] if valid else [],
    )
    status["artifact"] = artifact.to_status()
    ctx.artifact = artifact
    ctx.new_artifact = (previous.get("revision"), previous.get("digest")) != (artifact.revision, artifact.digest)
    if ctx.new_artifact:
        log.info("stored artifact for revision %s (%s, %d bytes) from %s", artifact.revision,
                 artifact.digest, artifact.size, redact_url(ctx.repo.spec.url),
                 extra={"obj": f"{ctx.namespace}/{ctx.name}"})
    return ready(REASON_SUCCEEDED, succeeded_message(artifact.revision))


STEPS: tuple[Step, ...] = (handle_request, validate, load_credentials, resolve, fetch, store_artifact)
