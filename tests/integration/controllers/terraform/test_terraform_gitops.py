"""The Terraform controller with the REAL GitRepository controller (and, for the approval, the real
ManifestSet controller applying the Terraform YAML from the same repository), all in one manager built
by `controllers.setup.build_manager`, against file:// remotes and the dev cluster. Terraform is the real
binary behind a wrapper that records each command, so "no re-plan" means no terraform process at all.

Covered (design.md §4.1): an auto apply from a new commit; a commit elsewhere in the repository starts
no terraform; a module change applies again; the approval committed to Git (`spec.approvePlan` edited
in the Terraform YAML of the same repository and applied to the cluster by a ManifestSet) applies the
pending plan without re-planning, and nothing loops afterwards."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controllers import gitrepo
from tests.support.holds import HoldServer
from tests.support.kstatus import assert_kstatus
from tests.support.manifestset_support import manifestset
from tests.support.terraform_helpers import (
    SIMPLE_TF,
    CountingTerraform,
    condition,
    ready_reason,
    seed_keys,
    wait_for,
)
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_REQUESTED_AT
from tfcontroller.controllers.setup import ControllerManager
from tfcontroller.controllers.terraform import TerraformOptions
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import EVENTS, GITREPOSITORIES, MANIFESTSETS, TERRAFORMS

NS = "default"


class PodRuns(logging.Handler):
    """Pod mode's count of Terraform work: the runner Pod's Terraform is the Pod's own (its image's, on the
    dev node), not the controller's `binary`, so a wrapper binary counts nothing there. Each runner Pod run
    is logged once by the controller as `runner pod=... operation=<op>` as its result arrives (before the
    status records it); a run is init + plan + show, or apply: "no terraform process" is "no run"."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.operations: list[str] = []
        self.logger = logging.getLogger("tfcontroller.terraform.pod_runner")
        self.saved_level = self.logger.level
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        found = re.match(r"runner pod=\S+ operation=(\w+)", record.getMessage())
        if found:
            self.operations.append(found.group(1))

    def calls(self) -> list[str]:
        return list(self.operations)

    def count(self, *operations: str) -> int:
        return sum(1 for op in self.operations if op in operations)

    def close(self) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.saved_level)
        super().close()


@pytest.fixture
def gitops(start_manager: Callable[..., ControllerManager], dev_cluster: DevCluster, crds_installed: KubeClient,
           tmp_path: Path, holds: HoldServer, runner_mode: str) -> Iterator[tuple[KubeClient, Any]]:
    """The manager and the count of Terraform commands (local mode: a wrapper binary; pod mode: runs)."""
    kube = crds_installed
    seed_keys(kube)
    terraform = CountingTerraform(tmp_path, holds)
    pod_runs = PodRuns() if runner_mode == "pod" else None
    start_manager(kubeconfig=dev_cluster.kubeconfig,
                  terraform=TerraformOptions(work_dir=str(tmp_path / "tf-work"), binary=str(terraform.path),
                                             controller_namespace=NS))
    try:
        yield kube, pod_runs or terraform
    finally:
        if pod_runs is not None:
            pod_runs.close()


def _tf(kube: KubeClient, name: str) -> dict[str, Any]:
    obj = kube.get_or_none(TERRAFORMS, name, NS) or {}
    assert_kstatus(obj)
    return obj


def _wait_tf(kube: KubeClient, name: str, predicate: Callable[[dict[str, Any]], Any], what: str,
             timeout: float = 90.0) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def check() -> Any:
        box["obj"] = _tf(kube, name)
        return predicate(box["obj"])

    try:
        wait_for(check, timeout, what, interval=0.1)
    except AssertionError:
        raise AssertionError(f"timed out waiting for {what}; status: {box['obj'].get('status')}") from None
    return box["obj"]


def _settled(obj: dict[str, Any]) -> bool:
    return condition(obj, c.RECONCILING) is None and condition(obj, c.READY) is not None


def _revision(commit: str) -> str:
    return f"main@sha1:{commit}"


def _events(kube: KubeClient, name: str, reason: str) -> int:
    items, _ = kube.list_all(EVENTS, NS)
    return sum(int(e.get("count") or 1) for e in items
               if (e.get("involvedObject") or {}).get("name") == name and e.get("reason") == reason)


def _reconcile_now(kube: KubeClient, name: str, token: str) -> dict[str, Any]:
    """Ask for a reconcile (requested-at) and wait until the controller handled it."""
    kube.patch(TERRAFORMS, name, {"metadata": {"annotations": {ANNOTATION_REQUESTED_AT: token}}}, NS)
    return _wait_tf(kube, name, lambda o: o.get("status", {}).get("lastHandledRequestedAt") == token and _settled(o),
                    f"the reconcile requested with {token}")


