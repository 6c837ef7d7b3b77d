"""The demo's notification objects and its wait for a notification (tfcontroller/dev/demo/notifications.py).

The objects the demo creates are read by the kinds' own typed views (api/notification.py from_dict, what the
controller reads) and checked against the CRDs' schemas (crds/, through the dev cluster's validator), and
nothing of them is pruned: a demo object the cluster or the controller would refuse, or a field it would
drop, fails here rather than minutes into `make demo`. The rule wants exactly the five events the demo
promises. The match predicate is checked on every way a request can differ from the one awaited.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from tests.support.paths import REPO_ROOT
from tfcontroller.api.notification import NotificationProvider, NotificationRule
from tfcontroller.dev.cluster.schema import apply_schema_detailed
from tfcontroller.dev.demo.notifications import (
    EVENT_TYPES,
    HOOK_PATH,
    PROVIDER,
    TOKEN_SECRET,
    Wanted,
    manifests,
    matches,
)
from tfcontroller.dev.webhook_sink import Recorded
from tfcontroller.notify.event import DEFAULT_SEVERITY, Line, ObjectRef, drift_event, plan_pending
from tfcontroller.notify.event import EVENT_TYPES as ALL_EVENT_TYPES
from tfcontroller.notify.formats import webhook

SINK = "http://127.0.0.1:40123"
TOKEN = "tok-3n2k"  # noqa: S105 - a test value


def _objects() -> dict[str, dict[str, Any]]:
    return {body["kind"]: body for _, body in manifests("default", SINK + "/", TOKEN)}


def _schema(kind: str) -> dict[str, Any]:
    for path in sorted((REPO_ROOT / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["spec"]["names"]["kind"] == kind:
                return dict(doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    raise AssertionError(f"no CRD of kind {kind} under crds/")


def test_the_secret_holds_the_signing_key_under_token() -> None:
    secret = _objects()["Secret"]
    assert secret["metadata"] == {"name": TOKEN_SECRET, "namespace": "default"}
    assert base64.b64decode(secret["data"]["token"]).decode() == TOKEN


@pytest.mark.parametrize("kind", ["NotificationProvider", "NotificationRule"])
def test_the_demo_objects_pass_the_crd_schema_unpruned(kind: str) -> None:
    obj = _objects()[kind]
    result = apply_schema_detailed(obj, _schema(kind))
    assert not result.pruned, result.pruned


def test_the_provider_is_a_signed_webhook_to_the_sink() -> None:
    provider = NotificationProvider.from_dict(_objects()["NotificationProvider"])
    assert (provider.type, provider.address, provider.secret_name) == ("webhook", SINK + HOOK_PATH, TOKEN_SECRET)


def test_the_rule_sends_the_five_events_of_every_object_of_the_namespace_to_the_provider() -> None:
    rule = NotificationRule.from_dict(_objects()["NotificationRule"])
    assert rule.provider_names == (PROVIDER,)
    wanted = {t for t in ALL_EVENT_TYPES if rule.wants(t, DEFAULT_SEVERITY[t])}
    assert wanted == set(EVENT_TYPES) == {"PlanPending", "PlanApplied", "DriftDetected", "DriftResolved", "ApplyFailed"}
    for name in ("app-stack-dev", "app-stack-prod"):
        assert rule.selector.matches({"kind": "Terraform", "metadata": {"name": name, "namespace": "default"}})


PROD = ObjectRef("Terraform", "default", "app-stack-prod", uid="u1")


def _rec(event: Any) -> Recorded:
    body = webhook.encode(webhook.payload(event))
    return Recorded("POST", HOOK_PATH, {}, body, 200)


PENDING = _rec(plan_pending(PROD, "p-7", {"add": 1}, [Line("create", "+ a.b")]))
DRIFT = _rec(drift_event(ObjectRef("Terraform", "default", "app-stack-dev"), ["a.b"], "fp"))


@pytest.mark.parametrize(("wanted", "rec", "want"), [
    (Wanted("PlanPending", "app-stack-prod", "p-7"), PENDING, True),
    (Wanted("PlanPending", "app-stack-prod"), PENDING, True),  # any plan
    (Wanted("PlanPending", "app-stack-prod", "p-8"), PENDING, False),  # another plan
    (Wanted("PlanPending", "app-stack-dev"), PENDING, False),  # another object
    (Wanted("PlanApplied", "app-stack-prod"), PENDING, False),  # another type
    (Wanted("DriftDetected", "app-stack-dev"), DRIFT, True),
    (Wanted("DriftDetected", "app-stack-prod"), DRIFT, False),
    (Wanted("DriftDetected", "app-stack-dev"), Recorded("POST", "/", {}, b'{"text": "slack"}', 200), False),
    (Wanted("DriftDetected", "app-stack-dev"), Recorded("POST", "/", {}, b"garbage", 200), False),
])
def test_matches(wanted: Wanted, rec: Recorded, want: bool) -> None:
    assert matches(wanted)(rec) is want
