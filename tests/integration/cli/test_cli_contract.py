"""Contract test of the operator CLI against the REAL controllers: the commands the fast CLI tests run
against `FakeController` (test_reconcile_outputs_drift_events.py) — reconcile (with --with-source),
approve, replan, suspend/resume, plan show — run here against an in-process manager (controllers.setup) with the
real GitRepository and Terraform reconcilers, real git and real terraform on a `terraform_data` module.
It pins the status protocol the fake imitates: the controller echoes `tfcontroller.io/requested-at`
into `status.lastHandledRequestedAt` once the run settled, a plan held for approval ends the wait as
not Ready with `PlanPending` (the reason the CLI fixtures' held object carries), an apply as Ready with `ApplySucceeded` (the fake's final
condition), Reconciling is gone when the CLI returns, and every object observed satisfies
`assert_kstatus`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Run
from tests.support.controllers import gitrepo
from tests.support.kstatus import assert_kstatus
from tests.support.polling import wait_for
from tests.support.terraform_helpers import SIMPLE_TF, condition, seed_keys
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_REQUESTED_AT
from tfcontroller.controllers.setup import ControllerManager
from tfcontroller.controllers.terraform import TerraformOptions
from tfcontroller.controllers.terraform.context import PLAN_PENDING
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, SECRETS, TERRAFORMS

NS = "default"
TIMEOUT = "180s"


def settled_by_request(obj: dict[str, Any]) -> None:
    """What `FakeController` writes when the CLI returns: the request echoed, a final Ready, no Reconciling."""
    assert_kstatus(obj)
    status = obj.get("status") or {}
    requested = (obj["metadata"].get("annotations") or {}).get(ANNOTATION_REQUESTED_AT)
    assert requested and status.get("lastHandledRequestedAt") == requested, status
    ready = condition(obj, c.READY)
    assert ready is not None and ready.status in (c.TRUE, c.FALSE), status
    assert condition(obj, c.RECONCILING) is None, status


@pytest.mark.slow
def test_cli_drives_the_real_terraform_controller(cli: Run, kube: KubeClient, dev_cluster: DevCluster,
                                                 start_manager: Callable[..., ControllerManager],
                                                 git_file_remote: Any, tmp_path: Path) -> None:
    seed_keys(kube)
    start_manager(kubeconfig=dev_cluster.kubeconfig,
                  terraform=TerraformOptions(work_dir=str(tmp_path / "tf-work"), controller_namespace=NS))
    remote = git_file_remote("infra")
    remote.commit({"tf/main.tf": SIMPLE_TF})
    kube.create(GITREPOSITORIES, gitrepo("src", remote.url, {"branch": "main"}, interval="1h"))
    kube.create(TERRAFORMS, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform", "metadata": {"name": "app", "namespace": NS},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "path": "./tf", "interval": "1h",
                 "approvePlan": "", "vars": [{"name": "greeting", "value": "bonjour"}]}})

    def tf() -> dict[str, Any]:
        obj = kube.get(TERRAFORMS, "app", NS)
        assert_kstatus(obj)
        return obj

    # reconcile --with-source: the GitRepository first, then the Terraform, whose plan is held for approval
    res = cli("reconcile", "app", "--with-source", "--timeout", TIMEOUT)
    assert res.code == 1, res.out + res.err
    assert res.out.index("gitrepository.tfcontroller.io/src: Ready") < res.out.index("terraform.tfcontroller.io/app: not Ready")
    assert f"✗ terraform.tfcontroller.io/app: not Ready — {PLAN_PENDING}: " in res.out
    settled_by_request(kube.get(GITREPOSITORIES, "src", NS))
    held = tf()
    settled_by_request(held)
    pending = held["status"]["plan"]["pending"]

    # plan show reads the rendering the controller stored with the plan (no Terraform run, no log lines)
    assert "show" in kube.get(SECRETS, "tfplan-default-app", NS)["data"]
    res = cli("plan", "show", "app")
    assert res.code == 0 and res.err == "", res.err
    assert f"pending plan {pending}" in res.out and "+ terraform_data.this (create)" in res.out

    # approve the pending plan, then reconcile: Ready with the fake's final reason, the plan applied
    res = cli("approve", "app", "--plan", pending)
    assert res.code == 0 and f"approved plan {pending}" in res.out, res.err
    res = cli("reconcile", "app", "--timeout", TIMEOUT)
    assert res.code == 0, res.out + res.err
    assert res.out.strip().splitlines()[-1].startswith("✔ terraform.tfcontroller.io/app: Ready — ApplySucceeded"), res.out
    applied = tf()
    settled_by_request(applied)
    assert applied["status"]["lastAppliedPlan"] == pending

    # reconcile with unchanged inputs plans nothing and says so, naming the command that plans anyway
    res = cli("reconcile", "app", "--timeout", TIMEOUT)
    assert res.code == 0, res.out + res.err
    last = res.out.strip().splitlines()[-1]
    assert last.startswith("✔ terraform.tfcontroller.io/app: Ready — ApplySucceeded: Inputs unchanged since main@sha1:")
    assert "use `tfcontroller replan app -n default` to plan anyway" in last, last
    assert tf()["status"]["lastAppliedPlan"] == pending  # nothing planned, nothing applied

    # replan: waits until the controller planned again (nothing changed: nothing waits for approval)
    res = cli("replan", "app", "--timeout", TIMEOUT)
    assert res.code == 0, res.out + res.err
    assert res.out.startswith("terraform.tfcontroller.io/app replan requested\n"), res.out
    assert res.out.strip().splitlines()[-1].startswith("✔ terraform.tfcontroller.io/app: re-planned — NoChanges: ")
    settled_by_request(tf())

    # suspend: the CLI refuses to wait on a suspended object; resume: the controller answers again
    assert cli("suspend", "app").code == 0
    assert tf()["spec"]["suspend"] is True
    res = cli("reconcile", "app", "--timeout", TIMEOUT)
    assert res.code == 1 and "suspended" in res.err
    assert cli("resume", "app").code == 0
    res = cli("reconcile", "app", "--timeout", TIMEOUT)
    assert res.code == 0, res.out + res.err
    settled_by_request(wait_for(tf, 5, "the Terraform object"))
