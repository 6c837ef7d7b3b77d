"""The readable plan with the real reconciler, real terraform and the dev cluster: the controller stores it
with each plan (Secret `tfplanview-<ws>-<name>`: labelled, annotated with the plan id, owned by the
Terraform, no secret inside — neither a sensitive variable's value nor a Secret's value passed through a
plain variable), `tfcontroller plan show` run as a subprocess with no terraform on PATH and as a
ServiceAccount that may read the view but not the controller's keys prints the diff with the secrets
masked (and `--json`, which needs the keys, is refused for it); the view is deleted when the plan is
applied, and garbage-collected with the Terraform."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tests.support.terraform_helpers import NS, Harness, ready_reason
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN
from tfcontroller.crypto.keys import KEYS_SECRET
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.errors import AlreadyExists
from tfcontroller.kube.resources import SECRETS, TERRAFORMS

PASSWORD = "hunter2-sensitive-variable"  # a variable the module declares sensitive
TOKEN = "tok-from-a-secret-9f8e7d"  # a Secret's value the module takes as a plain variable
MODULE = """
variable "password" {
  type      = string
  sensitive = true
}
variable "label" { type = string }
variable "name" {
  type    = string
  default = "acme"
}
resource "terraform_data" "app" {
  input = { name = var.name, password = var.password, label = "team-${var.label}" }
}
output "app_name" { value = terraform_data.app.input.name }
output "password" {
  value     = var.password
  sensitive = true
}
"""
VIEW = "tfplanview-default-app"
REVIEWER_RBAC = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: reviewer, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: plan-reviewer, namespace: default}
rules:
- {apiGroups: [tfcontroller.io], resources: [terraforms], verbs: [get, list]}
- {apiGroups: [""], resources: [secrets], resourceNames: [tfplanview-default-app], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: plan-reviewer, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: plan-reviewer}
subjects: [{kind: ServiceAccount, name: reviewer, namespace: default}]
"""


def _reviewer_kubeconfig(cluster: DevCluster, harness: Harness, tmp_path: Path) -> str:
    """A kubeconfig of a ServiceAccount that may read Terraforms and the readable plan, and no other Secret."""
    for doc in yaml.safe_load_all(REVIEWER_RBAC):
        try:
            harness.kube.create(harness.kube.resource_of(doc), doc, NS)
        except AlreadyExists:
            pass
    token, _ = cluster.tokens.issue(NS, "reviewer", expiration_seconds=3600)
    assert cluster.ca_pem is not None
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": cluster.url, "certificate-authority-data":
                                                base64.b64encode(cluster.ca_pem).decode()}}],
        "users": [{"name": "reviewer", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "reviewer", "namespace": NS}}],
    }
    path = tmp_path / "reviewer.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return str(path)


