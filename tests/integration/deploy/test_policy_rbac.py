"""Who may waive a policy (issue 18), against the dev cluster's RBAC: deploy/policy-rbac.yaml,
deploy/dashboard/roles.yaml and what `tfcontroller tenant add` creates, applied as an admin would.

- A tenant's identities cannot create a PolicyException: its runner and ManifestSet ServiceAccounts
  (`tenant add`: a PolicyException committed to the tenant's repository and applied by a ManifestSet as
  that ServiceAccount is refused), and a tenant editor — the built-in `edit` role, the dashboard's viewer
  and approver roles and full rights on Terraforms — who can create and patch Terraforms.
- A ServiceAccount bound to `tfcontroller-policy-exception-author` can, in the namespace it is bound in only.
- A namespace's built-in `admin` cannot bind himself the author role (Kubernetes' escalation check).
- Statically: no Role or ClusterRole shipped in deploy/ (nor `tenant add`'s) grants a write on
  policyexceptions, through a wildcard either, except the author role, which carries no aggregate-to-*
  label (the built-in admin/edit/view roles would pick it up).
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
from tfcontroller.kube.resources import NAMESPACES, POLICYEXCEPTIONS, TERRAFORMS, Resource
from tfcontroller.runner.tenant import tenant_objects

DEPLOY = REPO_ROOT / "deploy"
AUTHOR = "tfcontroller-policy-exception-author"
WRITES = {"create", "update", "patch", "delete", "deletecollection", "*"}
PLAN = "plan-main-0123456789-abcdef01"
ROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def exception(namespace: str, name: str = "waive") -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "PolicyException",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"terraformRef": {"name": "orders"}, "planId": PLAN, "policies": ["protect-data"],
                     "reason": "CHG-1234"}}


def terraform(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform", "metadata": {"name": name, "namespace": namespace},
            "spec": {"sourceRef": {"name": "repo"}, "interval": "5m", "suspend": True}}


def binding(namespace: str, name: str, kind: str, role: str, subject: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role}, "subjects": [subject]}


def _apply(kube: KubeClient, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        kube.apply(doc, field_manager="test-setup", force=True)


@pytest.fixture
def cluster_rbac(kube: KubeClient) -> KubeClient:
    install_crds(kube)
    for ns in ("team-a", "team-b"):
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, field_manager="test-setup")
    _apply(kube, _docs(DEPLOY / "policy-rbac.yaml") + _docs(DEPLOY / "dashboard" / "roles.yaml"))
    add_tenant(kube, "team-a")  # `tfcontroller tenant add team-a`: runner and ManifestSet ServiceAccounts
    editor = {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}
    _apply(kube, [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "terraform-editor", "namespace": "team-a"},
         "rules": [{"apiGroups": ["tfcontroller.io"], "resources": ["terraforms", "gitrepositories", "manifestsets"],
                    "verbs": ["*"]}]},
        binding("team-a", "alice-terraforms", "Role", "terraform-editor", editor),
        binding("team-a", "alice-edit", "ClusterRole", "edit", editor),
        binding("team-a", "alice-viewer", "ClusterRole", "tfcontroller-dashboard-viewer", editor),
        binding("team-a", "alice-approver", "ClusterRole", "tfcontroller-dashboard-approver", editor),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "exception-bot", "namespace": "team-a"}},
        binding("team-a", "exception-bot", "ClusterRole", AUTHOR,
                {"kind": "ServiceAccount", "name": "exception-bot", "namespace": "team-a"}),
    ])
    assert kube.get_or_none(NAMESPACES, "team-a", None) is not None
    return kube


def test_tenant_identities_cannot_create_an_exception(cluster_rbac: KubeClient) -> None:
    names = [o["metadata"]["name"] for o in tenant_objects("team-a") if o["kind"] == "ServiceAccount"]
    assert len(names) == 2  # the runner's and the ManifestSets'
    for account in names:
        tenant = cluster_rbac.impersonating(f"system:serviceaccount:team-a:{account}")
        with pytest.raises(Forbidden) as info:
            tenant.create(POLICYEXCEPTIONS, exception("team-a"))
        assert "policyexceptions" in info.value.message


def test_a_terraform_editor_cannot_create_an_exception(cluster_rbac: KubeClient) -> None:
    alice = cluster_rbac.impersonating("alice")
    alice.create(TERRAFORMS, terraform("team-a", "orders"))  # she edits Terraforms ...
    alice.patch(TERRAFORMS, "orders", {"metadata": {"annotations": {"tfcontroller.io/approve-plan": PLAN}}},
                "team-a")  # ... and approves their plans
    with pytest.raises(Forbidden):  # ... but may not waive a policy
        alice.create(POLICYEXCEPTIONS, exception("team-a"))


def test_the_author_role_may_create_where_it_is_bound(cluster_rbac: KubeClient) -> None:
    bot = cluster_rbac.impersonating("system:serviceaccount:team-a:exception-bot")
    created = bot.create(POLICYEXCEPTIONS, exception("team-a"))
    assert created["spec"]["planId"] == PLAN
    bot.patch(POLICYEXCEPTIONS, "waive", {"spec": {"reason": "CHG-1234, approved by the DBA"}}, "team-a")
    bot.delete(POLICYEXCEPTIONS, "waive", "team-a")
    with pytest.raises(Forbidden):  # a RoleBinding in team-a grants nothing in team-b
        bot.create(POLICYEXCEPTIONS, exception("team-b"))


def _rules_granting_exception_writes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for rule in doc.get("rules") or []:
        groups, resources = set(rule.get("apiGroups") or []), set(rule.get("resources") or [])
        if (groups & {"tfcontroller.io", "*"} and resources & {"policyexceptions", "*"}
                and set(rule.get("verbs") or []) & WRITES):
            out.append(rule)
    return out


def test_no_shipped_role_but_the_author_role_writes_exceptions() -> None:
    roles = [d for path in sorted(DEPLOY.rglob("*.yaml")) if "crds" not in path.parts for d in _docs(path)
             if d.get("kind") in ("Role", "ClusterRole")]
    roles += [o for o in tenant_objects("team-a") if o["kind"] in ("Role", "ClusterRole")]
    assert len(roles) >= 6
    writers = [d["metadata"]["name"] for d in roles if _rules_granting_exception_writes(d)]
    assert writers == [AUTHOR]
    author = next(d for d in roles if d["metadata"]["name"] == AUTHOR)
    assert not any("aggregate-to" in k for k in (author["metadata"].get("labels") or {}))
    assert not any("aggregationRule" in d for d in roles)


def test_a_namespace_admin_cannot_grant_himself_the_author_role(cluster_rbac: KubeClient) -> None:
    """The built-in `admin` of a tenant namespace may create RoleBindings, but not to a role holding a
    permission it lacks (Kubernetes' escalation check): it cannot make itself an exception author."""
    kube = cluster_rbac
    _apply(kube, [binding("team-a", "bob-admin", "ClusterRole", "admin",
                          {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"})])
    bob = kube.impersonating("bob")
    bob.create(ROLEBINDINGS, binding("team-a", "bob-view", "ClusterRole", "view",
                                     {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}))
    with pytest.raises(Forbidden) as info:
        bob.create(ROLEBINDINGS, binding("team-a", "bob-exceptions", "ClusterRole", AUTHOR,
                                         {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}))
    assert "not currently held" in info.value.message or "escalat" in info.value.message, info.value.message
    with pytest.raises(Forbidden):
        bob.create(POLICYEXCEPTIONS, exception("team-a"))
