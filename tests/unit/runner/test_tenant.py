"""The tenant's runner RBAC (runner/tenant.py): one template rendered per namespace, a comment above every
rule, nothing beyond the namespace, names Kubernetes accepts, and deploy/tenant/runner-rbac.yaml as the
rendering for `default` (`tfcontroller tenant add default`)."""

from __future__ import annotations

import pytest

from tests.support.paths import REPO_ROOT
from tfcontroller.runner.tenant import RUNNER_SERVICE_ACCOUNT, TEMPLATE, tenant_objects, tenant_yaml


@pytest.mark.parametrize(("namespace", "account"), [("team-a", RUNNER_SERVICE_ACCOUNT), ("prod-1", "runs")])
def test_objects_live_in_the_tenant_namespace_only(namespace: str, account: str) -> None:
    objects = tenant_objects(namespace, account)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ServiceAccount", account), ("Role", account), ("RoleBinding", account)]
    assert {o["metadata"]["namespace"] for o in objects} == {namespace}
    binding = objects[2]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]


def test_least_privilege_rules() -> None:
    rules = tenant_objects("team-a")[1]["rules"]
    granted = {(r["apiGroups"][0], res, verb) for r in rules for res in r["resources"] for verb in r["verbs"]}
    assert ("", "secrets", "delete") not in granted  # removing a state is the controller's decision
    assert not any(verb in ("*", "watch", "escalate", "bind", "impersonate") for _, _, verb in granted)
    assert {res for _, res, _ in granted} == {"secrets", "configmaps", "leases"}


def test_every_rule_has_a_comment() -> None:
    lines = TEMPLATE.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("- apiGroups:")]
    assert starts and all(lines[i - 1].strip().startswith("#") for i in starts)


@pytest.mark.parametrize(("namespace", "account"), [("Team", "r"), ("team-a", "-r"), ("a" * 64, "r"), ("ns", "")])
def test_names_kubernetes_would_refuse(namespace: str, account: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        tenant_yaml(namespace, account)


def test_the_deploy_copy_is_the_rendering_for_default() -> None:
    assert (REPO_ROOT / "deploy" / "tenant" / "runner-rbac.yaml").read_text() == tenant_yaml("default")