def test_auto_apply_from_new_commits_and_no_terraform_for_a_commit_elsewhere(gitops, git_file_remote) -> None:
    kube, terraform = gitops
    remote = git_file_remote("infra")
    c1 = remote.commit({"tf/main.tf": SIMPLE_TF, "README.md": "hi"})
    kube.create(GITREPOSITORIES, gitrepo("src", remote.url, {"branch": "main"}, interval="1s"))
    kube.create(TERRAFORMS, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform", "metadata": {"name": "app", "namespace": NS},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "path": "./tf", "interval": "1h",
                 "approvePlan": "auto", "vars": [{"name": "greeting", "value": "bonjour"}]}})

    obj = _wait_tf(kube, "app", lambda o: o.get("status", {}).get("lastAppliedRevision") == _revision(c1)
                   and ready_reason(o) == "True/ApplySucceeded" and _settled(o), "the first apply")
    applied_plan = obj["status"]["lastAppliedPlan"]
    assert applied_plan.startswith(f"plan-main-{c1[:10]}-")
    assert terraform.count("plan") == 1 and terraform.count("apply") == 1
    wait_for(lambda: _events(kube, "app", "ApplySucceeded"), 10, "the ApplySucceeded event")  # sent asynchronously

    # A commit elsewhere in the repository: the GitRepository publishes it, the Terraform sees it
    # (lastAttemptedRevision) and starts no terraform process at all.
    c2 = remote.commit({"README.md": "changed"})
    calls = terraform.calls()
    obj = _wait_tf(kube, "app", lambda o: o.get("status", {}).get("lastAttemptedRevision") == _revision(c2)
                   and _settled(o), "the Terraform to see the unrelated commit")
    obj = _reconcile_now(kube, "app", "after-c2")  # and once more, for a loop to show
    assert terraform.calls() == calls
    status = obj["status"]
    assert ready_reason(obj) == "True/ApplySucceeded"
    assert status["lastAppliedPlan"] == applied_plan and status["lastAppliedRevision"] == _revision(c1)
    assert status["lastAttemptedRevision"] == _revision(c2)

    # A change of the module applies again, from the new commit.
    c3 = remote.commit({"tf/main.tf": SIMPLE_TF.replace("terraform_data.this.output", "\"v3-${terraform_data.this.output}\"")})
    obj = _wait_tf(kube, "app", lambda o: o.get("status", {}).get("lastAppliedRevision") == _revision(c3)
                   and _settled(o), "the apply of the module change")
    assert ready_reason(obj) == "True/ApplySucceeded"
    assert terraform.count("apply") == 2
    assert obj["status"]["lastAppliedPlan"].startswith(f"plan-main-{c3[:10]}-")


def _terraform_yaml(approve: str) -> str:
    doc = {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
           "metadata": {"name": "app", "namespace": NS},
           "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "path": "./modules/app",
                    "interval": "1h", "approvePlan": approve}}
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.mark.runner_modes
def test_approval_committed_to_git_applies_the_pending_plan_without_replan(gitops, git_file_remote) -> None:
    kube, terraform = gitops
    remote = git_file_remote("infra")
    remote.commit({"modules/app/main.tf": SIMPLE_TF, "clusters/app.yaml": _terraform_yaml("")})
    kube.create(GITREPOSITORIES, gitrepo("src", remote.url, {"branch": "main"}, interval="1s"))
    # The GitOps loop: a ManifestSet applies clusters/ (the Terraform object itself) from the same repository.
    kube.create(MANIFESTSETS, manifestset("clusters", "./clusters", source="src", interval="1h"))

    obj = _wait_tf(kube, "app", lambda o: ready_reason(o) == "False/PlanPending", "a pending plan")
    plan_id = obj["status"]["plan"]["pending"]
    assert terraform.count("plan") == 1 and terraform.count("apply") == 0

    # The reviewer commits the approval into the Terraform's YAML; the ManifestSet applies it.
    c2 = remote.commit({"clusters/app.yaml": _terraform_yaml(plan_id)})
    obj = _wait_tf(kube, "app", lambda o: o.get("status", {}).get("lastAppliedPlan") == plan_id and _settled(o),
                   "the approved plan to be applied")
    assert ready_reason(obj) == "True/ApplySucceeded"
    assert obj["spec"]["approvePlan"] == plan_id
    assert obj["status"]["lastAppliedRevision"] == _revision(c2)  # applied at the approval commit ...
    assert terraform.count("plan") == 1 and terraform.count("apply") == 1  # ... with the plan made before it
    assert _events(kube, "app", "PlanPending") == 1  # one plan announced, ever

    # No loop: more reconciles (the approval stays in Git and on the object) start no terraform.
    calls = terraform.calls()
    obj = _reconcile_now(kube, "app", "after-approval")
    assert terraform.calls() == calls
    assert ready_reason(obj) == "True/ApplySucceeded" and obj["status"]["plan"]["pending"] == ""
