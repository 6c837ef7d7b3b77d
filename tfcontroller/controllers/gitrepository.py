"""The GitRepository reconciler: poll a remote, publish its tree as a content-addressed artifact.

Shape (Flux source-controller's, conventions.md): `reconcile(key)` reads the object, handles deletion
(the finalizer removes the object's artifacts) and suspension, then runs ordered steps through the
runtime's `run_frame`, which summarises Ready/Reconciling/Stalled and patches status exactly once:

    handle_request → validate → load_credentials → resolve → fetch → store_artifact

Why each choice:
- Cheap polling: `resolve` asks only `git ls-remote` (through a per-round cache shared by every object
  on the same URL and credentials, so N objects on one remote cost one round trip). For the cache to
  see them together, polls of one URL are aligned on a schedule of their own (`next_poll_delay`: ticks
  every `interval` at a phase derived from the URL, so different remotes spread over the interval
  instead of all polling at once). When the remote
  ref still names the revision of `status.artifact`, the spec is unchanged and the artifact file is
  still in the store, the run stops there: no fetch, no repack, no status change, no Event.
- Failures keep the last good artifact: nothing touches `status.artifact` or the store until a new
  artifact is complete, so dependants keep running from what they had (and can still download it).
- Errors carry their outcome (source/errors.py): a bad spec stalls (InvalidSpec), everything else is
  retried with the manager's exponential backoff; a healthy run requeues after `spec.interval`.
- Events: a Normal `NewArtifact` when the revision or digest changes, a Normal on recovery, and one
  Warning when Ready turns False (or its reason changes) — never one per retry or per quiet poll.
- Credentials come from the Secret into `GitAuth` and reach git only through the environment of one
  process (source/auth.py); URLs in logs and messages are redacted.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api.constants import FINALIZER
from tfcontroller.api.errors import SpecError
from tfcontroller.api.gitrepository import GitRepository
from tfcontroller.api.meta import ObjectMeta
from tfcontroller.api.redact import redact_url
from tfcontroller.controllers.gitrepository_lscache import TTLCache, auth_fingerprint
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Conflict, NotFound
from tfcontroller.kube.events import EventRecorder
from tfcontroller.kube.resources import GITREPOSITORIES, split_key
from tfcontroller.runtime.reconciler import StepResult, ready, ready_transition, run_frame
from tfcontroller.runtime.requested import mark_handled, requested
from tfcontroller.runtime.result import Result
from tfcontroller.runtime.status import patch_status_with_retry
from tfcontroller.source.artifact import ignore_spec
from tfcontroller.source.auth import GitAuth
from tfcontroller.source.errors import AuthenticationFailedError, InvalidSpecError
from tfcontroller.source.git import FetchResult, GitFetcher, RemoteRefs
from tfcontroller.source.refs import RefSpec, ResolvedRef, resolve_ref
from tfcontroller.source.store import Artifact, ArtifactStore

log = logging.getLogger(__name__)

CONTROLLER_NAME = "gitrepository"
REASON_SUCCEEDED = "Succeeded"
REASON_NEW_ARTIFACT = "NewArtifact"
DEFAULT_LS_REMOTE_TTL = 5.0
MIN_POLL_FRACTION = 0.2  # an aligned poll is never sooner than this share of the interval

Obj = dict[str, Any]


def succeeded_message(revision: str) -> str:
    return f"stored artifact for revision '{revision}'"


@dataclass
class RunContext:
    """What the steps of one reconcile hand to each other."""

    namespace: str
    name: str
    bypass_cache: bool = False
    repo: GitRepository | None = None
    ref_spec: RefSpec | None = None
    auth: GitAuth | None = None
    resolved: ResolvedRef | None = None
    fetched: FetchResult | None = None
    artifact: Artifact | None = None
    new_artifact: bool = False

    @property
    def interval(self) -> float | None:
        return self.repo.spec.interval if self.repo else None


def ref_spec_of(repo: GitRepository) -> RefSpec:
    """The source library's RefSpec for the typed spec's single ref (None: the remote's HEAD)."""
    ref = repo.spec.ref
    spec = RefSpec(**{ref.kind: ref.value}) if ref is not None else RefSpec()
    spec.validate()
    return spec


def next_poll_delay(now: float, interval: float, url: str) -> float:
    """Seconds until the next poll tick of `url`: ticks every `interval` at a phase fixed by the URL.

    Every object on one URL (and interval) lands on the same ticks, so one cached ls-remote serves them
    all; an object off the schedule (new, recovered) joins it, waiting at least MIN_POLL_FRACTION and at
    most 1 + MIN_POLL_FRACTION intervals. Pure, for unit tests."""
    if interval <= 0:
        return 0.0
    phase = int.from_bytes(hashlib.sha256(url.strip().encode()).digest()[:8], "big") / 2**64 * interval
    delay = (phase - now) % interval
    if delay < MIN_POLL_FRACTION * interval:
        delay += interval
    return delay


def artifact_is_current(status: Obj, generation: int, revision: str) -> bool:
    """Whether `status.artifact` already stands for `revision` under the current spec (pure)."""
    artifact = status.get("artifact") or {}
    return (
        bool(artifact.get("digest"))
        and artifact.get("revision") == revision
        and status.get("observedGeneration") == generation
    )


class GitRepositoryReconciler:
    """One instance per manager; `reconcile` is safe to call from several worker threads."""

    def __init__(
        self,
        kube: KubeClient,
        fetcher: GitFetcher,
        store: ArtifactStore,
        events: EventRecorder | None = None,
        *,
        ls_remote_ttl: float = DEFAULT_LS_REMOTE_TTL,
        cache_get: Callable[[str, str], Obj | None] | None = None,
    ) -> None:
        self.kube = kube
        self.fetcher = fetcher
        self.store = store
        self.events = events or EventRecorder(kube)
        self.ls_remote_ttl = ls_remote_ttl
        self.remote_refs: TTLCache[RemoteRefs] = TTLCache()
        self.cache_get = cache_get  # (name, namespace) -> cached object, e.g. the primary informer's
        # key -> resourceVersion of the newest object we wrote (read-your-writes over a lagging cache)
        self._written: dict[str, str] = {}
        self._written_lock = threading.Lock()

    # ------------------------------------------------------------------ entry point

    def reconcile(self, key: str) -> Result:
        namespace, name = split_key(key)
        namespace = namespace or "default"
        obj = self._read(namespace, name)
        if obj is None:
            # Gone without our finalizer running (it was removed by hand): drop orphaned artifacts.
            self.store.delete(namespace, name)
            return Result()
        meta = ObjectMeta.from_dict(obj)
        if meta.deleting:
            self._finalize(obj, meta)
            return Result()
        if FINALIZER not in meta.finalizers:
            obj = self._add_finalizer(obj, meta)
        if (obj.get("spec") or {}).get("suspend") is True:
            log.info("reconciliation is suspended", extra={"obj": key})
            return Result()

        ctx = RunContext(namespace, name, bypass_cache=requested(obj).is_new)
        before_conditions = copy.deepcopy((obj.get("status") or {}).get("conditions") or [])
        outcome = run_frame(ctx, obj, self.steps(), self._patch_status)
        self._record_events(obj, ctx, before_conditions)
        if outcome.kind == "transient":
            log.info("reconcile failed: %s", outcome.error, extra={"obj": key})
        if outcome.kind == "success" and ctx.repo is not None:
            return Result(requeue_after=next_poll_delay(time.time(), ctx.repo.spec.interval, ctx.repo.spec.url))
        return outcome.result(interval=ctx.interval)

    def steps(self) -> list[Callable[[RunContext, Obj], StepResult | None]]:
        return [self.handle_request, self.validate, self.load_credentials, self.resolve, self.fetch,
                self.store_artifact]

    # ------------------------------------------------------------------ steps

    def handle_request(self, ctx: RunContext, obj: Obj) -> None:
        """Echo a new `requested-at` value into status (the run itself is the handling)."""
        mark_handled(obj)

    def validate(self, ctx: RunContext, obj: Obj) -> None:
        try:
            ctx.repo = GitRepository.from_dict(obj)
        except SpecError as exc:
            raise InvalidSpecError(exc.message) from None
        ctx.ref_spec = ref_spec_of(ctx.repo)  # a bad semver range raises InvalidSpecError
        ignore_spec(ctx.repo.spec.ignore)

    def load_credentials(self, ctx: RunContext, obj: Obj) -> None:
        assert ctx.repo is not None
        secret = ctx.repo.spec.secret_ref
        if not secret:
            return
        try:
            data = self.kube.read_secret_data(ctx.namespace, secret)
        except NotFound:
            raise AuthenticationFailedError(
                f"secret '{ctx.namespace}/{secret}' named in spec.secretRef not found") from None
        ctx.auth = GitAuth.from_secret_data(data)

    def resolve(self, ctx: RunContext, obj: Obj) -> StepResult | None:
        """Resolve the ref with (cached) ls-remote; stop when the current artifact already has it."""
        assert ctx.repo is not None and ctx.ref_spec is not None
        spec = ctx.repo.spec
        if ctx.ref_spec.kind == "commit":
            ctx.resolved = resolve_ref({}, ctx.ref_spec)
        else:
            refs = self._remote_refs(spec.url, ctx.auth, spec.timeout, ctx.bypass_cache)
            ctx.resolved = resolve_ref(refs, ctx.ref_spec, refs.head_target)
        status = obj.setdefault("status", {})
        if not artifact_is_current(status, ctx.repo.meta.generation, ctx.resolved.revision):
            return None
        try:
            stored = self.store.lookup(ctx.namespace, ctx.name, status["artifact"]["digest"])
        except ValueError:  # not a sha256 digest (edited by hand): rebuild
            stored = None
        if stored is None:
            return None  # the file is gone (a fresh volume): rebuild it
        # The server address may differ since the last run (a restart): keep path and url current.
        status["artifact"] = {**status["artifact"], "path": stored.path, "url": stored.url}
        ctx.artifact = stored
        revision = ctx.resolved.revision
        return StepResult("stop", reason=REASON_SUCCEEDED, message=succeeded_message(revision))

    def fetch(self, ctx: RunContext, obj: Obj) -> None:
        assert ctx.repo is not None and ctx.ref_spec is not None
        spec = ctx.repo.spec
        ctx.fetched = self.fetcher.fetch(spec.url, ctx.ref_spec, ctx.auth, spec.timeout, resolved=ctx.resolved)

    def store_artifact(self, ctx: RunContext, obj: Obj) -> StepResult:
        assert ctx.repo is not None and ctx.fetched is not None
        fetched, ignore = ctx.fetched, ctx.repo.spec.ignore_patterns
        status = obj.setdefault("status", {})
        previous = status.get("artifact") or {}
        digest = str(previous.get("digest") or "")
        valid = digest.startswith("sha256:") and len(digest) == 71  # hand-edited values are not protected
        artifact = self.store.put(
            ctx.namespace, ctx.name, lambda dest: self.fetcher.build_artifact(fetched, dest, ignore),
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

    # ------------------------------------------------------------------ helpers

    def _remote_refs(self, url: str, auth: GitAuth | None, timeout: float, bypass: bool) -> RemoteRefs:
        key = f"{url.strip()}\n{auth_fingerprint(auth)}"
        if bypass:
            self.remote_refs.invalidate(key)
        return self.remote_refs.get(key, self.ls_remote_ttl,
                                    lambda: self.fetcher.ls_remote(url, auth, timeout))

    def _read(self, namespace: str, name: str) -> Obj | None:
        """The object from the informer cache when it is at least as new as our own last write (a copy:
        steps mutate it), else from the API.

        Why: a watch can lag behind our own status patch (a busy machine); a reconcile that read the
        older object would redo the fetch and announce the same artifact again (a second `NewArtifact`).
        """
        key = f"{namespace}/{name}"
        if self.cache_get is not None:
            cached = self.cache_get(name, namespace)
            with self._written_lock:
                written = self._written.get(key)
            if cached is not None and not older_than(cached, written):
                return copy.deepcopy(cached)
        obj = self.kube.get_or_none(GITREPOSITORIES, name, namespace)
        if obj is None:
            with self._written_lock:
                self._written.pop(key, None)
        return obj

    def _remember_write(self, obj: object) -> None:
        """Note the resourceVersion of an object we wrote, so `_read` never serves an older one."""
        if not isinstance(obj, dict):
            return
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
        rv = str(meta.get("resourceVersion") or "")
        if rv:
            with self._written_lock:
                if older_than(obj, self._written.get(key)):
                    return
                self._written[key] = rv

    def _patch_status(self, before: Obj, after: Obj) -> object:
        try:
            written = patch_status_with_retry(self.kube, GITREPOSITORIES, before, after)
        except NotFound:
            return None  # deleted meanwhile; the delete event brings us back
        self._remember_write(written)
        return written

    def _add_finalizer(self, obj: Obj, meta: ObjectMeta, attempts: int = 3) -> Obj:
        """Add our finalizer guarded by resourceVersion (a concurrent writer's finalizers survive)."""
        for attempt in range(attempts):
            patch = {"metadata": {"finalizers": [*meta.finalizers, FINALIZER],
                                  "resourceVersion": meta.resource_version}}
            try:
                written = self.kube.patch(GITREPOSITORIES, meta.name, patch, meta.namespace)
                self._remember_write(written)
                return written
            except Conflict:
                if attempt == attempts - 1:
                    raise
                obj = self.kube.get(GITREPOSITORIES, meta.name, meta.namespace)
                meta = ObjectMeta.from_dict(obj)
                if FINALIZER in meta.finalizers:
                    return obj
        return obj

    def _finalize(self, obj: Obj, meta: ObjectMeta) -> None:
        """Remove the object's artifacts, then our finalizer, so the API server can delete it."""
        self.store.delete(meta.namespace, meta.name)
        if FINALIZER not in meta.finalizers:
            return
        remaining = [f for f in meta.finalizers if f != FINALIZER]
        patch = {"metadata": {"finalizers": remaining or None, "resourceVersion": meta.resource_version}}
        try:
            self.kube.patch(GITREPOSITORIES, meta.name, patch, meta.namespace)
        except NotFound:
            return
        log.info("artifacts removed; finalizer released", extra={"obj": meta.key})

    def _record_events(self, obj: Obj, ctx: RunContext, before_conditions: list[Obj]) -> None:
        if ctx.new_artifact and ctx.artifact is not None:
            self.events.normal(obj, REASON_NEW_ARTIFACT, succeeded_message(ctx.artifact.revision))
            return
        after_conditions = (obj.get("status") or {}).get("conditions") or []
        notice = ready_transition(before_conditions, after_conditions)
        if notice is not None:
            self.events.event(obj, notice.type, notice.reason, notice.message)


def older_than(obj: Obj, resource_version: str | None) -> bool:
    """Whether `obj` is older than `resource_version` (pure; False when either is unknown).

    Kubernetes calls resourceVersions opaque, but etcd's (and the dev cluster's) are increasing integers;
    client-go's MutationCache compares them the same way for the same purpose. A value that does not
    parse is treated as "not older", so a cache is never bypassed on a guess.
    """
    mine = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    if not resource_version or not mine.isdigit() or not resource_version.isdigit():
        return False
    return int(mine) < int(resource_version)


def is_ready(obj: Obj) -> bool:
    """Ready=True for the current generation (what dependants wait for)."""
    status = obj.get("status") or {}
    cond = c.find(status.get("conditions"), c.READY)
    generation = (obj.get("metadata") or {}).get("generation")
    return cond is not None and cond.status == c.TRUE and status.get("observedGeneration") == generation

