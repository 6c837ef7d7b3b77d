"""The policy gate (issue 18) with real terraform, the dev cluster and policies from a real git repository:
a plan deleting a protected resource is denied in auto mode and its approval refused (controller and
`operations.approval`, which the CLI and the dashboard share); an exception for another plan id waives
nothing; one for the plan's id lets it apply (history records it); a warn policy shows its warning and the
plan applies; a policy edit pushed to Git re-evaluates the pending plan without planning again; a Rego
syntax error blocks (fail closed, naming file:line) unless the PlanPolicy fails open. The first two tests
drive the reconciler step by step (Harness); the last runs the whole manager (GitRepository polling, the
PlanPolicy controller, the Terraform controller's watches) and counts the Terraform commands: a push to the
policy repository re-checks the pending plan through the watches, and no `terraform plan` runs.

"Protected" is simulated with `terraform_data` resources whose name starts with `db` (no provider needed).
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.controllers import gitrepo
from tests.support.holds import HoldServer
from tests.support.polling import wait_for
from tests.support.terraform_helpers import NS, CountingTerraform, Harness, condition, ready_reason, seed_keys
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN, ANNOTATION_REPLAN
from tfcontroller.api.policy_verdict import POLICY_CHECKED
from tfcontroller.controllers.setup import ControllerManager
from tfcontroller.controllers.terraform import TerraformOptions, TerraformReconciler
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import (
    GITREPOSITORIES,
    NAMESPACES,
    PLANPOLICIES,
    POLICYEXCEPTIONS,
    SECRETS,
    TERRAFORMS,
)
from tfcontroller.operations.approval import check_approvable
from tfcontroller.operations.errors import OperationRefused

pytestmark = pytest.mark.slow

WITH_DB = """
resource "terraform_data" "db" {
  input = "orders"
}
resource "terraform_data" "web" {
  input = "v1"
}
"""
WITHOUT_DB = """
resource "terraform_data" "web" {
  input = "v2"
}
"""
PROTECT = """package main

import rego.v1

deny contains msg if {
  some rc in input.resource_changes
  rc.type == "terraform_data"
  startswith(rc.name, "db")
  "delete" in rc.change.actions
  msg := sprintf("%s would be deleted: it is protected", [rc.address])
}
"""
NO_NEW_WEB = PROTECT + """
deny contains msg if {
  some rc in input.resource_changes
  rc.name == "web"
  "create" in rc.change.actions
  msg := sprintf("%s may not be created (input.tfcontroller.planId %s)", [rc.address, input.tfcontroller.planId])
}
"""
BROKEN = "package main\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := \n}\n"
WARN_INLINE = """package main

import rego.v1

