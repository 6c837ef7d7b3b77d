"""The demo's notifications: a `webhook` NotificationProvider pointed at the demo's webhook sink (signed with an
HMAC key from a Secret), one NotificationRule for the events a team wants to hear about, and the tour's wait
for a given notification, which it then prints (issue 19: "`make demo` sends the pending-plan and drift
notifications to a local webhook receiver and prints them").

The objects are built by a pure function (`manifests`) so that tests/unit/dev/demo/test_notifications.py
parses them with the kinds' own typed views (api/notification.py): a demo object the controller would refuse
fails there, not minutes into `make demo`. What is awaited is matched by a pure predicate (`matches`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tfcontroller.dev.demo.services import DemoError
from tfcontroller.dev.webhook_sink import (
    VERIFIED,
    Recorded,
    WebhookSink,
    describe,
    notification_of,
    signature_text,
)
from tfcontroller.kube.resources import NOTIFICATIONPROVIDERS, NOTIFICATIONRULES, SECRETS, Resource

PROVIDER = "demo-webhook"
RULE = "demo-notifications"
TOKEN_SECRET = "demo-webhook-token"  # noqa: S105 - a Secret's name, not a secret
HOOK_PATH = "/hooks/tfcontroller"
EVENT_TYPES = ("PlanPending", "PlanApplied", "DriftDetected", "DriftResolved", "ApplyFailed")
API_VERSION = "tfcontroller.io/v1alpha1"


def manifests(namespace: str, sink_url: str, token: str) -> list[tuple[Resource, dict[str, Any]]]:
    """The Secret holding the HMAC key (`token`, the key the webhook type signs with), the provider sending
    to the sink, and the rule routing the five events of every Terraform and ManifestSet of `namespace`."""
    meta = {"namespace": namespace}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": TOKEN_SECRET, **meta},
              "data": {"token": base64.b64encode(token.encode()).decode()}}
    provider = {"apiVersion": API_VERSION, "kind": "NotificationProvider", "metadata": {"name": PROVIDER, **meta},
                "spec": {"type": "webhook", "address": sink_url.rstrip("/") + HOOK_PATH,
                         "secretRef": {"name": TOKEN_SECRET}, "timeout": "5s"}}
    rule = {"apiVersion": API_VERSION, "kind": "NotificationRule", "metadata": {"name": RULE, **meta},
            "spec": {"providerRefs": [{"name": PROVIDER}], "eventTypes": list(EVENT_TYPES)}}
    return [(SECRETS, secret), (NOTIFICATIONPROVIDERS, provider), (NOTIFICATIONRULES, rule)]


@dataclass(frozen=True)
class Wanted:
    """A notification the tour waits for: its type, the object's name and, for a plan, its id."""

    event_type: str
    name: str
    plan_id: str = ""

    def text(self) -> str:
        plan = f" (plan {self.plan_id})" if self.plan_id else ""
        return f"the {self.event_type} notification of terraform/{self.name}{plan} at the webhook sink"


def matches(wanted: Wanted) -> Callable[[Recorded], bool]:
    """A predicate over received requests: a webhook document of `wanted`'s type about an object of that
    name, of that plan when one is named. Whether it is signed right is checked after (a bad signature
    must fail the step saying so, not look like a missing notification)."""

    def match(rec: Recorded) -> bool:
        doc = notification_of(rec)
        if doc is None or doc.get("type") != wanted.event_type:
            return False
        if (doc.get("involvedObject") or {}).get("name") != wanted.name:
            return False
        return not wanted.plan_id or (doc.get("plan") or {}).get("id") == wanted.plan_id

    return match


def await_notification(sink: WebhookSink, wanted: Wanted, timeout: float) -> str:
    """Wait for `wanted` at the sink; return its readable block. DemoError when it does not arrive in time
    or its signature does not verify with the demo's key."""
    rec = sink.wait_until(matches(wanted), timeout)
    if rec is None:
        raise DemoError(f"timed out after {timeout:.0f}s waiting for {wanted.text()} "
                        f"(received: {len(sink.requests)} request(s); see .demo/controller.log)")
    if rec.signature != VERIFIED:
        raise DemoError(f"{wanted.text()} arrived, but {signature_text(rec.signature)}")
    return describe(rec)
