"""What `tfcontroller tenant add` creates (runner/tenant.py): templates rendered per namespace, a comment
above every rule, nothing beyond the namespace, names Kubernetes accepts, the namespace label accessFrom
selectors match, the ManifestSet ServiceAccount's least-privilege Role, the sample stack with --git-url,
and deploy/tenant/{runner,manifests}-rbac.yaml as the renderings for `default`."""

from __future__ import annotations

import pytest

from tests.support.paths import REPO_ROOT
from tfcontroller.runner.tenant import (
    MANIFESTS_SERVICE_ACCOUNT,
    MANIFESTS_TEMPLATE,
    RUNNER_SERVICE_ACCOUNT,
    TEMPLATE,
    TENANT_LABEL,
    manifests_yaml,
    runner_yaml,
    tenant_objects,
    tenant_yaml,
)


@pytest.mark.parametrize(("namespace", "account"), [("team-a", RUNNER_SERVICE_ACCOUNT), ("prod-1", "runs")])
def test_objects_live_in_the_tenant_namespace_only(namespace: str, account: str) -> None:
    objects = tenant_objects(namespace, account)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Namespace", namespace), ("ServiceAccount", account), ("Role", account), ("RoleBinding", account),
        ("ServiceAccount", MANIFESTS_SERVICE_ACCOUNT), ("Role", MANIFESTS_SERVICE_ACCOUNT),
        ("RoleBinding", MANIFESTS_SERVICE_ACCOUNT)]
    assert objects[0]["metadata"]["labels"][TENANT_LABEL] == namespace
    assert {o["metadata"]["namespace"] for o in objects[1:]} == {namespace}
    binding = objects[3]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]


def test_least_privilege_rules() -> None:
    rules = tenant_objects("team-a")[2]["rules"]
    granted = {(r["apiGroups"][0], res, verb) for r in rules for res in r["resources"] for verb in r["verbs"]}
    assert ("", "secrets", "delete") not in granted  # removing a state is the controller's decision
    assert not any(verb in ("*", "watch", "escalate", "bind", "impersonate") for _, _, verb in granted)
    assert {res for _, res, _ in granted} == {"secrets", "configmaps", "leases"}


@pytest.mark.parametrize("template", [TEMPLATE, MANIFESTS_TEMPLATE])
def test_every_rule_has_a_comment(template: str) -> None:
    lines = template.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("- apiGroups:")]
    assert starts and all(lines[i - 1].strip().startswith("#") for i in starts)


def test_manifests_role_covers_the_demo_stack_and_nothing_cluster_wide() -> None:
    objects = {(o["kind"], o["metadata"]["name"]): o for o in tenant_objects("team-a")}
    role = objects[("Role", MANIFESTS_SERVICE_ACCOUNT)]
    granted = {(g, res, verb) for r in role["rules"] for g in r["apiGroups"] for res in r["resources"]
               for verb in r["verbs"]}
    for group, res in (("", "configmaps"), ("", "services"), ("apps", "deployments")):
        assert {(group, res, v) for v in ("get", "create", "patch", "delete")} <= granted
    assert not any(verb in ("*", "escalate", "bind", "impersonate") or res in ("*", "secrets")
                   for _, res, verb in granted)
    binding = objects[("RoleBinding", MANIFESTS_SERVICE_ACCOUNT)]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": MANIFESTS_SERVICE_ACCOUNT,
                                    "namespace": "team-a"}]


def test_git_url_adds_a_sample_stack_in_the_namespace() -> None:
    objects = tenant_objects("team-a", git_url="https://git.example.com/team-a.git")
    sample = {o["kind"]: o for o in objects[-3:]}
    assert set(sample) == {"GitRepository", "Terraform", "ManifestSet"}
    assert sample["GitRepository"]["spec"]["url"] == "https://git.example.com/team-a.git"
    assert {o["metadata"]["namespace"] for o in sample.values()} == {"team-a"}
    assert "namespace" not in sample["Terraform"]["spec"]["sourceRef"]  # no cross-namespace reference
    assert sample["ManifestSet"]["spec"]["targetNamespace"] == "team-a"
    with pytest.raises(ValueError, match="git URL"):
        tenant_yaml("team-a", git_url="https://x\nkind: ClusterRole")


@pytest.mark.parametrize(("namespace", "account"), [("Team", "r"), ("team-a", "-r"), ("a" * 64, "r"), ("ns", "")])
def test_names_kubernetes_would_refuse(namespace: str, account: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        tenant_yaml(namespace, account)


def test_the_deploy_copies_are_the_renderings_for_default() -> None:
    assert (REPO_ROOT / "deploy" / "tenant" / "runner-rbac.yaml").read_text() == runner_yaml("default")
    assert (REPO_ROOT / "deploy" / "tenant" / "manifests-rbac.yaml").read_text() == manifests_yaml("default")
