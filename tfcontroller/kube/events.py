"""Kubernetes Events (core/v1) about our objects, with repeats aggregated into one Event's `count`.

Why aggregate: a failing object is retried with backoff and would otherwise write a new Event per
attempt; like client-go's recorder, a repeat of the same (object, type, reason, message) bumps
`count` and `lastTimestamp` on the Event already written. Messages are truncated to the API limit;
callers must not put secret values in them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from tfcontroller.api.times import format_rfc3339
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import AlreadyExists, ApiError, NotFound
from tfcontroller.kube.resources import EVENTS

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
MAX_MESSAGE = 1024
_CACHE_SIZE = 4096




class EventRecorder:
    """Records Events; failures to record are logged and swallowed (an Event is never worth a retry)."""

    def __init__(self, kube: KubeClient, component: str = "tfcontroller", instance: str = "") -> None:
        self.kube = kube
        self.component = component
        self.instance = instance or component
        self._lock = threading.Lock()
        # aggregation key -> (event name, namespace, count)
        self._seen: OrderedDict[str, tuple[str, str, int]] = OrderedDict()

    def normal(self, obj: dict[str, Any], reason: str, message: str) -> dict[str, Any] | None:
        return self.event(obj, NORMAL, reason, message)

    def warning(self, obj: dict[str, Any], reason: str, message: str) -> dict[str, Any] | None:
        return self.event(obj, WARNING, reason, message)

    def event(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> dict[str, Any] | None:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        message = message[:MAX_MESSAGE]
        agg = "|".join([str(meta.get("uid", "")), obj.get("kind", ""), namespace, meta.get("name", ""),
                        event_type, reason, message])
        with self._lock:
            seen = self._seen.get(agg)
        try:
            if seen is not None:
                name, ns, count = seen
                try:
                    ev = self.kube.patch(
                        EVENTS, name, {"count": count + 1, "lastTimestamp": format_rfc3339()}, ns, patch_type="merge",
                    )
                    self._remember(agg, name, ns, count + 1)
                    return ev
                except NotFound:
                    pass  # expired or deleted: write a fresh one
            return self._create(obj, namespace, event_type, reason, message, agg)
        except ApiError as exc:
            log.warning("could not record event reason=%s: %s", reason, exc.reason,
                        extra={"obj": f"{namespace}/{meta.get('name', '')}"})
            return None

    def _create(self, obj: dict[str, Any], namespace: str, event_type: str, reason: str, message: str,
                agg: str) -> dict[str, Any]:
        meta = obj.get("metadata") or {}
        now = format_rfc3339()
        suffix = hashlib.sha256(f"{agg}|{time.time_ns()}".encode()).hexdigest()[:16]
        name = f"{meta.get('name', 'object')}.{suffix}"
        involved = {
            "apiVersion": obj.get("apiVersion", ""),
            "kind": obj.get("kind", ""),
            "name": meta.get("name", ""),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {k: v for k, v in involved.items() if v},
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            ev = self.kube.create(EVENTS, body, namespace)
        except AlreadyExists:
            ev = self.kube.get(EVENTS, name, namespace)
        self._remember(agg, name, namespace, 1)
        return ev

    def _remember(self, agg: str, name: str, namespace: str, count: int) -> None:
        with self._lock:
            self._seen[agg] = (name, namespace, count)
            self._seen.move_to_end(agg)
            while len(self._seen) > _CACHE_SIZE:
                self._seen.popitem(last=False)
