"""Our own webhook document (version `notify.tfcontroller.io/v1`), and its HMAC-SHA256 signature.

The document carries everything structured, so a receiver needs no scraping: the event, the object, and
for a plan its id, counts, the readable diff as lines (`kind`, `text`, `indent`; at most `MAX_DIFF_LINES`,
`diffOmitted` counting the rest), the policy results and the approve commands. docs/notifications.md
documents it field by field; a field is only ever added within a version.

Signature (when the provider has a secret): `X-Tfcontroller-Signature: sha256=<hex>`, the HMAC-SHA256 of
the exact body bytes with the secret as key, the GitHub webhook convention, so receivers can reuse their
verification code. The same value is sent as `X-Signature` too, the header Flux's notification-controller
sends and its `generic-hmac` receivers verify, so those verify our webhook unchanged. A receiver must
compare in constant time (`hmac.compare_digest`).

`X-Tfcontroller-Delivery`: one id per delivery of one queued message to one provider, the same on each
retry of it, so a receiver can drop a retry it already got (the fingerprint is not unique per delivery:
drift A → resolved → A again is the same fingerprint, two deliveries).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from tfcontroller.notify.event import NotificationEvent

API_VERSION = "notify.tfcontroller.io/v1"
KIND = "NotificationEvent"
MAX_DIFF_LINES = 2000
SIGNATURE_HEADER = "X-Tfcontroller-Signature"
EVENT_HEADER = "X-Tfcontroller-Event"
FINGERPRINT_HEADER = "X-Tfcontroller-Fingerprint"
DELIVERY_ID_HEADER = "X-Tfcontroller-Delivery"
FLUX_SIGNATURE_HEADER = "X-Signature"


def payload(event: NotificationEvent) -> dict[str, Any]:
    """The JSON document (see docs/notifications.md, "webhook")."""
    obj = event.object
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "type": event.type,
        "severity": event.severity,
        "reason": event.reason,
        "title": event.title,
        "message": event.message,
        "fingerprint": event.fingerprint,
        "timestamp": event.timestamp.isoformat(),
        "involvedObject": {"apiVersion": obj.api_version, "kind": obj.kind, "namespace": obj.namespace,
                           "name": obj.name, "uid": obj.uid, "revision": obj.revision},
        "metadata": dict(event.metadata),
    }
    plan = event.plan
    if plan is not None:
        doc["plan"] = {
            "id": plan.plan_id,
            # import and move (issue 20) only when the plan imports or moves: the usual payload stays as it was
            "counts": {"add": plan.add, "change": plan.change, "destroy": plan.destroy,
                       **{k: v for k, v in (("import", plan.imports), ("move", plan.moves)) if v}},
            "diff": [{"kind": ln.kind, "text": ln.text, "indent": ln.indent} for ln in plan.diff[:MAX_DIFF_LINES]],
            "diffOmitted": max(0, len(plan.diff) - MAX_DIFF_LINES),
            "policy": {"result": plan.policy_result, "results": [
                {"policy": r.policy, "result": r.result, "messages": list(r.messages), "exception": r.exception}
                for r in plan.policy]} if plan.policy_result else None,
            "approveCommand": plan.approve_command,
            "cliApproveCommand": plan.cli_approve_command,
            "url": plan.dashboard_url,
        }
    drift = event.drift
    if drift is not None:
        doc["drift"] = {"resources": list(drift.resources), "fingerprint": drift.drift_fingerprint,
                        "planId": drift.plan_id}
    return doc


def encode(doc: dict[str, Any]) -> bytes:
    """The body as sent (and signed): compact UTF-8 JSON, keys in a stable order."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def signature(body: bytes, secret: str | bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, body)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str | bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(signature(body, secret), header)


def headers(event: NotificationEvent, body: bytes, secret: str | bytes | None = None) -> dict[str, str]:
    """The request headers: content type, the event type and fingerprint, and with a secret the signature
    (ours and Flux's header name, the same value)."""
    out = {"Content-Type": "application/json", EVENT_HEADER: event.type, FINGERPRINT_HEADER: event.fingerprint}
    if secret:
        sig = signature(body, secret)
        out[SIGNATURE_HEADER] = sig
        out[FLUX_SIGNATURE_HEADER] = sig
    return out
