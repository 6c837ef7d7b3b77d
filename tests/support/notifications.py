"""Helpers of the notification controller tests (tests/integration/controllers/notification/): one dev cluster
and one real manager (every controller, `build_manager`) shared by a test module, each test in a namespace
of its own, and builders for providers, rules, Secrets and the Terraform/ManifestSet objects rules observe.

Objects "driven by status": a rule observes status only (level-based), so most tests create a *suspended*
Terraform or ManifestSet (its controller leaves it alone) and write the status its controller would write
— a pending plan, drift, a history entry, Ready=False — the way `Harness.publish_artifact` stands in for the
GitRepository controller. The tests that need the real thing (a plan made by terraform, its readable diff
in the plan-view Secret) run the real GitRepository and Terraform controllers of the same manager.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fixtures.devcluster import install_crds
from tests.support.controllers import start_synced, test_options
from tests.support.kstatus import assert_kstatus
from tests.support.polling import wait_for
from tests.support.terraform_helpers import seed_keys
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_REQUESTED_AT
from tfcontroller.api.times import format_rfc3339
from tfcontroller.controllers.notification import NotificationOptions
from tfcontroller.controllers.setup import ControllerManager
from tfcontroller.controllers.terraform import TerraformOptions
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import (
    EVENTS,
    MANIFESTSETS,
    NAMESPACES,
    NOTIFICATIONPROVIDERS,
    NOTIFICATIONRULES,
    SECRETS,
    TERRAFORMS,
)

API = "tfcontroller.io/v1alpha1"
DASHBOARD = "https://dash.example.com"
RETRY_BASE = 0.4  # seconds: the first retry of a failed delivery (doubling) — short, so tests stay quick
PLAN_ID = "plan-main-0123456789-abcdef01"


class NotifyEnv:
    """One dev cluster (no node: Terraform runs locally) with the CRDs, and one manager at a time."""

    def __init__(self, cluster: DevCluster, tmp: Path) -> None:
        self.cluster = cluster
        self.tmp = tmp
        self.kube = KubeClient.load(cluster.kubeconfig)
        install_crds(self.kube)
        seed_keys(self.kube, "default")
        self.started: list[ControllerManager] = []
        self.manager = self.start()
        self._namespaces = 0

    def start(self) -> ControllerManager:
        options = test_options(
            self.tmp, namespace=None, kubeconfig=self.cluster.kubeconfig,
            notification=NotificationOptions(dashboard_url=DASHBOARD, retry_base=RETRY_BASE),
            terraform=TerraformOptions(work_dir=str(self.tmp / "tf-work"), controller_namespace="default"))
        self.manager = start_synced(options, self.kube, self.started)
        return self.manager

    def restart(self) -> ControllerManager:
        """Stop the manager (as a controller process exits) and start a new one with nothing in memory."""
        self.manager.stop(grace=10)
        return self.start()

    def close(self) -> None:
        for mgr in self.started:
            mgr.stop(grace=5)
        self.kube.close()

    # ---- objects ---------------------------------------------------------------------------------
    def namespace(self, prefix: str) -> str:
        self._namespaces += 1
        name = f"{prefix}-{self._namespaces}"
        self.kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def secret(self, ns: str, name: str, data: dict[str, str]) -> dict[str, Any]:
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        existing = self.kube.get_or_none(SECRETS, name, ns)
        if existing is None:
            return self.kube.create(SECRETS, body, ns)
        return self.kube.patch(SECRETS, name, {"data": body["data"]}, ns)

    def provider(self, ns: str, name: str, type_: str, **spec: Any) -> dict[str, Any]:
        return self.kube.create(NOTIFICATIONPROVIDERS, {
            "apiVersion": API, "kind": "NotificationProvider", "metadata": {"name": name, "namespace": ns},
            "spec": {"type": type_, **spec}}, ns)

    def rule(self, ns: str, name: str, providers: list[str], **spec: Any) -> dict[str, Any]:
        return self.kube.create(NOTIFICATIONRULES, {
            "apiVersion": API, "kind": "NotificationRule", "metadata": {"name": name, "namespace": ns},
            "spec": {"providerRefs": [{"name": p} for p in providers], **spec}}, ns)

    def terraform_stub(self, ns: str, name: str, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
        """A suspended Terraform (its controller leaves it alone) whose status the test writes."""
        obj = self.kube.create(TERRAFORMS, {
            "apiVersion": API, "kind": "Terraform", "metadata": {"name": name, "namespace": ns},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "none"}, "path": "./", "interval": "1h",
                     "approvePlan": "", "suspend": True, **spec}}, ns)
        return self._settled_stub(TERRAFORMS, ns, name, status) or obj

    def manifestset_stub(self, ns: str, name: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
        obj = self.kube.create(MANIFESTSETS, {
            "apiVersion": API, "kind": "ManifestSet", "metadata": {"name": name, "namespace": ns},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "none"}, "path": "./", "interval": "1h",
                     "suspend": True}}, ns)
        return self._settled_stub(MANIFESTSETS, ns, name, status) or obj

    def _settled_stub(self, resource: Any, ns: str, name: str, status: dict[str, Any] | None) -> dict[str, Any] | None:
        """The test's status, written after the object's controller has given the new suspended object its
        Ready=Unknown/Suspended (runtime/suspend.py): written before, that first status could replace the
        test's conditions. None when the test writes no status."""
        if not status:
            return None

        def suspended() -> bool:
            conds = (self.kube.get(resource, name, ns).get("status") or {}).get("conditions") or []
            return any(cond.get("type") == "Ready" for cond in conds)

        wait_for(suspended, 60, f"{name}'s controller to mark it suspended")
        return self.set_status(resource, ns, name, status)

    def set_status(self, resource: Any, ns: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.kube.patch_status(resource, name, ns, patch)

    # ---- reading ---------------------------------------------------------------------------------
    def rule_obj(self, ns: str, name: str) -> dict[str, Any]:
        obj = self.kube.get(NOTIFICATIONRULES, name, ns)
        assert_kstatus(obj)
        return obj

    def provider_obj(self, ns: str, name: str) -> dict[str, Any]:
        return self.kube.get(NOTIFICATIONPROVIDERS, name, ns)

    def wait_rule(self, ns: str, name: str, predicate: Callable[[dict[str, Any]], Any], what: str,
                  timeout: float = 30.0) -> dict[str, Any]:
        box: dict[str, Any] = {}

        def check() -> Any:
            box["obj"] = self.rule_obj(ns, name)
            return predicate(box["obj"])

        try:
            wait_for(check, timeout, what, interval=0.1)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what}; status: {box.get('obj', {}).get('status')}") from None
        return dict(box["obj"])

    def reconcile_rule(self, ns: str, name: str, token: str) -> dict[str, Any]:
        """Ask for a reconcile of the rule (requested-at) and wait until it was handled."""
        self.kube.patch(NOTIFICATIONRULES, name, {"metadata": {"annotations": {ANNOTATION_REQUESTED_AT: token}}}, ns)
        return self.wait_rule(ns, name, lambda o: (o.get("status") or {}).get("lastHandledRequestedAt") == token,
                              f"the reconcile requested with {token}")

    def events(self, ns: str, name: str, reason: str) -> list[dict[str, Any]]:
        items, _ = self.kube.list_all(EVENTS, ns)
        return [e for e in items if (e.get("involvedObject") or {}).get("name") == name and e.get("reason") == reason]

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(self.manager.endpoint("/metrics") + "/metrics", timeout=10) as resp:
            return str(resp.read().decode())


