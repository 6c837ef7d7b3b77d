"""The PlanPolicy controller on the dev cluster with policies in a real git repository (issue 18): a policy
directory compiles (Ready PolicyCompiled, files, revision, digest); a push with a Rego syntax error is
Ready=False Stalled CompileFailed naming file:line, and the fixing push makes it Ready again (the
GitRepository watch); inline rego compiles or names `inline.rego:<line>`; a missing source is SourceNotReady
until it appears; a path without policies is ArtifactFailed; bad specs the schema admits are Stalled
SpecValidationFailed naming the field; a source in another namespace is AccessDenied. Every status obeys
kstatus (`assert_kstatus`). Also `runtime/policies.load_selected_policies`, the gate's entry point: which
PlanPolicies select a Terraform (own namespace by selector, the controller namespace's by namespaceSelector)
with their modules loaded, or why each is unavailable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.controllers import gitrepo
from tests.support.kstatus import assert_kstatus
from tests.support.polling import wait_for
from tfcontroller.api import conditions as c
from tfcontroller.controllers.planpolicy import PlanPolicyOptions
from tfcontroller.controllers.setup import ControllerManager
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import (
    EVENTS,
    GITREPOSITORIES,
    NAMESPACES,
    PLANPOLICIES,
    POLICYEXCEPTIONS,
    TERRAFORMS,
)
from tfcontroller.operations.events import sort_key
from tfcontroller.runtime.policies import PolicyLoader, load_selected_policies

CONTROLLER_NS = "tfcontroller-system"

DENY_DELETES = """package main

import rego.v1

deny contains msg if {
  some rc in input.resource_changes
  "delete" in rc.change.actions
  rc.type in data.protected_types
  msg := sprintf("%s may not be deleted", [rc.address])
}
"""
WARN_TAGS = """package tags

import rego.v1

warn contains msg if {
  some rc in input.resource_changes
  not rc.change.after.tags.owner
  msg := sprintf("%s has no owner tag", [rc.address])
}
"""
BROKEN = "package main\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := \"unclosed\"\n"
TEST_FILE = "package main_test\n\nthis is not rego at all\n"  # *_test.rego files are left out


def policy(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "PlanPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def ready(kube: KubeClient, name: str, namespace: str = "default") -> c.Condition | None:
    obj = kube.get_or_none(PLANPOLICIES, name, namespace)
    return c.find(((obj or {}).get("status") or {}).get("conditions") or [], c.READY)


def wait_policy(kube: KubeClient, name: str, status: str, reason: str, namespace: str = "default",
                timeout: float = 30.0) -> dict[str, Any]:
    """The PlanPolicy once Ready has `status` and `reason` (and its status settled for this generation)."""
    def check() -> dict[str, Any] | None:
        obj = kube.get_or_none(PLANPOLICIES, name, namespace)
        cond = c.find(((obj or {}).get("status") or {}).get("conditions") or [], c.READY)
        if obj is None or cond is None or (cond.status, cond.reason) != (status, reason):
            return None
        return obj

    try:
        obj = wait_for(check, timeout, f"PlanPolicy {namespace}/{name} Ready={status} {reason}")
    except AssertionError:
        raise AssertionError(f"{namespace}/{name}: Ready is {ready(kube, name, namespace)}") from None
    assert_kstatus(obj)
    return obj


def events_of(kube: KubeClient, name: str) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the Events about PlanPolicy default/<name>, oldest first."""
    items, _ = kube.list_all(EVENTS, "default")
    mine = [e for e in items if (e.get("involvedObject") or {}).get("kind") == "PlanPolicy"
            and (e.get("involvedObject") or {}).get("name") == name]
    mine.sort(key=sort_key)  # the product's order: time, then the order they were stored in
    return [(e.get("type", ""), e.get("reason", ""), e.get("message", "")) for e in mine]


def condition(obj: dict[str, Any], type_: str) -> c.Condition | None:
    return c.find((obj.get("status") or {}).get("conditions") or [], type_)


@pytest.fixture
def manager(start_manager: Callable[..., ControllerManager]) -> Callable[..., ControllerManager]:
    """A manager watching every namespace, PlanPolicies of CONTROLLER_NS being the cluster-wide ones."""
    def start(**overrides: Any) -> ControllerManager:
        return start_manager(namespace=None, planpolicy=PlanPolicyOptions(controller_namespace=CONTROLLER_NS),
                             **overrides)
    return start


def ensure_namespace(kube: KubeClient, name: str, labels: dict[str, str] | None = None) -> None:
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}},
               field_manager="test-setup", force=True)