warn contains msg if {
  some rc in input.resource_changes
  "create" in rc.change.actions
  msg := sprintf("%s is new: tell the on-call team", [rc.address])
}
"""


def _pending(obj: dict[str, Any]) -> str:
    return ((obj.get("status") or {}).get("plan") or {}).get("pending") or ""


def _policy(obj: dict[str, Any]) -> dict[str, Any]:
    return ((obj.get("status") or {}).get("plan") or {}).get("policy") or {}


def _plan_policy(harness: Harness, name: str, **spec: Any) -> None:
    _plan_policy_on(harness.kube, name, **spec)


def _exception(harness: Harness, name: str, plan_id: str, policies: list[str]) -> None:
    harness.kube.create(POLICYEXCEPTIONS, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "PolicyException",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"terraformRef": {"name": "app"}, "planId": plan_id, "policies": policies,
                 "reason": "orders moved to the new cluster (CHG-1234)"}})


def _state_names(harness: Harness) -> list[str]:
    return sorted(r["name"] for r in (harness.state("app") or {}).get("resources", []))


@pytest.mark.runner_modes  # the plan's show -json comes from the run (a runner Pod in pod mode)
def test_denied_in_auto_mode_approval_refused_and_waived_only_for_its_plan_id(harness: Harness,
                                                                             git_file_remote) -> None:
    src, policies = git_file_remote("infra"), git_file_remote("policies")
    harness.publish("src", src.bare, src.commit({"main.tf": WITH_DB}))
    harness.publish("policies", policies.bare, policies.commit({"policies/protect.rego": PROTECT,
                                                                "policies/protect_test.rego": "not rego"}))
    _plan_policy(harness, "protect", sourceRef={"kind": "GitRepository", "name": "policies"}, path="policies")
    harness.create("app")
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")
    assert _state_names(harness) == ["db", "web"]
    plan_entry = next(h for h in obj["status"]["history"] if h["kind"] == "plan")
    assert plan_entry["policy"] == "passed"

    # the next commit deletes the protected resource: denied, in auto mode
    harness.publish("src", src.bare, src.commit({"main.tf": WITHOUT_DB}))
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PolicyDenied", what="denial")
    plan_id = _pending(obj)
    assert plan_id and _policy(obj)["result"] == "denied"
    [row] = _policy(obj)["results"]
    assert row["policy"] == f"{NS}/protect" and row["result"] == "denied"
    assert row["messages"] == ["terraform_data.db would be deleted: it is protected"]
    ready = condition(obj, c.READY)
    assert "terraform_data.db would be deleted" in ready.message and plan_id in ready.message
    checked = condition(obj, POLICY_CHECKED)
    assert checked is not None and checked.status == c.FALSE and checked.reason == "PolicyDenied"
    assert _state_names(harness) == ["db", "web"]
    denials = [e for e in harness.events("app") if e.get("reason") == "PolicyDenied"]
    assert [e["type"] for e in denials] == ["Warning"] and "terraform_data.db would be deleted" in denials[0]["message"]

    # an approval of exactly that plan id: refused by the operation the CLI and dashboard use, and the
    # controller does not apply it either
    with pytest.raises(OperationRefused, match="terraform_data.db would be deleted"):
        check_approvable(obj, plan_id)
    harness.annotate("app", ANNOTATION_APPROVE_PLAN, plan_id)
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/PolicyDenied" and _pending(obj) == plan_id
    assert _state_names(harness) == ["db", "web"]

    # an exception for another plan id waives nothing
    other = plan_id[:-8] + "00000000"
    _exception(harness, "stale-waiver", other, ["protect"])
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/PolicyDenied" and _pending(obj) == plan_id
    assert _policy(obj)["result"] == "denied" and not _policy(obj)["results"][0].get("exception")
    assert _state_names(harness) == ["db", "web"]

    # an exception for this plan id: applied, and the history says which exception waived what
    _exception(harness, "allow-orders-delete", plan_id, [f"{NS}/protect"])
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="waived apply")
    assert obj["status"]["lastAppliedPlan"] == plan_id
    assert _state_names(harness) == ["web"]
    apply_entry = next(h for h in obj["status"]["history"] if h["kind"] == "apply")
    assert apply_entry["planId"] == plan_id and apply_entry["exceptions"] == ["allow-orders-delete"]
    assert condition(obj, POLICY_CHECKED) is None  # nothing pending any more


def test_warn_reevaluation_without_replanning_and_broken_policy(harness: Harness, git_file_remote) -> None:
    src, policies = git_file_remote("infra"), git_file_remote("policies")
    harness.publish("src", src.bare, src.commit({"main.tf": WITHOUT_DB}))
    harness.publish("policies", policies.bare, policies.commit({"rules/protect.rego": PROTECT}))
    _plan_policy(harness, "protect", sourceRef={"kind": "GitRepository", "name": "policies"}, path="rules")
    _plan_policy(harness, "announce", rego=WARN_INLINE, enforcement="warn")
    harness.create("app", approvePlan="")

    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="a pending plan")
    plan_id, created = _pending(obj), obj["status"]["plan"]["createdAt"]
    assert _policy(obj)["result"] == "warned"
    rows = {r["policy"]: r for r in _policy(obj)["results"]}
    assert rows[f"{NS}/announce"]["messages"] == ["terraform_data.web is new: tell the on-call team"]
    assert rows[f"{NS}/protect"]["result"] == "passed"
    checked = condition(obj, POLICY_CHECKED)
    assert checked is not None and (checked.status, checked.reason) == (c.TRUE, "PolicyWarned")
    assert any(e["reason"] == "PolicyWarned" and "tell the on-call team" in e["message"] for e in harness.events("app"))
    plans = sum(1 for h in obj["status"]["history"] if h["kind"] == "plan")

    # a policy edit pushed to Git re-evaluates the pending plan: same plan, no new plan run
    harness.publish("policies", policies.bare, policies.commit({"rules/protect.rego": NO_NEW_WEB}))
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PolicyDenied", what="re-evaluation")
    assert _pending(obj) == plan_id and obj["status"]["plan"]["createdAt"] == created
    assert sum(1 for h in obj["status"]["history"] if h["kind"] == "plan") == plans
    assert f"terraform_data.web may not be created (input.tfcontroller.planId {plan_id})" in \
        condition(obj, c.READY).message

    # a syntax error: fail closed, naming the file and line
    harness.publish("policies", policies.bare, policies.commit({"rules/protect.rego": BROKEN}))
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PolicyUnavailable", what="broken")
    message = condition(obj, c.READY).message
    assert f"{NS}/protect" in message and "protect.rego:6" in message, message
    assert _pending(obj) == plan_id
    with pytest.raises(OperationRefused, match="protect.rego:6"):
        check_approvable(obj, plan_id)

    # ... unless the PlanPolicy fails open: a warning, and the plan may be approved and applied
    harness.kube.patch(PLANPOLICIES, "protect", {"spec": {"failurePolicy": "Open"}}, NS)
    obj = harness.reconcile_until("app", lambda o: _policy(o).get("result") == "warned", what="fail open")
    assert "not enforced (failurePolicy Open)" in str(_policy(obj)["results"])
    harness.annotate("app", ANNOTATION_APPROVE_PLAN, plan_id)
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    assert obj["status"]["lastAppliedPlan"] == plan_id and _state_names(harness) == ["web"]
    apply_entry = next(h for h in obj["status"]["history"] if h["kind"] == "apply")
    assert apply_entry["policy"] == "warned"


NO_DESTROY = """package main