def ready_of(obj: dict[str, Any]) -> c.Condition | None:
    return c.find((obj.get("status") or {}).get("conditions"), c.READY)


def ready_is(obj: dict[str, Any], status: str, reason: str) -> bool:
    ready = ready_of(obj)
    return ready is not None and (ready.status, ready.reason) == (status, reason)


def pending_plan_status(plan_id: str = PLAN_ID, add: int = 1, change: int = 0, destroy: int = 0) -> dict[str, Any]:
    """What the Terraform controller writes for a plan that waits for approval (manual mode)."""
    ready = {"type": "Ready", "status": "False", "reason": "PlanPending", "lastTransitionTime": format_rfc3339(),
             "message": f"plan {plan_id} waits for approval"}
    return {"plan": {"pending": plan_id, "add": add, "change": change, "destroy": destroy,
                     "createdAt": format_rfc3339()}, "conditions": [ready]}


def attempts(rule: dict[str, Any], provider: str) -> int:
    """The most attempts any pending entry of `rule` has made to `provider` (0 when none is pending)."""
    counts = [int(p.get("attempts") or 0) for e in (rule.get("status") or {}).get("pending") or []
              for p in e.get("providers") or [] if p.get("name") == provider]
    return max(counts, default=0)


def hmac_ok(body: bytes, key: str, header: str | None) -> bool:
    """The receiver's check of a signed webhook: HMAC-SHA256 of the raw body, `sha256=<hex>`."""
    want = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(want, header)
