"""Adding and releasing a controller's finalizer: one copy for every controller.

Why one helper: both writes are guarded by the resourceVersion the controller read, so another
writer's finalizers (added or removed meanwhile) survive instead of being overwritten by a stale list.
A guarded write can meet 409 Conflict; the helper then re-reads the object, re-decides on the fresh
finalizer list (already there / already gone means done) and tries again a bounded number of times
before letting the Conflict propagate (the work queue retries the reconcile with backoff). Before
this helper there were three copies: a retry loop, an unbounded recursion on Conflict and one that
never retried.

The list arithmetic is pure (`with_finalizer`, `without_finalizer`) and unit-tested on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Conflict, NotFound
from tfcontroller.kube.resources import Resource

Obj = dict[str, Any]
DEFAULT_ATTEMPTS = 3


def with_finalizer(finalizers: list[str], finalizer: str) -> list[str] | None:
    """The list with `finalizer` appended, or None when it is already there (nothing to write)."""
    return None if finalizer in finalizers else [*finalizers, finalizer]


def without_finalizer(finalizers: list[str], finalizer: str) -> list[str] | None:
    """The list without `finalizer`, or None when it is not there (nothing to write)."""
    return [f for f in finalizers if f != finalizer] if finalizer in finalizers else None


def _finalizers(obj: Obj) -> list[str]:
    return [str(f) for f in (obj.get("metadata") or {}).get("finalizers") or []]


def _update_finalizers(kube: KubeClient, resource: Resource, obj: Obj,
                       decide: Callable[[list[str]], list[str] | None], attempts: int) -> Obj:
    """Write `decide(finalizers)` guarded by resourceVersion; on Conflict re-read and decide again.
    Returns the object as written (or as read when nothing was to be written); NotFound propagates."""
    for attempt in range(attempts):
        meta = obj.get("metadata") or {}
        wanted = decide(_finalizers(obj))
        if wanted is None:
            return obj
        # an empty list is sent as null: a merge patch with [] would keep nothing either, but null is
        # what the controllers always sent, and the API server drops the field
        patch = {"metadata": {"finalizers": wanted or None, "resourceVersion": meta.get("resourceVersion")}}
        try:
            return kube.patch(resource, str(meta.get("name")), patch, meta.get("namespace"))
        except Conflict:
            if attempt == attempts - 1:
                raise
            obj = kube.get(resource, str(meta.get("name")), meta.get("namespace"))
    return obj


def ensure_finalizer(kube: KubeClient, resource: Resource, obj: Obj, finalizer: str,
                     attempts: int = DEFAULT_ATTEMPTS) -> Obj:
    """`obj` with `finalizer` in its list (written when missing). Raises NotFound when the object is
    gone (the delete event brings the controller back) and Conflict after `attempts` lost races."""
    return _update_finalizers(kube, resource, obj, lambda fs: with_finalizer(fs, finalizer), attempts)


def release_finalizer(kube: KubeClient, resource: Resource, obj: Obj, finalizer: str,
                      attempts: int = DEFAULT_ATTEMPTS) -> Obj | None:
    """Remove `finalizer` so the API server can finish the deletion. Returns the object as written
    (or as read when ours was already gone), None when the object is gone; Conflict after `attempts`."""
    try:
        return _update_finalizers(kube, resource, obj, lambda fs: without_finalizer(fs, finalizer), attempts)
    except NotFound:
        return None
