"""Manual approval (design.md §4.1–4.2): a pending plan with the exact `kubectl annotate` hint, an
approval naming another plan refused with both ids, approval by annotation and by spec.approvePlan,
committing the approval (the Terraform YAML) to the same repository causing no re-plan, the encrypted
plan Secret (labelled, annotated, owned), and a stale saved plan planned again and held for a new
approval."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.terraform_helpers import SIMPLE_TF, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN
from tfcontroller.kube.resources import SECRETS


def _pending(obj: dict) -> str:
    return ((obj.get("status") or {}).get("plan") or {}).get("pending") or ""


@pytest.mark.runner_modes
def test_manual_approval_refusal_and_no_replan_on_approval_commit(harness: Harness, git_file_remote) -> None:
    remote = git_file_remote("infra")
    tf_yaml = "apiVersion: tfcontroller.io/v1alpha1\nkind: Terraform\nmetadata: {name: app}\nspec: {}\n"
    commit = remote.commit({"modules/app/main.tf": SIMPLE_TF, "clusters/app.yaml": tf_yaml})
    harness.publish("src", remote.bare, commit)
    harness.create("app", path="./modules/app", approvePlan="")

    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="a pending plan")
    plan_id = _pending(obj)
    assert plan_id.startswith(f"plan-main-{commit[:10]}-")
    ready = condition(obj, c.READY)
    assert f"`kubectl annotate terraform/app -n default tfcontroller.io/approve-plan={plan_id} " \
           "--overwrite`" in ready.message
    assert f"approve with `tfcontroller approve app --plan {plan_id} -n default`" in ready.message
    assert condition(obj, c.RECONCILING) is None and condition(obj, c.STALLED) is None
    assert obj["status"]["plan"]["add"] == 1 and obj["status"]["plan"]["destroy"] == 0
    assert harness.state("app") is None or harness.state("app")["resources"] == []
    stored = harness.kube.get(SECRETS, "tfplan-default-app", "default")
    assert stored["metadata"]["annotations"]["tfcontroller.io/plan-id"] == plan_id
    assert stored["metadata"]["labels"]["tfcontroller.io/terraform"] == "app"
    assert stored["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    assert b"terraform_data" not in str(stored["data"]).encode()  # encrypted at rest
    assert "PlanPending" in {e["reason"] for e in harness.events("app")}
    created_at = obj["status"]["plan"]["createdAt"]

    # An approval naming another plan is refused, naming both ids; nothing is applied.
    wrong = f"plan-main-{commit[:10]}-00000000"
    harness.annotate("app", ANNOTATION_APPROVE_PLAN, wrong)
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/ApprovalRefused"
    message = condition(obj, c.READY).message
    assert wrong in message and plan_id in message
    assert harness.state("app") is None or harness.state("app")["resources"] == []

    # The approval committed to Git in the same repository (another path): same plan, no re-plan.
    approved_yaml = tf_yaml.replace("spec: {}", f"spec: {{approvePlan: {plan_id}}}")
    commit2 = remote.commit({"clusters/app.yaml": approved_yaml})
    harness.publish("src", remote.bare, commit2)
    obj = harness.reconcile("app")
    assert _pending(obj) == plan_id and obj["status"]["plan"]["createdAt"] == created_at

    # ... and applied to the object (as a GitOps tool would): spec.approvePlan = the id.
    harness.patch("app", {"spec": {"approvePlan": plan_id},
                          "metadata": {"annotations": {ANNOTATION_APPROVE_PLAN: None}}})
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    assert obj["status"]["lastAppliedPlan"] == plan_id
    assert obj["status"]["lastAppliedRevision"] == f"main@sha1:{commit2}"
    assert [r["type"] for r in harness.state("app")["resources"]] == ["terraform_data"]
    assert harness.kube.get_or_none(SECRETS, "tfplan-default-app", "default") is None

    # A change of inputs makes a new plan; the old approvals do not count as a refusal, the annotation
    # with the new id applies it.
    harness.patch("app", {"spec": {"vars": [{"name": "greeting", "value": "salut"}]}})
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="second plan")
    second = _pending(obj)
    assert second and second != plan_id and obj["status"]["plan"]["change"] == 1
    harness.annotate("app", ANNOTATION_APPROVE_PLAN, second)
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="second apply")
    assert obj["status"]["lastAppliedPlan"] == second
    assert harness.state("app")["outputs"]["greeting"]["value"] == "salut"


def _apply_outside(harness: Harness, tmp_path: Path, suffix: str, greeting: str) -> None:
    """`terraform apply` of SIMPLE_TF with the kubernetes backend, outside the controller."""
    work = tmp_path / "outside"
    work.mkdir()
    (work / "main.tf").write_text(SIMPLE_TF + 'terraform {\n  backend "kubernetes" {\n'
                                  f'    secret_suffix = "{suffix}"\n    namespace = "default"\n'
                                  f'    config_path = "{harness.kubeconfig}"\n  }}\n}}\n')
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(work), "TF_IN_AUTOMATION": "1",
           "CHECKPOINT_DISABLE": "1"}
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false", f"-var=greeting={greeting}"]):
        done = subprocess.run(["terraform", *args, "-no-color"], cwd=work, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.runner_modes
def test_stale_plan_is_planned_again_and_waits_for_a_new_approval(harness: Harness, git_file_remote,
                                                                  tmp_path: Path) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.create("app", approvePlan="", vars=[{"name": "greeting", "value": "a"}])
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="a pending plan")
    first = _pending(obj)

    # Another writer of the same state (Terraform run by hand: a second object would be refused, rule §4.8)
    # moves it on after the plan was made.
    _apply_outside(harness, tmp_path, suffix="app", greeting="x")
    serial = harness.state("app")["serial"]

    harness.annotate("app", ANNOTATION_APPROVE_PLAN, first)
    obj = harness.reconcile("app")
    second = _pending(obj)
    assert ready_reason(obj) == "False/PlanPending", obj["status"]
    assert second and second != first
    assert obj["status"]["plan"]["change"] == 1  # x -> a, not a create
    assert harness.state("app")["serial"] == serial  # the stale plan was not applied
    assert "PlanStale" in {e["reason"] for e in harness.events("app")}

    harness.annotate("app", ANNOTATION_APPROVE_PLAN, second)
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    assert harness.state("app")["outputs"]["greeting"]["value"] == "a"