import rego.v1

deny contains msg if {
  input.tfcontroller.isDestroy
  some rc in input.resource_changes
  "delete" in rc.change.actions
  msg := sprintf("destroying %s (%s/%s) needs an exception", [rc.address, input.tfcontroller.namespace,
                                                            input.tfcontroller.name])
}
"""


def test_a_destroy_plan_is_checked_too(harness: Harness, git_file_remote) -> None:
    """spec.destroy: the destroy plan goes through the gate, with isDestroy in input.tfcontroller."""
    src = git_file_remote("infra")
    harness.publish("src", src.bare, src.commit({"main.tf": WITH_DB}))
    _plan_policy(harness, "no-destroy", rego=NO_DESTROY)
    harness.create("app")
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")
    harness.patch("app", {"spec": {"destroy": True}})
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PolicyDenied", what="destroy denied")
    assert obj["status"]["plan"]["isDestroy"] is True
    [row] = _policy(obj)["results"]
    assert sorted(row["messages"]) == [f"destroying terraform_data.{n} ({NS}/app) needs an exception" for n in ("db", "web")]
    assert _state_names(harness) == ["db", "web"]


def _wait(kube: KubeClient, resource: Any, name: str, predicate: Callable[[dict[str, Any]], Any], what: str,
          timeout: float = 90.0) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def check() -> Any:
        box["obj"] = kube.get_or_none(resource, name, NS) or {}
        return predicate(box["obj"])

    try:
        wait_for(check, timeout, what, interval=0.1)
    except AssertionError:
        raise AssertionError(f"timed out waiting for {what}; status: {box['obj'].get('status')}") from None
    return box["obj"]


def test_a_push_to_the_policy_repository_rechecks_the_pending_plan_through_the_watches(
        start_manager: Callable[..., ControllerManager], dev_cluster: DevCluster, crds_installed: KubeClient,
        tmp_path: Path, holds: HoldServer, git_file_remote: Callable[..., Any]) -> None:
    kube = crds_installed
    seed_keys(kube)
    terraform = CountingTerraform(tmp_path, holds)
    manager = start_manager(kubeconfig=dev_cluster.kubeconfig,
                            terraform=TerraformOptions(work_dir=str(tmp_path / "tf-work"), binary=str(terraform.path),
                                                       controller_namespace=NS))
    src, policies = git_file_remote("infra"), git_file_remote("policies")
    src.commit({"main.tf": WITHOUT_DB})
    policies.commit({"rules/protect.rego": PROTECT})
    kube.create(GITREPOSITORIES, gitrepo("src", src.url, {"branch": "main"}))
    kube.create(GITREPOSITORIES, gitrepo("policies", policies.url, {"branch": "main"}))
    _plan_policy_on(kube, "protect", sourceRef={"kind": "GitRepository", "name": "policies"}, path="rules")
    kube.create(TERRAFORMS, {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
                             "metadata": {"name": "app", "namespace": NS},
                             "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "path": "./",
                                      "interval": "1h", "approvePlan": ""}})
    obj = _wait(kube, TERRAFORMS, "app", lambda o: _policy(o).get("result") == "passed", "a checked pending plan")
    plan_id = _pending(obj)
    plans = terraform.count("plan")
    assert plans >= 1

    # the edit goes Git → GitRepository artifact → PlanPolicy digest → the Terraform (watch) → re-evaluation
    policies.commit({"rules/protect.rego": NO_NEW_WEB})
    obj = _wait(kube, TERRAFORMS, "app", lambda o: ready_reason(o) == "False/PolicyDenied", "re-evaluation")
    assert _pending(obj) == plan_id and terraform.count("plan") == plans
    assert "terraform_data.web may not be created" in condition(obj, c.READY).message
    assert sum(1 for h in obj["status"]["history"] if h["kind"] == "plan") == 1

    # a syntax error: the PlanPolicy says where, and the Terraform is blocked naming the policy (fail closed)
    policies.commit({"rules/protect.rego": BROKEN})
    pp = _wait(kube, PLANPOLICIES, "protect", lambda o: (condition(o, c.READY) or c.Condition("", "")).reason
               == "CompileFailed", "PlanPolicy CompileFailed")
    assert "rules/protect.rego:6" in condition(pp, c.READY).message
    obj = _wait(kube, TERRAFORMS, "app", lambda o: ready_reason(o) == "False/PolicyUnavailable", "fail closed")
    assert f"{NS}/protect" in condition(obj, c.READY).message and _pending(obj) == plan_id
    assert terraform.count("plan") == plans and terraform.count("apply") == 0
    registry = manager.metrics.registry
    assert (registry.get_sample_value("tfcontroller_policy_evaluations_total", {"result": "denied"}) or 0) >= 1
    assert (registry.get_sample_value("tfcontroller_policy_denials_total") or 0) >= 1
    assert (registry.get_sample_value("tfcontroller_policy_evaluation_seconds_count") or 0) >= 3


def _plan_policy_on(kube: KubeClient, name: str, **spec: Any) -> None:
    kube.create(PLANPOLICIES, {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "PlanPolicy",
                               "metadata": {"name": name, "namespace": NS}, "spec": spec})


# ---- a denial sticks to its plan id (review s20 gap 1, controllers/terraform/policy_hold.py) --------------
def _restart(harness: Harness, **changes: Any) -> None:
    """A new reconciler (what a controller restart keeps is what the API server holds), with `changes` to the
    controller's options."""
    harness.reconciler.cancel_all()
    harness.options = dataclasses.replace(harness.options, **changes)
    harness.reconciler = TerraformReconciler(harness.kube, harness.options)