def test_policies_from_git_compile_then_a_syntax_error_then_the_fix(
        crds_installed: KubeClient, manager: Callable[..., ControllerManager], git_file_remote: Callable) -> None:
    kube = crds_installed
    remote = git_file_remote("policies")
    commit = remote.commit({"policies/data/deletes.rego": DENY_DELETES, "policies/data/tags.rego": WARN_TAGS,
                            "policies/data/deletes_test.rego": TEST_FILE, "policies/other/x.rego": BROKEN,
                            "README.md": "policies\n"})
    manager()
    kube.create(GITREPOSITORIES, gitrepo("policies", remote.url, {"branch": "main"}))
    kube.create(PLANPOLICIES, policy("protect-data", sourceRef={"name": "policies"}, path="./policies/data",
                                     data={"protected_types": ["aws_dynamodb_table"]}))

    obj = wait_policy(kube, "protect-data", "True", "PolicyCompiled")
    status = obj["status"]
    assert status["revision"] == f"main@sha1:{commit}"
    assert status["files"] == ["policies/data/deletes.rego", "policies/data/tags.rego"]  # no _test, no other/
    assert status["digest"].startswith("sha256:") and status["observedGeneration"] == obj["metadata"]["generation"]
    assert "2 files compiled at revision main@sha1:" in (ready(kube, "protect-data") or c.Condition("", "")).message
    first_digest = status["digest"]

    remote.commit({"policies/data/tags.rego": BROKEN})  # a push with a syntax error
    obj = wait_policy(kube, "protect-data", "False", "CompileFailed")
    cond = condition(obj, c.READY)
    assert cond is not None and "policies/data/tags.rego:" in cond.message, cond
    assert "policies/data/tags.rego:5:" in cond.message or "policies/data/tags.rego:7:" in cond.message, cond.message
    assert condition(obj, c.STALLED) is not None  # no retry loop: a push brings it back
    assert obj["status"]["digest"] == first_digest  # the last good load stays on record

    fixed = remote.commit({"policies/data/tags.rego": WARN_TAGS.replace("owner", "team")})
    obj = wait_policy(kube, "protect-data", "True", "PolicyCompiled")
    assert obj["status"]["revision"] == f"main@sha1:{fixed}" and obj["status"]["digest"] != first_digest
    assert condition(obj, c.STALLED) is None
    # Events on transitions only: compiled, the failure (Warning), the recovery quoting it (a Normal
    # SourceNotReady may come first, when the policy was seen before the GitRepository's first artifact)
    def settled() -> list[tuple[str, str, str]] | None:
        seen = [e for e in events_of(kube, "protect-data") if e[1] != c.SOURCE_NOT_READY]
        return seen if len(seen) >= 3 else None

    seen = wait_for(settled, 10, "events")
    assert [(t, r) for t, r, _ in seen] == [("Normal", "PolicyCompiled"), ("Warning", "CompileFailed"),
                                          ("Normal", "PolicyCompiled")], seen
    assert seen[2][2].startswith("Recovered from CompileFailed (policy does not compile: policies/data/tags.rego:")

    kube.patch(PLANPOLICIES, "protect-data", {"spec": {"path": "policies/none"}}, "default")
    obj = wait_policy(kube, "protect-data", "False", c.ARTIFACT_FAILED)
    cond = condition(obj, c.READY)
    assert cond is not None and "'policies/none' does not exist" in cond.message, cond


def test_inline_rego_compiles_or_names_its_line(crds_installed: KubeClient,
                                                manager: Callable[..., ControllerManager]) -> None:
    kube = crds_installed
    manager()
    kube.create(PLANPOLICIES, policy("tags", rego=WARN_TAGS, enforcement="warn"))
    kube.create(PLANPOLICIES, policy("broken", rego=BROKEN))
    obj = wait_policy(kube, "tags", "True", "PolicyCompiled")
    assert obj["status"]["files"] == ["inline.rego"] and obj["status"]["revision"].startswith("inline@sha256:")
    obj = wait_policy(kube, "broken", "False", "CompileFailed")
    cond = condition(obj, c.READY)
    assert cond is not None and "inline.rego:" in cond.message, cond
    kube.patch(PLANPOLICIES, "broken", {"spec": {"rego": DENY_DELETES}}, "default")
    wait_policy(kube, "broken", "True", "PolicyCompiled")


