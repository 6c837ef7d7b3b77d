"""Flux notification-controller's event API: POST the event to the controller's event receiver
(`http://notification-controller.flux-system.svc.cluster.local./`), so teams that run Flux route our
events through their existing Alerts and Providers.

The document is Flux's `eventv1.Event` (github.com/fluxcd/pkg/apis/event/v1beta1, the type Flux's own
controllers send): `involvedObject` (a core/v1 ObjectReference), `severity` (`info` | `error`),
`timestamp` (RFC 3339), `message` (at most 39,000 characters), `reason`, `reportingController`, and
`metadata`, a map of strings whose keys Flux prefixes with the object's API group
(`<group>/revision` is the revision Flux shows). Flux matches an Alert's `eventSources` by
involvedObject kind, name and namespace.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from tfcontroller.notify.event import NotificationEvent
from tfcontroller.notify.formats.text import approve_text, diff_text, shorten

MESSAGE_LIMIT = 39000
DIFF_LIMIT = 8000  # of the message: Flux forwards it to chat services with smaller limits
REPORTING_CONTROLLER = "tfcontroller"
GROUP = "tfcontroller.io"


def _message(event: NotificationEvent) -> str:
    parts = [event.message]
    plan = event.plan
    if plan is not None and plan.diff:
        parts.append(diff_text(plan.diff, DIFF_LIMIT)[0])
    if plan is not None and plan.policy_result:
        parts.append("\n".join(plan.policy_lines()))
    approve = approve_text(event)
    if approve:
        parts.append("Approve with:\n" + approve)
    return shorten("\n\n".join(parts), MESSAGE_LIMIT)


def _metadata(event: NotificationEvent) -> dict[str, str]:
    meta = {f"{GROUP}/revision": event.object.revision, f"{GROUP}/type": event.type,
            f"{GROUP}/fingerprint": event.fingerprint}
    plan = event.plan
    if plan is not None:
        meta[f"{GROUP}/plan-id"] = plan.plan_id
        meta[f"{GROUP}/plan-url"] = plan.dashboard_url
    drift = event.drift
    if drift is not None:
        meta[f"{GROUP}/drifted-resources"] = ",".join(drift.resources)
    meta.update({k if "/" in k else f"{GROUP}/{k}": v for k, v in event.metadata.items()})
    return {k: str(v) for k, v in meta.items() if v}


def payload(event: NotificationEvent, *, reporting_instance: str = "") -> dict[str, Any]:
    """The eventv1.Event document."""
    obj = event.object
    involved = {"apiVersion": obj.api_version, "kind": obj.kind, "namespace": obj.namespace, "name": obj.name}
    if obj.uid:
        involved["uid"] = obj.uid
    doc: dict[str, Any] = {
        "involvedObject": involved,
        "severity": event.severity,
        "timestamp": event.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "message": _message(event),
        "reason": event.reason,
        "metadata": _metadata(event),
        "reportingController": REPORTING_CONTROLLER,
    }
    if reporting_instance:
        doc["reportingInstance"] = reporting_instance
    return doc
