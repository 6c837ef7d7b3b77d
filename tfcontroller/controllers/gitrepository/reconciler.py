"""The GitRepository reconciler: poll a remote, publish its tree as a content-addressed artifact.

Shape (Flux source-controller's, conventions.md): `reconcile(key)` reads the object, handles deletion
(the finalizer removes the object's artifacts) and suspension, then runs the ordered steps of
steps.py through the runtime's `run_frame`, which summarises Ready/Reconciling/Stalled and patches
status exactly once:

    handle_request → validate → load_credentials → resolve → fetch → store_artifact

Why each choice:
- Cheap polling: `resolve` asks only `git ls-remote` (through a per-round cache shared by every object
  on the same URL and credentials, lscache.py, so N objects on one remote cost one round trip). For
  the cache to see them together, polls of one URL are aligned on a schedule of their own
  (policy.next_poll_delay: ticks every `interval` at a phase derived from the URL, so different
  remotes spread over the interval instead of all polling at once). When the remote
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
import functools
import logging
import threading
import time
from collections.abc import Callable

from tfcontroller.api.constants import FINALIZER
from tfcontroller.api.meta import ObjectMeta
from tfcontroller.controllers.gitrepository import steps
from tfcontroller.controllers.gitrepository.context import (
    DEFAULT_LS_REMOTE_TTL,
    REASON_NEW_ARTIFACT,
    Obj,
    RunContext,
)
from tfcontroller.controllers.gitrepository.lscache import TTLCache, auth_fingerprint
from tfcontroller.controllers.gitrepository.policy import next_poll_delay, older_than, succeeded_message
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.kube.events import EventRecorder
from tfcontroller.kube.resources import GITREPOSITORIES, split_key
from tfcontroller.runtime.finalizers import ensure_finalizer, release_finalizer
from tfcontroller.runtime.reconciler import StepResult, log_outcome, ready_transition, run_frame
from tfcontroller.runtime.requested import requested
from tfcontroller.runtime.result import Result
from tfcontroller.runtime.status import patch_status_with_retry
from tfcontroller.runtime.suspend import report_suspended
from tfcontroller.source.auth import GitAuth
from tfcontroller.source.git import GitFetcher, RemoteRefs
from tfcontroller.source.store import ArtifactStore

log = logging.getLogger(__name__)


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
        self.deps = steps.Deps(kube, fetcher, store, self._remote_refs)
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
            obj = self._add_finalizer(obj)
        if (obj.get("spec") or {}).get("suspend") is True:
            log.info("reconciliation is suspended", extra={"obj": key})
            report_suspended(self.kube, GITREPOSITORIES, obj)
            return Result()

        ctx = RunContext(namespace, name, bypass_cache=requested(obj).is_new)
        before_conditions = copy.deepcopy((obj.get("status") or {}).get("conditions") or [])
        outcome = run_frame(ctx, obj, self.steps(), self._patch_status)
        self._record_events(obj, ctx, before_conditions)
        log_outcome(log, outcome, key)
        if outcome.kind == "success" and ctx.repo is not None:
            return Result(requeue_after=next_poll_delay(time.time(), ctx.repo.spec.interval, ctx.repo.spec.url))
        return outcome.result(interval=ctx.interval)

    def steps(self) -> list[Callable[[RunContext, Obj], StepResult | None]]:
        """The ordered steps of steps.py, bound to this controller's shared parts."""
        return [functools.partial(step, self.deps) for step in steps.STEPS]

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

    def _add_finalizer(self, obj: Obj) -> Obj:
        """Add our finalizer (runtime/finalizers.py: guarded by resourceVersion, bounded retry)."""
        written = ensure_finalizer(self.kube, GITREPOSITORIES, obj, FINALIZER)
        self._remember_write(written)
        return written

    def _finalize(self, obj: Obj, meta: ObjectMeta) -> None:
        """Remove the object's artifacts, then our finalizer, so the API server can delete it."""
        self.store.delete(meta.namespace, meta.name)
        if FINALIZER not in meta.finalizers:
            return
        if release_finalizer(self.kube, GITREPOSITORIES, obj, FINALIZER) is None:
            return
        log.info("artifacts removed; finalizer released", extra={"obj": meta.key})

    def _record_events(self, obj: Obj, ctx: RunContext, before_conditions: list[Obj]) -> None:
        new_artifact = ctx.new_artifact and ctx.artifact is not None
        if new_artifact and ctx.artifact is not None:
            self.events.normal(obj, REASON_NEW_ARTIFACT, succeeded_message(ctx.artifact.revision))
        after_conditions = (obj.get("status") or {}).get("conditions") or []
        notice = ready_transition(before_conditions, after_conditions)
        if notice is not None and notice.wanted(quiet_success=new_artifact):
            self.events.event(obj, notice.type, notice.reason, notice.message)