def test_missing_source_waits_then_compiles(crds_installed: KubeClient, manager: Callable[..., ControllerManager],
                                            git_file_remote: Callable) -> None:
    kube = crds_installed
    remote = git_file_remote("later")
    remote.commit({"p/deletes.rego": DENY_DELETES})
    manager()
    kube.create(PLANPOLICIES, policy("later", sourceRef={"name": "later"}, path="p"))
    obj = wait_policy(kube, "later", "False", c.SOURCE_NOT_READY)
    cond = condition(obj, c.READY)
    assert cond is not None and "GitRepository default/later not found" in cond.message
    kube.create(GITREPOSITORIES, gitrepo("later", remote.url, {"branch": "main"}))
    wait_policy(kube, "later", "True", "PolicyCompiled")  # the GitRepository's artifact brings it back


@pytest.mark.parametrize(("name", "spec", "message"), [
    ("path-inline", {"rego": WARN_TAGS, "path": "x"}, "spec.path: only with sourceRef"),
    ("slow", {"rego": WARN_TAGS, "timeout": "5m"}, "spec.timeout: must be at most 60s"),
    ("wide", {"rego": WARN_TAGS, "namespaceSelector": {"matchLabels": {"a": "b"}}},
     "spec.namespaceSelector: only a PlanPolicy in the controller's namespace (tfcontroller-system)"),
])
def test_bad_spec_is_stalled_naming_the_field(crds_installed: KubeClient, manager: Callable[..., ControllerManager],
                                              name: str, spec: dict[str, Any], message: str) -> None:
    kube = crds_installed
    manager()
    kube.create(PLANPOLICIES, policy(name, **spec))
    obj = wait_policy(kube, name, "False", "SpecValidationFailed")
    cond = condition(obj, c.READY)
    assert cond is not None and cond.message.startswith(message), cond
    stalled = condition(obj, c.STALLED)
    assert stalled is not None and stalled.reason == "SpecValidationFailed"


def test_source_in_another_namespace_is_refused(crds_installed: KubeClient, manager: Callable[..., ControllerManager],
                                                git_file_remote: Callable) -> None:
    kube = crds_installed
    remote = git_file_remote("shared")
    remote.commit({"p/deletes.rego": DENY_DELETES})
    ensure_namespace(kube, "team-a")
    manager()
    kube.create(GITREPOSITORIES, gitrepo("shared", remote.url, {"branch": "main"}))
    kube.create(PLANPOLICIES, policy("borrowed", "team-a", sourceRef={"name": "shared", "namespace": "default"},
                                     path="p"))
    obj = wait_policy(kube, "borrowed", "False", "AccessDenied", namespace="team-a")
    cond = condition(obj, c.READY)
    assert cond is not None and "cannot access GitRepository/default/shared from namespace team-a" in cond.message


def terraform(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"sourceRef": {"name": "repo"}, "interval": "5m", "suspend": True}}


def test_load_selected_policies_for_the_gate(crds_installed: KubeClient, git_file_remote: Callable,
                                             manager: Callable[..., ControllerManager], tmp_path: Any) -> None:
    kube = crds_installed
    remote = git_file_remote("gate")
    remote.commit({"p/deletes.rego": DENY_DELETES})
    ensure_namespace(kube, "team-a", {"tfcontroller.io/tenant": "team-a"})
    ensure_namespace(kube, "team-b")
    ensure_namespace(kube, CONTROLLER_NS)
    manager()  # publishes the GitRepository's artifact
    kube.create(GITREPOSITORIES, {**gitrepo("gate", remote.url, {"branch": "main"}),
                                  "metadata": {"name": "gate", "namespace": "team-a"}})
    kube.create(PLANPOLICIES, policy("prod-only", "team-a", sourceRef={"name": "gate"}, path="p",
                                     selector={"matchLabels": {"tier": "prod"}}, data={"protected_types": []}))
    kube.create(PLANPOLICIES, policy("tags", "team-a", rego=WARN_TAGS, failurePolicy="Open"))
    kube.create(PLANPOLICIES, policy("broken", "team-a", rego=BROKEN))
    kube.create(PLANPOLICIES, policy("other-team", "team-b", rego=WARN_TAGS))
    kube.create(PLANPOLICIES, policy("tenants", CONTROLLER_NS, rego=WARN_TAGS, namespaceSelector={
        "matchExpressions": [{"key": "tfcontroller.io/tenant", "operator": "Exists"}]}))
    kube.create(TERRAFORMS, terraform("db", "team-a", {"tier": "prod"}))
    kube.create(TERRAFORMS, terraform("web", "team-b", {"tier": "prod"}))
    wait_policy(kube, "prod-only", "True", "PolicyCompiled", "team-a")
    loader = PolicyLoader(kube, tmp_path / "loads")

    loads = load_selected_policies(kube, loader, kube.get(TERRAFORMS, "db", "team-a"), CONTROLLER_NS)
    assert [p.key for p in loads] == ["team-a/broken", "team-a/prod-only", "team-a/tags",
                                      "tfcontroller-system/tenants"]
    by_key = {p.key: p for p in loads}
    prod = by_key["team-a/prod-only"].loaded
    assert prod is not None and prod.files == ("p/deletes.rego",) and prod.bundle.data == {"protected_types": []}
    assert prod.digest == kube.get(PLANPOLICIES, "prod-only", "team-a")["status"]["digest"]  # one digest rule
    assert prod.revision == f"main@sha1:{remote.head()}"
    broken = by_key["team-a/broken"]
    assert broken.loaded is None and broken.error is not None and broken.error.reason == "CompileFailed"
    assert broken.message.startswith("PlanPolicy team-a/broken: CompileFailed: ") and not broken.fail_open
    assert by_key["team-a/tags"].fail_open and by_key["team-a/tags"].loaded is not None

    # team-b: its own policy; the cluster-wide one does not select an unlabelled namespace
    loads = load_selected_policies(kube, loader, kube.get(TERRAFORMS, "web", "team-b"), CONTROLLER_NS)
    assert [p.key for p in loads] == ["team-b/other-team"]
    kube.patch(NAMESPACES, "team-b", {"metadata": {"labels": {"tfcontroller.io/tenant": "team-b"}}})
    loads = load_selected_policies(kube, loader, kube.get(TERRAFORMS, "web", "team-b"), CONTROLLER_NS)
    assert [p.key for p in loads] == ["team-b/other-team", "tfcontroller-system/tenants"]
    # a Terraform without the label: the prod-only policy does not select it
    kube.create(TERRAFORMS, terraform("dev", "team-a", {"tier": "dev"}))
    loads = load_selected_policies(kube, loader, kube.get(TERRAFORMS, "dev", "team-a"), CONTROLLER_NS)
    assert "team-a/prod-only" not in [p.key for p in loads]