def _denials(obj: dict[str, Any]) -> dict[str, list[str]]:
    return {e["planId"]: [p["policy"] for p in e["policies"]] for e in obj["status"].get("policyDenials") or []}


def _held(harness: Harness, plan_id: str, what: str) -> dict[str, Any]:
    """One reconcile (or more, until the gate has seen the change): the plan is still held, by the hold's
    message; an approval of it is refused by the rule the CLI and the dashboard share; nothing applied."""
    obj = harness.reconcile_until("app", lambda o: "no longer selects" in str(_policy(o)), what=what)
    assert ready_reason(obj) == "False/PolicyDenied" and _pending(obj) == plan_id, what
    message = condition(obj, c.READY).message
    for part in (f"{NS}/protect", "no longer selects", f"PolicyException for plan {plan_id}", "new plan"):
        assert part in message, (what, message)
    with pytest.raises(OperationRefused, match="no longer selects"):
        check_approvable(obj, plan_id)
    assert obj["status"].get("lastAppliedPlan") != plan_id and _state_names(harness) == ["db", "web"], what
    return obj


def test_a_denial_sticks_to_its_plan_id_when_the_policy_stops_selecting_the_object(harness: Harness,
                                                                                   git_file_remote) -> None:
    """Whoever may patch the Terraform (tenant, dashboard approver, Git author) removes the label the
    PlanPolicy selects on, or the PlanPolicy's selector changes, or it is deleted: the denied plan id stays
    held (through a re-plan of the same changes and a controller restart) and an approval applies nothing;
    a PolicyException for that plan id naming the policy lets it through."""
    src = git_file_remote("infra")
    harness.publish("src", src.bare, src.commit({"main.tf": WITH_DB}))
    _plan_policy(harness, "protect", rego=PROTECT, selector={"matchLabels": {"tier": "production"}})
    harness.create("app", approvePlan="")
    harness.patch("app", {"metadata": {"labels": {"tier": "production", "team": "orders"}}})
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="first plan")
    harness.annotate("app", ANNOTATION_APPROVE_PLAN, _pending(obj))
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")
    harness.publish("src", src.bare, src.commit({"main.tf": WITHOUT_DB}))
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PolicyDenied", what="denied")
    plan_id = _pending(obj)
    assert _denials(obj) == {plan_id: [f"{NS}/protect"]}  # in status: only the controller writes it

    # 1. the label removed and the plan approved in the same patch
    harness.patch("app", {"metadata": {"labels": {"tier": None},
                                       "annotations": {ANNOTATION_APPROVE_PLAN: plan_id}}})
    _held(harness, plan_id, "relabelled and approved")
    # ... a re-plan of the same changes gets the same id and stays held; so does a controller restart
    harness.annotate("app", ANNOTATION_REPLAN, "after-relabel")
    obj = harness.reconcile_until("app", lambda o: o["status"].get("lastHandledReplan") == "after-relabel",
                                  what="re-plan")
    assert _pending(obj) == plan_id
    _held(harness, plan_id, "re-planned")
    _restart(harness)
    _held(harness, plan_id, "after a restart")

    # 2. the label back, but the PlanPolicy's selector changed so that it no longer selects the object
    harness.patch("app", {"metadata": {"labels": {"tier": "production"}}})
    harness.kube.patch(PLANPOLICIES, "protect", {"spec": {"selector": {"matchLabels": {"tier": "critical"}}}}, NS)
    _held(harness, plan_id, "selector changed")
    # 3. the PlanPolicy deleted
    harness.kube.delete(PLANPOLICIES, "protect", NS)
    obj = _held(harness, plan_id, "PlanPolicy deleted")
    assert [r["policy"] for r in _policy(obj)["results"]] == [f"{NS}/protect"]

    # an exception for that plan id naming the policy lifts the hold: applied
    _exception(harness, "allow-orders-delete", plan_id, ["protect"])
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="waived apply")
    assert obj["status"]["lastAppliedPlan"] == plan_id and _state_names(harness) == ["web"]
    apply_entry = next(h for h in obj["status"]["history"] if h["kind"] == "apply")
    assert apply_entry["exceptions"] == ["allow-orders-delete"]


