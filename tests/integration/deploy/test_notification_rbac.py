"""Who may route notifications (issue 19), against the dev cluster's RBAC and its aggregation of the
built-in roles: deploy/notification-rbac.yaml applied as an admin would, then people bound per namespace.

- A tenant user bound to the built-in `edit` (or `admin`) in their namespace creates, changes and deletes
  NotificationProviders and NotificationRules there, and is refused in another namespace (a RoleBinding
  grants nothing elsewhere) and refused writing their status (the controller's).
- A user bound to `view` reads both kinds and writes neither; the tenant's ServiceAccounts (`tenant add`)
  get neither kind.
- Statically: the edit role carries the aggregate-to-edit and -admin labels, the view role also -view and
  only read verbs; neither grants Secrets, a status subresource or a wildcard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.devcluster import install_crds
from tests.support.paths import REPO_ROOT
from tests.support.terraform_helpers import add_tenant
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Forbidden
from tfcontroller.kube.resources import NOTIFICATIONPROVIDERS, NOTIFICATIONRULES
from tfcontroller.runner.tenant import tenant_objects

RBAC_FILE = REPO_ROOT / "deploy" / "notification-rbac.yaml"
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def provider(namespace: str, name: str = "team-hook") -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "NotificationProvider",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"type": "webhook", "address": "https://hooks.example.com/tfcontroller"}}


def rule(namespace: str, name: str = "plans") -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "NotificationRule",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"providerRefs": [{"name": "team-hook"}], "eventTypes": ["PlanPending"]}}


def _bind(kube: KubeClient, namespace: str, user: str, cluster_role: str) -> None:
    kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": f"{user}-{cluster_role}", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}]},
               field_manager="test-setup")


@pytest.fixture
def cluster_rbac(kube: KubeClient) -> KubeClient:
    install_crds(kube)
    add_tenant(kube, "team-a")  # `tfcontroller tenant add team-a`: the namespace and its ServiceAccounts
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}}, field_manager="test-setup")
    _bind(kube, "team-a", "alice", "edit")   # the team's engineers
    with pytest.raises(Forbidden):  # the built-in edit alone knows nothing of our kinds: the grant is ours
        kube.impersonating("alice").create(NOTIFICATIONRULES, rule("team-a"))
    for doc in _docs(RBAC_FILE):
        kube.apply(doc, field_manager="test-setup", force=True)
    _bind(kube, "team-a", "carol", "admin")  # the team's lead
    _bind(kube, "team-a", "bob", "view")     # a reader
    return kube


@pytest.mark.parametrize("user", ["alice", "carol"])
def test_edit_and_admin_write_both_kinds_in_their_namespace_only(cluster_rbac: KubeClient, user: str) -> None:
    member = cluster_rbac.impersonating(user)
    member.create(NOTIFICATIONPROVIDERS, provider("team-a"))
    member.create(NOTIFICATIONRULES, rule("team-a"))
    member.patch(NOTIFICATIONRULES, "plans", {"spec": {"severity": "error"}}, "team-a")
    assert [r["metadata"]["name"] for r in member.list(NOTIFICATIONPROVIDERS, "team-a")["items"]] == ["team-hook"]
    with pytest.raises(Forbidden):  # the status is the controller's (sent, pending, rejected)
        member.patch_status(NOTIFICATIONRULES, "plans", "team-a", {"sent": 0})
    for make, res in ((provider, NOTIFICATIONPROVIDERS), (rule, NOTIFICATIONRULES)):
        with pytest.raises(Forbidden) as info:  # a RoleBinding in team-a grants nothing in team-b
            member.create(res, make("team-b"))
        assert res.plural in info.value.message
    member.delete(NOTIFICATIONRULES, "plans", "team-a")
    member.delete(NOTIFICATIONPROVIDERS, "team-hook", "team-a")


def test_view_reads_and_writes_neither(cluster_rbac: KubeClient) -> None:
    cluster_rbac.create(NOTIFICATIONPROVIDERS, provider("team-a"))
    cluster_rbac.create(NOTIFICATIONRULES, rule("team-a"))
    bob = cluster_rbac.impersonating("bob")
    assert bob.get(NOTIFICATIONRULES, "plans", "team-a")["spec"]["eventTypes"] == ["PlanPending"]
    assert len(bob.list(NOTIFICATIONPROVIDERS, "team-a")["items"]) == 1
    with pytest.raises(Forbidden):
        bob.create(NOTIFICATIONPROVIDERS, provider("team-a", "another"))
    with pytest.raises(Forbidden):
        bob.patch(NOTIFICATIONRULES, "plans", {"spec": {"severity": "error"}}, "team-a")
    with pytest.raises(Forbidden):
        bob.delete(NOTIFICATIONPROVIDERS, "team-hook", "team-a")


def test_roles_are_aggregated_and_narrow() -> None:
    roles = {d["metadata"]["name"]: d for d in _docs(RBAC_FILE)}
    assert set(roles) == {"tfcontroller-notifications-edit", "tfcontroller-notifications-view"}
    edit, view = roles["tfcontroller-notifications-edit"], roles["tfcontroller-notifications-view"]
    assert {k for k, v in edit["metadata"]["labels"].items() if v == "true"} == {AGGREGATE + "admin",
                                                                                 AGGREGATE + "edit"}
    assert {k for k, v in view["metadata"]["labels"].items() if v == "true"} == {
        AGGREGATE + "admin", AGGREGATE + "edit", AGGREGATE + "view"}
    for role in (edit, view):
        for r in role["rules"]:
            assert r["apiGroups"] == ["tfcontroller.io"]
            assert set(r["resources"]) == {"notificationproviders", "notificationrules"}
            assert "*" not in r["verbs"]
    assert {v for r in view["rules"] for v in r["verbs"]} == {"get", "list", "watch"}


def test_tenant_service_accounts_get_neither_kind(cluster_rbac: KubeClient) -> None:
    """`tenant add` gives the runner and the ManifestSet ServiceAccounts nothing on these kinds: a provider
    committed to the tenant's repository would let every committer name the namespace's Secrets."""
    accounts = [o["metadata"]["name"] for o in tenant_objects("team-a") if o["kind"] == "ServiceAccount"]
    assert len(accounts) == 2
    for account in accounts:
        robot = cluster_rbac.impersonating(f"system:serviceaccount:team-a:{account}")
        for make, res in ((provider, NOTIFICATIONPROVIDERS), (rule, NOTIFICATIONRULES)):
            with pytest.raises(Forbidden):
                robot.create(res, make("team-a"))
