"""Status patches: send only what changed, once, and survive a concurrent writer.

`status_patch(before, after)` is a JSON merge patch (RFC 7386) of the status alone: changed keys,
removed keys as null, lists (such as `conditions`) whole — CRDs accept no strategic merge. The
patch carries the resourceVersion the controller read, so a concurrent write makes it fail with 409
Conflict; `patch_status_with_retry` then re-reads the object, re-applies the controller's changes
on top of the fresh status (conditions merged by type, so another writer's condition types survive),
and tries again (tenacity).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random

from tfcontroller.api.mergepatch import json_merge_patch
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Conflict
from tfcontroller.kube.resources import Resource

log = logging.getLogger(__name__)

_ABSENT = object()


def merge_patch(before: Any, after: Any) -> Any:
    """The JSON merge patch turning `before` into `after` (dicts recurse; anything else is replaced).
    Returns an empty dict when nothing changed."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return after
    patch: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key, _ABSENT)
        if old is _ABSENT:
            patch[key] = value
        elif isinstance(old, dict) and isinstance(value, dict):
            sub = merge_patch(old, value)
            if sub:
                patch[key] = sub
        elif old != value:
            patch[key] = value
    for key in before:
        if key not in after:
            patch[key] = None
    return patch


def status_patch(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Merge patch between the statuses of two versions of an object ({} when unchanged)."""
    patch: dict[str, Any] = merge_patch(before.get("status") or {}, after.get("status") or {})
    return patch


def merge_conditions(fresh: list[dict[str, Any]], before: list[dict[str, Any]],
                     ours: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Re-apply our condition changes (relative to `before`) onto a freshly read list, by type."""
    by_type_before = {c.get("type"): c for c in before}
    by_type_ours = {c.get("type"): c for c in ours}
    result = []
    for cond in fresh:
        t = cond.get("type")
        if t in by_type_before and t not in by_type_ours:
            continue  # we removed it
        if t in by_type_ours and by_type_ours[t] != by_type_before.get(t):
            result.append(by_type_ours[t])  # we changed it
        else:
            result.append(cond)
    present = {c.get("type") for c in result}
    for cond in ours:
        if cond.get("type") not in present and cond != by_type_before.get(cond.get("type")):
            result.append(cond)  # we added it
    return result


def rebase_status(fresh_status: dict[str, Any], before_status: dict[str, Any],
                  after_status: dict[str, Any]) -> dict[str, Any]:
    """Our status changes (before → after) applied on top of a status someone else has written."""
    patch = merge_patch(before_status, after_status)
    rebased: dict[str, Any] = json_merge_patch(fresh_status, patch)
    if "conditions" in patch:
        rebased["conditions"] = merge_conditions(
            fresh_status.get("conditions") or [], before_status.get("conditions") or [],
            after_status.get("conditions") or [],
        )
    return rebased


def patch_status_with_retry(
    kube: KubeClient,
    resource: Resource,
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    attempts: int = 5,
    on_conflict: Callable[[int], None] | None = None,
) -> dict[str, Any] | None:
    """Patch `after`'s status relative to `before` (what was read). Nothing is sent when nothing
    changed. Returns the object the server returned (None when nothing was sent). Raises NotFound
    when the object is gone, Conflict when `attempts` conflicts in a row happened."""
    meta = before["metadata"]
    name, namespace = meta["name"], meta.get("namespace")
    before_status = copy.deepcopy(before.get("status") or {})
    after_status = copy.deepcopy(after.get("status") or {})
    state = {"base": before_status, "rv": meta.get("resourceVersion"), "attempt": 0}

    def once() -> dict[str, Any] | None:
        state["attempt"] += 1
        if state["attempt"] > 1:
            if on_conflict:
                on_conflict(state["attempt"] - 1)
            fresh = kube.get(resource, name, namespace)
            fresh_status = fresh.get("status") or {}
            state["base"] = fresh_status
            state["target"] = rebase_status(fresh_status, before_status, after_status)
            state["rv"] = fresh["metadata"].get("resourceVersion")
        target = state.get("target", after_status)
        patch = merge_patch(state["base"], target)
        if not patch:
            return None
        return kube.patch_status(resource, name, namespace, patch, resource_version=state["rv"])

    retrying = Retrying(
        retry=retry_if_exception_type(Conflict),
        stop=stop_after_attempt(attempts),
        wait=wait_random(0.01, 0.1),
        reraise=True,
    )
    return retrying(once)