def test_a_new_plan_with_other_changes_is_not_held(harness: Harness, git_file_remote) -> None:
    """The hold is per plan id: after a relabel, a commit with other changes is a new plan, which only the
    policies selecting the object now judge (here none: applied). docs/policy.md "Scope" says so."""
    src = git_file_remote("infra")
    harness.publish("src", src.bare, src.commit({"main.tf": WITH_DB}))
    _plan_policy(harness, "protect", rego=PROTECT, selector={"matchLabels": {"tier": "production"}})
    harness.create("app")
    harness.patch("app", {"metadata": {"labels": {"tier": "production"}}})
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")
    harness.publish("src", src.bare, src.commit({"main.tf": WITHOUT_DB}))
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PolicyDenied", what="denied")
    denied = _pending(obj)
    harness.patch("app", {"metadata": {"labels": {"tier": None}}})
    _held(harness, denied, "relabelled")
    harness.publish("src", src.bare, src.commit({"main.tf": WITH_DB.replace('"v1"', '"v3"')}))
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="new plan")
    assert obj["status"]["lastAppliedPlan"] not in ("", denied) and _state_names(harness) == ["db", "web"]
    assert condition(obj, POLICY_CHECKED) is None


PLATFORM_NS = "tfc-platform"


def test_a_controller_namespace_policy_selecting_by_namespace_still_blocks_after_a_relabel(
        harness: Harness, git_file_remote) -> None:
    """What a tenant cannot escape: a PlanPolicy in the controller's namespace with a `namespaceSelector`
    and no `selector`. Relabelling the Terraform (every label removed) before the plan changes nothing: the
    new plan is evaluated and denied by the platform's policy itself."""
    harness.kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PLATFORM_NS}})
    _restart(harness, controller_namespace=PLATFORM_NS)
    try:
        harness.kube.create(PLANPOLICIES, {
            "apiVersion": "tfcontroller.io/v1alpha1", "kind": "PlanPolicy",
            "metadata": {"name": "platform-protect", "namespace": PLATFORM_NS},
            "spec": {"rego": PROTECT, "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NS}}}})
        src = git_file_remote("infra")
        harness.publish("src", src.bare, src.commit({"main.tf": WITH_DB}))
        harness.create("app")
        harness.patch("app", {"metadata": {"labels": {"tier": "production", "team": "orders"}}})
        harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")
        harness.patch("app", {"metadata": {"labels": {"tier": None, "team": None}}})
        harness.publish("src", src.bare, src.commit({"main.tf": WITHOUT_DB}))
        obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PolicyDenied", what="denied")
        [row] = _policy(obj)["results"]
        assert row["policy"] == f"{PLATFORM_NS}/platform-protect"
        assert row["messages"] == ["terraform_data.db would be deleted: it is protected"]
        assert not (obj["metadata"].get("labels") or {}) and _state_names(harness) == ["db", "web"]
        harness.annotate("app", ANNOTATION_APPROVE_PLAN, _pending(obj))
        obj = harness.reconcile("app")
        assert ready_reason(obj) == "False/PolicyDenied" and _state_names(harness) == ["db", "web"]
    finally:
        harness.kube.delete(PLANPOLICIES, "platform-protect", PLATFORM_NS)


# ---- a drift-remediation plan goes through the gate (review s20 gap 4) -------------------------------------
DRIFT_GUARD = """package main

import rego.v1

deny contains msg if {
  input.tfcontroller.isDrift
  some rc in input.resource_changes
  startswith(rc.name, "db")
  rc.change.actions != ["no-op"]
  msg := concat("", ["drift remediation would ", concat("-", rc.change.actions), " ", rc.address, ": a person decides"])
}
"""


def _edit_state_by_hand(harness: Harness, address: str, value: str) -> None:
    """Drift without a provider: change a resource's `input` in the state Secret, as if someone had changed
    the real thing and a refresh had recorded it; the next drift check plans to set it back."""
    secret = harness.kube.get(SECRETS, "tfstate-default-app", NS)
    state = json.loads(gzip.decompress(base64.b64decode(secret["data"]["tfstate"])))
    kind, name = address.split(".")
    [resource] = [r for r in state["resources"] if (r["type"], r["name"]) == (kind, name)]
    attributes = resource["instances"][0]["attributes"]
    for key in ("input", "output"):
        attributes[key]["value"] = value
    data = base64.b64encode(gzip.compress(json.dumps(state).encode())).decode()
    harness.kube.patch(SECRETS, "tfstate-default-app", {"data": {"tfstate": data}}, NS)


def _input_of(harness: Harness, name: str) -> str:
    [resource] = [r for r in (harness.state("app") or {})["resources"] if r["name"] == name]
    return str(resource["instances"][0]["attributes"]["input"]["value"])


def _drift_checks(obj: dict[str, Any]) -> int:
    return sum(1 for h in obj["status"].get("history") or [] if h["kind"] == "drift")


def test_a_drift_remediation_plan_is_gated_held_through_drift_rechecks_and_applied_after_an_exception(
        harness: Harness, git_file_remote) -> None:
    """A drift check in auto mode plans to undo a hand edit of a protected resource: the plan (isDrift) is
    denied by a policy reading input.tfcontroller.isDrift, and not applied. Relabelled out of the policy's
    selector, the pending remediation plan is re-planned by each due drift re-check — same changes, same
    plan id — and stays held. A PolicyException for that plan id applies it: the hand edit is undone."""
    src = git_file_remote("infra")
    harness.publish("src", src.bare, src.commit({"main.tf": WITH_DB}))
    _plan_policy(harness, "protect", rego=DRIFT_GUARD, selector={"matchLabels": {"tier": "production"}})
    harness.create("app", driftDetection={"interval": "1s"})
    harness.patch("app", {"metadata": {"labels": {"tier": "production"}}})
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="first apply")
    assert _input_of(harness, "db") == "orders"

    _edit_state_by_hand(harness, "terraform_data.db", "orders-by-hand")
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PolicyDenied", what="drift denied")
    plan_id = _pending(obj)
    assert obj["status"]["plan"]["isDrift"] is True and obj["status"]["lastAppliedPlan"] != plan_id
    [row] = _policy(obj)["results"]
    assert row["messages"] == ["drift remediation would update terraform_data.db: a person decides"]
    assert _input_of(harness, "db") == "orders-by-hand"  # auto mode, yet nothing applied
    drift_entry = next(h for h in obj["status"]["history"] if h["kind"] == "drift")
    assert drift_entry["planId"] == plan_id and drift_entry["policy"] == "denied"

    harness.patch("app", {"metadata": {"labels": {"tier": None}}})
    checks = _drift_checks(obj)
    obj = harness.reconcile_until("app", lambda o: _drift_checks(o) >= checks + 2 and "no longer selects"
                                  in str(_policy(o)), what="drift re-checks after the relabel")
    assert ready_reason(obj) == "False/PolicyDenied" and _pending(obj) == plan_id
    assert obj["status"]["plan"]["isDrift"] is True and _input_of(harness, "db") == "orders-by-hand"

    _exception(harness, "undo-hand-edit", plan_id, ["protect"])
    obj = harness.reconcile_until("app", lambda o: o["status"].get("lastAppliedPlan") == plan_id,
                                  what="remediation applied")
    assert _input_of(harness, "db") == "orders"
    apply_entry = next(h for h in obj["status"]["history"] if h["kind"] == "apply")
    assert apply_entry["planId"] == plan_id and apply_entry["exceptions"] == ["undo-hand-edit"]