def exception(name: str, plan_id: str, terraform_name: str = "orders", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "PolicyException",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"terraformRef": {"name": terraform_name}, "planId": plan_id, "policies": ["protect-data"],
                     "reason": "CHG-1234", **spec}}


def wait_exception(kube: KubeClient, name: str, status: str, reason: str) -> c.Condition:
    def check() -> c.Condition | None:
        obj = kube.get_or_none(POLICYEXCEPTIONS, name, "default")
        cond = c.find(((obj or {}).get("status") or {}).get("conditions") or [], c.READY)
        return cond if cond is not None and (cond.status, cond.reason) == (status, reason) else None

    cond = wait_for(check, 30, f"PolicyException {name} Ready={status} {reason}")
    obj = kube.get(POLICYEXCEPTIONS, name, "default")
    assert_kstatus(obj)
    return cond


def test_exception_accepted_while_its_plan_is_pending(crds_installed: KubeClient,
                                                     manager: Callable[..., ControllerManager]) -> None:
    """Informational only: Accepted while the plan id is pending, Expired (not Stalled, not Reconciling)
    once another plan is pending or it was applied; the Terraform watch updates it."""
    kube = crds_installed
    plan, other = "plan-main-0123456789-abcdef01", "plan-main-0123456789-abcdef02"
    manager()
    kube.create(TERRAFORMS, terraform("orders", "default", {}))
    kube.patch(TERRAFORMS, "orders", {"status": {"plan": {"pending": plan}}}, "default", subresource="status")
    kube.create(POLICYEXCEPTIONS, exception("waive", plan))
    kube.create(POLICYEXCEPTIONS, exception("stale", other))
    kube.create(POLICYEXCEPTIONS, exception("nobody", plan, terraform_name="gone"))
    cond = wait_exception(kube, "waive", "True", "Accepted")
    assert cond.message == f"waives default/protect-data for pending plan {plan} of Terraform default/orders"
    assert "is not pending (the pending plan is " in wait_exception(kube, "stale", "False", "Expired").message
    assert "Terraform default/gone not found" in wait_exception(kube, "nobody", "False", "Expired").message
    obj = kube.get(POLICYEXCEPTIONS, "stale", "default")
    assert condition(obj, c.STALLED) is None and condition(obj, c.RECONCILING) is None

    kube.patch(TERRAFORMS, "orders", {"status": {"plan": {"pending": other}}}, "default", subresource="status")
    wait_exception(kube, "stale", "True", "Accepted")
    assert "was applied" not in wait_exception(kube, "waive", "False", "Expired").message
    kube.patch(TERRAFORMS, "orders", {"status": {"plan": {"pending": ""}, "lastAppliedPlan": other}}, "default",
               subresource="status")
    assert "was applied" in wait_exception(kube, "stale", "False", "Expired").message
