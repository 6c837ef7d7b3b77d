"""status.history with real Terraform on the dev cluster (issue 17): plans, applies and a drift check are
recorded newest first with their outcomes; the approver of a CLI approval is the kubeconfig's identity (a
ServiceAccount token, so the name is checkable) with via cli; a bare `kubectl annotate` approval is
recorded as such, with kubectl's field manager — and the CLI's earlier approved-by claim, which names
another plan, is not believed; a failing plan is an entry with its reason, its retries one entry; the cap
(`history_limit`) holds; `tfcontroller history` prints the table and the entries as JSON; `auto` and
spec.approvePlan are credited as such; a claim written by hand shows its writer's field manager."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.manifestset_support import kubectl
from tests.support.terraform_helpers import NS, SIMPLE_TF, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.api.history import history_of
from tfcontroller.cli.main import main
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import SERVICEACCOUNTS, Resource

ROLES = Resource("rbac.authorization.k8s.io/v1", "Role", "roles")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")
APPROVER = f"system:serviceaccount:{NS}:approver"
LIMIT = 5


@pytest.fixture
def history_harness(kube: KubeClient, dev_cluster: DevCluster, tmp_path: Path, runner_mode: str) -> Iterator[Harness]:
    h = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode=runner_mode, history_limit=LIMIT)
    try:
        yield h
    finally:
        h.close()


def approver_kubeconfig(kube: KubeClient, cluster: DevCluster, tmp_path: Path) -> str:
    """A kubeconfig holding a token of ServiceAccount `approver`, which may read and patch Terraforms."""
    kube.create(SERVICEACCOUNTS, {"metadata": {"name": "approver"}}, NS)
    kube.create(ROLES, {"metadata": {"name": "approver"}, "rules": [
        {"apiGroups": ["tfcontroller.io"], "resources": ["terraforms"], "verbs": ["get", "list", "patch"]}]}, NS)
    kube.create(ROLEBINDINGS, {"metadata": {"name": "approver"},
                               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "approver"},
                               "subjects": [{"kind": "ServiceAccount", "name": "approver", "namespace": NS}]}, NS)
    token, _ = cluster.tokens.issue(NS, "approver")
    path = tmp_path / "approver.kubeconfig"
    write_kubeconfig(path, cluster.url, str(token), cluster.ca_pem)
    return str(path)


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def entries(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e.kind, e.outcome, e.reason) for e in history_of(obj.get("status"))]


def test_history_records_runs_and_approvers(history_harness: Harness, dev_cluster: DevCluster, git_file_remote: Any,
                                            tmp_path: Path) -> None:
    h = history_harness
    remote = git_file_remote("infra")
    commit = remote.commit({"main.tf": SIMPLE_TF})
    h.publish("src", remote.bare, commit)
    h.create("app", approvePlan="")
    revision = f"main@sha1:{commit}"

    # a plan: one entry with its plan id and counts
    obj = h.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="a pending plan")
    first = obj["status"]["plan"]["pending"]
    [plan] = history_of(obj["status"])
    assert (plan.kind, plan.outcome, plan.reason, plan.plan_id, plan.add, plan.revision) == \
        ("plan", "Succeeded", "PlanGenerated", first, 1, revision)
    assert plan.run_id and plan.started_at and plan.finished_at and plan.approved_by is None

    # approved with the CLI as ServiceAccount `approver`: its name, groups and `cli` on the apply
    code, _ = cli("approve", "app", "--plan", first, "-n", NS, "--kubeconfig",
                  approver_kubeconfig(h.kube, dev_cluster, tmp_path))
    assert code == 0
    obj = h.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="the approved apply")
    apply = history_of(obj["status"])[0]
    assert (apply.kind, apply.outcome, apply.reason, apply.plan_id, apply.add) == \
        ("apply", "Succeeded", "ApplySucceeded", first, 1)
    assert apply.approved_by is not None and apply.approved_by.username == APPROVER
    assert apply.approved_by.via == "cli" and f"system:serviceaccounts:{NS}" in apply.approved_by.groups
    assert apply.approved_by.manager == "tfcontroller-cli"

    # a new plan approved by a bare `kubectl annotate`: recorded as such; the CLI's claim names the old plan
    h.patch("app", {"spec": {"vars": [{"name": "greeting", "value": "salut"}]}})
    obj = h.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="a second plan")
    second = obj["status"]["plan"]["pending"]
    assert second != first
    done = kubectl(dev_cluster.kubeconfig, "annotate", "terraform/app", "-n", NS,
                   f"tfcontroller.io/approve-plan={second}", "--overwrite")
    assert done.returncode == 0, done.stderr
    obj = h.reconcile_until("app", lambda o: o["status"].get("lastAppliedPlan") == second, what="second apply")
    bare = history_of(obj["status"])[0]
    assert (bare.kind, bare.plan_id) == ("apply", second) and bare.approved_by is not None
    assert (bare.approved_by.via, bare.approved_by.username, bare.approved_by.manager) == \
        ("annotation", "", "kubectl-annotate")

    # a plan that fails (a value of the wrong type): an entry with the reason Ready shows; retries add none
    h.patch("app", {"spec": {"vars": [{"name": "greeting", "value": {"not": "a string"}}]}})
    obj = h.reconcile_until("app", lambda o: history_of(o["status"])[0].outcome == "Failed", what="a failed plan")
    failed = history_of(obj["status"])[0]
    ready = condition(obj, c.READY)
    assert ready is not None and failed.kind == "plan" and failed.reason == ready.reason and failed.message
    obj = h.reconcile("app")
    assert history_of(obj["status"])[0].attempts == 2
    assert [e.kind for e in history_of(obj["status"])] == ["plan", "apply", "plan", "apply", "plan"]

    # back to the applied inputs, then a drift check (due at once): a `drift` entry; the cap drops the oldest
    h.patch("app", {"spec": {"vars": [{"name": "greeting", "value": "salut"}], "driftDetection": {"interval": "1s"}}})
    obj = h.reconcile_until("app", lambda o: history_of(o["status"])[0].kind == "drift", what="a drift check")
    history = history_of(obj["status"])
    assert len(history) == LIMIT and (history[0].kind, history[0].outcome) == ("drift", "NoChanges")
    assert first not in {e.plan_id for e in history if e.kind == "plan"}  # the oldest entry went first
    assert [e.plan_id for e in history if e.kind == "apply"][:1] == [second]

    # the CLI prints them, newest first
    code, out = cli("history", "app", "-n", NS, "--kubeconfig", dev_cluster.kubeconfig)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["STARTED", "KIND", "OUTCOME", "REASON"]
    assert lines[1].split()[1:3] == ["drift", "NoChanges"] and "annotation (kubectl-annotate)" in out
    code, out = cli("history", "app", "-n", NS, "-o", "json", "--kubeconfig", dev_cluster.kubeconfig)
    assert json.loads(out) == obj["status"]["history"]


def test_auto_and_git_approvals(history_harness: Harness, git_file_remote: Any) -> None:
    """`approvePlan: auto`: the plan and its apply are one run (one run id), the apply credited to auto; a plan
    approved by spec.approvePlan (from Git) is credited to spec."""
    h = history_harness
    remote = git_file_remote("infra")
    h.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    h.create("auto")
    obj = h.reconcile_until("auto", lambda o: ready_reason(o) == "True/ApplySucceeded", what="the auto apply")
    apply, plan = history_of(obj["status"])
    assert [(apply.kind, apply.outcome), (plan.kind, plan.outcome)] == [("apply", "Succeeded"), ("plan", "Succeeded")]
    assert apply.run_id == plan.run_id and apply.plan_id == plan.plan_id
    assert apply.approved_by is not None and apply.approved_by.via == "auto"

    h.create("gitops", approvePlan="")
    obj = h.reconcile_until("gitops", lambda o: ready_reason(o) == "False/PlanPending", what="a pending plan")
    h.patch("gitops", {"spec": {"approvePlan": obj["status"]["plan"]["pending"]}})
    obj = h.reconcile_until("gitops", lambda o: ready_reason(o) == "True/ApplySucceeded", what="the Git approval")
    approved = history_of(obj["status"])[0].approved_by
    assert approved is not None and (approved.via, approved.username) == ("spec", "")


def test_a_hand_written_claim_shows_its_writer(history_harness: Harness, dev_cluster: DevCluster,
                                               git_file_remote: Any) -> None:
    """The approved-by claim is as trustworthy as the client that wrote it: one written by hand with kubectl
    for the right plan is copied, and the field manager recorded beside it (`kubectl-annotate`, not
    `tfcontroller-cli`) shows who really wrote it (docs/architecture.md "Who approved")."""
    h = history_harness
    remote = git_file_remote("infra")
    h.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    h.create("app", approvePlan="")
    plan = h.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending")["status"]["plan"]["pending"]
    claim = json.dumps({"plan": plan, "username": "mallory", "groups": [], "via": "cli"})
    done = kubectl(dev_cluster.kubeconfig, "annotate", "terraform/app", "-n", NS, "--overwrite",
                   f"tfcontroller.io/approve-plan={plan}", f"tfcontroller.io/approved-by={claim}")
    assert done.returncode == 0, done.stderr
    obj = h.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="the apply")
    approved = history_of(obj["status"])[0].approved_by
    assert approved is not None and (approved.username, approved.via, approved.manager) == \
        ("mallory", "cli", "kubectl-annotate")