def _plan_show(kubeconfig: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`tfcontroller plan show app` in a process whose PATH holds no terraform (an empty directory) and
    whose environment names none (TFCONTROLLER_TERRAFORM_BINARY unset)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFCONTROLLER_") and k != "KUBECONFIG"}
    env.update({"PATH": str(empty), "PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)})
    return subprocess.run([sys.executable, "-m", "tfcontroller", "plan", "show", "app", "--kubeconfig", kubeconfig,
                           "--color", "never", *extra], capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                          timeout=120)


def _stored_view(harness: Harness) -> dict[str, Any] | None:
    secret = harness.kube.get_or_none(SECRETS, VIEW, NS)
    if secret is None:
        return None
    return json.loads(gzip.decompress(base64.b64decode(secret["data"]["view"])))


def test_plan_view_stored_shown_without_terraform_or_keys_and_removed_with_the_plan(
        harness: Harness, dev_cluster: DevCluster, git_file_remote: Any, tmp_path: Path) -> None:
    kube = harness.kube
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": MODULE}))
    kube.upsert_secret(NS, "app-inputs", {"password": PASSWORD.encode(), "label": TOKEN.encode()})
    harness.create("app", approvePlan="", varsFrom=[{"kind": "Secret", "name": "app-inputs"}])
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="a pending plan")
    plan_id = obj["status"]["plan"]["pending"]

    # Stored beside the plan, before the status named it: labelled, annotated, owned; nothing secret inside.
    secret = kube.get(SECRETS, VIEW, NS)
    assert secret["metadata"]["annotations"]["tfcontroller.io/plan-id"] == plan_id
    assert secret["metadata"]["labels"]["tfcontroller.io/terraform"] == "app"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    view = _stored_view(harness)
    assert view is not None and view["planId"] == plan_id
    assert view["revision"] == obj["status"]["lastPlannedRevision"]
    assert view["counts"] == {"add": 1, "change": 0, "destroy": 0, "replace": 0}
    assert view["variables"] == ["label", "name", "password"]
    stored_text = json.dumps(view)
    assert PASSWORD not in stored_text and TOKEN not in stored_text

    # `plan show` as a reviewer: no terraform on PATH, no access to the keys Secret.
    kubeconfig = _reviewer_kubeconfig(dev_cluster, harness, tmp_path)
    done = _plan_show(kubeconfig, tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert PASSWORD not in out and TOKEN not in out and PASSWORD not in done.stderr
    assert f"Terraform default/app: pending plan {plan_id}" in out
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in out
    assert "+ terraform_data.app (create)" in out
    assert 'input.name = "acme"' in out and "input.password = (sensitive)" in out
    assert "input.label = (sensitive)" in out  # "team-<the Secret's value>": not declared sensitive, still masked
    assert "+ password = (sensitive)" in out and '+ app_name = "acme"' in out
    assert f"tfcontroller approve app --plan {plan_id} -n default" in out
    refused = _plan_show(kubeconfig, tmp_path, "--json", "--controller-namespace", NS)  # needs the keys
    assert refused.returncode == 1 and f"not allowed to read Secret default/{KEYS_SECRET}" in refused.stderr

    # Applied: the view goes with the plan.
    harness.annotate("app", ANNOTATION_APPROVE_PLAN, plan_id)
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    assert kube.get_or_none(SECRETS, VIEW, NS) is None
    assert kube.get_or_none(SECRETS, "tfplan-default-app", NS) is None
    done = _plan_show(kubeconfig, tmp_path)
    assert done.returncode == 1 and "has no pending plan" in done.stderr

    # A new plan has a new view, which the garbage collector removes with its Terraform (the controller's
    # finalizer is taken off, so the controller does not delete it itself).
    harness.patch("app", {"spec": {"vars": [{"name": "name", "value": "acme-2"}]}})
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="a second plan")
    second = obj["status"]["plan"]["pending"]
    view = _stored_view(harness)
    assert view is not None and view["planId"] == second
    assert view["changes"][0]["action"] == "update"
    assert {a["path"]: (a["before"], a["after"]) for a in view["changes"][0]["attributes"]} == {
        "input.name": ("acme", "acme-2"),
        "output": ({"label": "(sensitive)", "name": "acme", "password": "(sensitive)"}, "(known after apply)")}
    kube.patch(TERRAFORMS, "app", {"metadata": {"finalizers": None}}, NS)
    kube.delete(TERRAFORMS, "app", NS)
    wait_for(lambda: kube.get_or_none(SECRETS, VIEW, NS) is None, 30, "the view garbage-collected")
    wait_for(lambda: kube.get_or_none(SECRETS, "tfplan-default-app", NS) is None, 30, "the plan garbage-collected")


@pytest.mark.parametrize("runner_mode", ["pod"], indirect=True)
def test_plan_view_in_pod_mode(harness: Harness, git_file_remote: Any) -> None:
    """Pod mode: the plan runs in a runner Pod and its `show -json` comes back to the controller, which
    stores the view as in local mode."""
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": MODULE}))
    harness.kube.upsert_secret(NS, "app-inputs", {"password": PASSWORD.encode(), "label": TOKEN.encode()})
    harness.create("app", approvePlan="", varsFrom=[{"kind": "Secret", "name": "app-inputs"}])
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", timeout=180,
                                  what="a pending plan")
    view = _stored_view(harness)
    assert view is not None and view["planId"] == obj["status"]["plan"]["pending"]
    assert view["changes"][0]["address"] == "terraform_data.app"
    assert PASSWORD not in json.dumps(view) and TOKEN not in json.dumps(view)
