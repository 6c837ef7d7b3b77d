"""`tfcontroller.io/requested-at`: reconcile now, and say in status that the request was handled.

Any new value of the annotation makes the informer enqueue the object (annotations changed); the
reconciler then echoes the value into `status.lastHandledRequestedAt`, so that `kubectl wait` or the
CLI can tell when its request has been served (the same contract as Flux's `reconcile.fluxcd.io/requestedAt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfcontroller.api.constants import ANNOTATION_REQUESTED_AT

REQUESTED_AT_ANNOTATION = ANNOTATION_REQUESTED_AT
STATUS_FIELD = "lastHandledRequestedAt"


@dataclass(frozen=True)
class Request:
    is_new: bool  # the annotation holds a value not yet echoed in status
    value: str | None  # the annotation's value (None when absent)

    def status_update(self) -> dict[str, Any]:
        """Fields to merge into status once the request has been handled ({} when nothing to echo)."""
        return {STATUS_FIELD: self.value} if self.is_new and self.value is not None else {}


def requested(obj: dict[str, Any]) -> Request:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REQUESTED_AT_ANNOTATION)
    handled = (obj.get("status") or {}).get(STATUS_FIELD)
    return Request(is_new=value is not None and value != handled, value=value)


def mark_handled(obj: dict[str, Any]) -> bool:
    """Echo a new request into `obj['status']` in place; True when something was set."""
    req = requested(obj)
    update = req.status_update()
    if update:
        obj.setdefault("status", {}).update(update)
    return bool(update)
