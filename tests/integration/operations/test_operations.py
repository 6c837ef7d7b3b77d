"""The operations (operations/) against the dev cluster, as the identities that call them: an approval is one
patch setting approve-plan and the approved-by claim, written under the way's field manager; it is refused
(409) when the object changed since it was read or names another plan, (403) when the caller may not patch
the Terraform — and then nothing is written; reconcile/replan/suspend/resume send what the controller reads
and refuse a suspended object (409) and a missing one (404)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.devcluster import install_crds
from tests.support.cli import PLAN_ID, terraform
from tfcontroller.api.constants import (
    ANNOTATION_APPROVE_PLAN,
    ANNOTATION_APPROVED_BY,
    ANNOTATION_REPLAN,
    ANNOTATION_REQUESTED_AT,
)
from tfcontroller.api.history import VIA_DASHBOARD, Approver, annotation_manager, parse_approver_annotation
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, SERVICEACCOUNTS, TERRAFORMS, Resource
from tfcontroller.operations.approval import approve
from tfcontroller.operations.control import request_reconcile, request_replan, set_suspended
from tfcontroller.operations.errors import OperationRefused

ROLES = Resource("rbac.authorization.k8s.io/v1", "Role", "roles")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")
OTHER_PLAN = "plan-main-0123456789-99999999"


@pytest.fixture
def admin(cluster: DevCluster) -> Iterator[KubeClient]:
    client = KubeClient.load(cluster.kubeconfig)
    install_crds(client)
    client.create(TERRAFORMS, terraform("bucket"))
    client.patch_status(TERRAFORMS, "bucket", "default", {"plan": {"pending": PLAN_ID, "add": 1}})
    yield client
    client.close()


def as_service_account(cluster: DevCluster, admin: KubeClient, name: str, verbs: list[str],
                       tmp_path: Path) -> KubeClient:
    admin.create(SERVICEACCOUNTS, {"metadata": {"name": name}}, "default")
    admin.create(ROLES, {"metadata": {"name": name}, "rules": [
        {"apiGroups": ["tfcontroller.io"], "resources": ["terraforms", "gitrepositories"], "verbs": verbs}]},
        "default")
    admin.create(ROLEBINDINGS, {"metadata": {"name": name},
                                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "default"}]},
                 "default")
    token, _ = cluster.tokens.issue("default", name)
    path = tmp_path / f"{name}.kubeconfig"
    write_kubeconfig(path, cluster.url, str(token), cluster.ca_pem)
    return KubeClient.load(str(path))


def annotations(admin: KubeClient) -> dict[str, Any]:
    return dict(admin.get(TERRAFORMS, "bucket", "default")["metadata"].get("annotations") or {})


def test_approve_writes_both_annotations_in_one_patch(cluster: DevCluster, admin: KubeClient, tmp_path: Path) -> None:
    alice = as_service_account(cluster, admin, "alice", ["get", "patch"], tmp_path)
    obj = alice.get(TERRAFORMS, "bucket", "default")
    who = Approver("system:serviceaccount:default:alice", ("team-a",), VIA_DASHBOARD)
    approval = approve(alice, obj, PLAN_ID, who)
    assert approval.plan == PLAN_ID and not approval.done
    stored = admin.get(TERRAFORMS, "bucket", "default")
    notes = stored["metadata"]["annotations"]
    assert notes[ANNOTATION_APPROVE_PLAN] == PLAN_ID
    assert parse_approver_annotation(notes[ANNOTATION_APPROVED_BY]) == (PLAN_ID, who)
    assert annotation_manager(stored["metadata"], ANNOTATION_APPROVE_PLAN) == "tfcontroller-dashboard"
    # approving again changes nothing and says so
    again = approve(alice, stored, PLAN_ID, who)
    assert again.done.startswith("is already approved")
    alice.close()


def test_refusals_write_nothing(cluster: DevCluster, admin: KubeClient, tmp_path: Path) -> None:
    reader = as_service_account(cluster, admin, "reader", ["get"], tmp_path)
    obj = reader.get(TERRAFORMS, "bucket", "default")
    who = Approver("system:serviceaccount:default:reader", (), VIA_DASHBOARD)
    with pytest.raises(OperationRefused) as forbidden:
        approve(reader, obj, PLAN_ID, who)
    assert forbidden.value.status == 403 and "forbidden" in forbidden.value.message
    with pytest.raises(OperationRefused) as other:
        approve(admin, obj, OTHER_PLAN, who)
    assert other.value.status == 409 and f"pending: {PLAN_ID}" in other.value.message
    # the object changed after it was read (a re-plan, another approval): refused, nothing written
    admin.patch(TERRAFORMS, "bucket", {"metadata": {"labels": {"touched": "yes"}}}, "default")
    with pytest.raises(OperationRefused) as changed:
        approve(admin, obj, PLAN_ID, who)
    assert changed.value.status == 409 and "changed while approving" in changed.value.message
    admin.patch_status(TERRAFORMS, "bucket", "default", {"plan": {"pending": ""}})
    with pytest.raises(OperationRefused) as nothing:
        approve(admin, admin.get(TERRAFORMS, "bucket", "default"), PLAN_ID, who)
    assert nothing.value.status == 404
    assert ANNOTATION_APPROVE_PLAN not in annotations(admin) and ANNOTATION_APPROVED_BY not in annotations(admin)
    reader.close()


def test_requests_and_suspend(cluster: DevCluster, admin: KubeClient, tmp_path: Path) -> None:
    ops = as_service_account(cluster, admin, "ops", ["get", "patch"], tmp_path)
    value = request_reconcile(ops, TERRAFORMS, "default", "bucket")
    assert annotations(admin)[ANNOTATION_REQUESTED_AT] == value
    stamp = request_replan(ops, "default", "bucket")
    notes = annotations(admin)
    assert notes[ANNOTATION_REPLAN] == notes[ANNOTATION_REQUESTED_AT] == stamp and stamp != value
    assert set_suspended(ops, TERRAFORMS, "default", "bucket", True) is True
    assert set_suspended(ops, TERRAFORMS, "default", "bucket", True) is False
    with pytest.raises(OperationRefused) as suspended:
        request_reconcile(ops, TERRAFORMS, "default", "bucket")
    assert suspended.value.status == 409 and "resume it first" in suspended.value.message
    assert set_suspended(ops, TERRAFORMS, "default", "bucket", False) is True
    for call in (lambda: request_reconcile(ops, GITREPOSITORIES, "default", "nope"),
                 lambda: request_replan(ops, "default", "nope"),
                 lambda: set_suspended(ops, TERRAFORMS, "default", "nope", True)):
        with pytest.raises(OperationRefused) as missing:
            call()
        assert missing.value.status == 404 and '"nope" not found in namespace "default"' in missing.value.message
    ops.close()
