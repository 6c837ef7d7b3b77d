"""The NotificationProvider controller as the ServiceAccount deploy/ installs (deploy/namespace.yaml,
serviceaccount.yaml, rbac.yaml applied to a dev cluster, the manager's client a token of
`tfcontroller-system/tfcontroller`): through Ready, SecretNotFound, a recorded rejection and its removal,
every request of the controller — the informers of both watches, the reads, the status patches, the
Events — is allowed. A single 403 fails the test, and so would a step that does not complete."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.devcluster import install_crds
from tests.support.deploy_rbac import controller_client
from tests.support.polling import wait_for
from tfcontroller.api import conditions as c
from tfcontroller.controllers.notification.provider_reconciler import (
    ProviderReconciler,
    new_provider_controller,
)
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import NOTIFICATIONPROVIDERS, SECRETS
from tfcontroller.runtime.manager import Manager, ManagerOptions

NS = "default"


@pytest.fixture
def cluster() -> Iterator[DevCluster]:
    with DevCluster(tls=True) as dev:
        yield dev


def _ready(kube: KubeClient, name: str) -> str:
    obj = kube.get_or_none(NOTIFICATIONPROVIDERS, name, NS)
    cond = c.find(((obj or {}).get("status") or {}).get("conditions") or [], c.READY)
    return f"{cond.status}/{cond.reason}" if cond else ""


def test_provider_controller_needs_nothing_beyond_deploys_rbac(cluster: DevCluster, tmp_path: Path) -> None:
    admin = KubeClient.load(cluster.kubeconfig)
    install_crds(admin)
    controller, _kubeconfig = controller_client(cluster, tmp_path)
    mgr = Manager(controller, ManagerOptions(namespace=None, concurrent=1, metrics_addr="127.0.0.1:0",
                                             health_addr="127.0.0.1:0"))
    mgr.add_controller(new_provider_controller(ProviderReconciler(controller)))
    mgr.start()
    try:
        assert mgr.wait_synced(30), controller.forbidden
        admin.create(NOTIFICATIONPROVIDERS, {
            "apiVersion": "tfcontroller.io/v1alpha1", "kind": "NotificationProvider",
            "metadata": {"name": "chat", "namespace": NS}, "spec": {"type": "slack", "secretRef": {"name": "hook"}}})
        wait_for(lambda: _ready(admin, "chat") == "False/SecretNotFound", 30, "SecretNotFound")
        admin.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hook", "namespace": NS},
                               "data": {"address": base64.b64encode(b"https://hooks.example.com/x/y").decode()}})
        wait_for(lambda: _ready(admin, "chat") == "True/ProviderReady", 30, "Ready after the Secret appeared")
        obj = admin.get(NOTIFICATIONPROVIDERS, "chat", NS)
        versions = {"hook": admin.get(SECRETS, "hook", NS)["metadata"]["resourceVersion"]}
        admin.patch_status(NOTIFICATIONPROVIDERS, "chat", NS, {"rejected": {
            "httpStatus": 400, "message": "HTTP 400", "at": "2026-11-30T07:00:00Z",
            "generation": obj["metadata"]["generation"], "secretVersions": versions}})
        wait_for(lambda: _ready(admin, "chat") == "False/DeliveryRejected", 30, "DeliveryRejected")
        admin.patch(NOTIFICATIONPROVIDERS, "chat", {"spec": {"timeout": "20s"}}, NS)
        wait_for(lambda: _ready(admin, "chat") == "True/ProviderReady", 30, "Ready after a spec change")
        assert "rejected" not in admin.get(NOTIFICATIONPROVIDERS, "chat", NS)["status"]
    finally:
        mgr.stop(grace=10)
        admin.close()
    assert controller.forbidden == [], controller.forbidden
