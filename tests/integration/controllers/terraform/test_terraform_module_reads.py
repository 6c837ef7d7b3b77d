"""Files a module reads outside its directory are inputs (design.md §4.9), end to end: the real
GitRepository and Terraform controllers in one manager, a file:// remote, the dev cluster and the real
terraform binary.

Covered: a commit changing only `templates/motd.tpl`, read by `stacks/app` through
`templatefile("${path.module}/../../templates/motd.tpl", …)`, plans and applies again; a commit changing
an unrelated file does not plan `stacks/app`; a module whose file path is computed from a variable the
object sets from a ConfigMap (not known statically) has its digest widened to the whole artifact —
status.inputsDigestScope says so, naming the file and expression — and so plans again on the unrelated
commit too. A path missing from the revision stalls (ArtifactFailed) as before.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.controllers import gitrepo
from tests.support.holds import HoldServer
from tests.support.kstatus import assert_kstatus
from tests.support.terraform_helpers import (
    CountingTerraform,
    condition,
    ready_reason,
    seed_keys,
    wait_for,
)
from tfcontroller.api import conditions as c
from tfcontroller.controllers.setup import ControllerManager
from tfcontroller.controllers.terraform import TerraformOptions
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import CONFIGMAPS, GITREPOSITORIES, TERRAFORMS

NS = "default"

APP_TF = """
variable "name" {
  type    = string
  default = "world"
}

resource "terraform_data" "motd" {
  input = templatefile("${path.module}/../../templates/motd.tpl", { name = var.name })
}

output "motd" {
  value = terraform_data.motd.output
}
"""

COMPUTED_TF = """
variable "file" {
  type = string
}

resource "terraform_data" "content" {
  input = file("${path.module}/${var.file}")
}
"""


@pytest.fixture
def controllers(start_manager: Callable[..., ControllerManager], dev_cluster: DevCluster,
                crds_installed: KubeClient, tmp_path: Path, holds: HoldServer) -> KubeClient:
    kube = crds_installed
    seed_keys(kube)
    terraform = CountingTerraform(tmp_path, holds)
    start_manager(kubeconfig=dev_cluster.kubeconfig,
                  terraform=TerraformOptions(work_dir=str(tmp_path / "tf-work"), binary=str(terraform.path),
                                             controller_namespace=NS))
    return kube


def _terraform(name: str, path: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform", "metadata": {"name": name, "namespace": NS},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "path": path, "interval": "1h",
                     "approvePlan": "auto", **spec}}


def _wait(kube: KubeClient, name: str, predicate: Callable[[dict[str, Any]], Any], what: str) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def check() -> Any:
        box["obj"] = kube.get_or_none(TERRAFORMS, name, NS) or {}
        assert_kstatus(box["obj"])
        settled = condition(box["obj"], c.RECONCILING) is None and condition(box["obj"], c.READY) is not None
        return settled and predicate(box["obj"].get("status") or {})

    try:
        wait_for(check, 120, what, interval=0.1)
    except AssertionError:
        raise AssertionError(f"timed out waiting for {what}; status: {box['obj'].get('status')}") from None
    return box["obj"]


def _rev(commit: str) -> str:
    return f"main@sha1:{commit}"


def test_a_commit_changing_only_a_file_read_outside_the_module_plans_and_applies(controllers, git_file_remote):
    kube = controllers
    remote = git_file_remote("infra")
    c1 = remote.commit({"stacks/app/main.tf": APP_TF, "stacks/computed/main.tf": COMPUTED_TF,
                        "stacks/computed/a.txt": "a\n", "templates/motd.tpl": "Hello ${name}\n",
                        "templates/unused.tpl": "unused\n", "README.md": "hi\n"})
    kube.create(GITREPOSITORIES, gitrepo("src", remote.url, {"branch": "main"}, interval="1s"))
    kube.create(TERRAFORMS, _terraform("app", "./stacks/app"))
    kube.create(TERRAFORMS, _terraform("missing", "./stacks/missing"))
    kube.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "files", "namespace": NS},
                             "data": {"file": "a.txt"}})
    kube.create(TERRAFORMS, _terraform("computed", "./stacks/computed",
                                       varsFrom=[{"kind": "ConfigMap", "name": "files"}]))

    app = _wait(kube, "app", lambda s: s.get("lastAppliedRevision") == _rev(c1), "the first apply of app")
    assert ready_reason(app) == "True/ApplySucceeded"
    assert app["status"]["inputsDigestScope"] == {"scope": "Module", "message": ""}
    first_plan = app["status"]["lastAppliedPlan"]
    computed = _wait(kube, "computed", lambda s: s.get("lastAppliedRevision") == _rev(c1), "the first apply of computed")
    scope = computed["status"]["inputsDigestScope"]
    assert scope["scope"] == "Artifact"
    assert "stacks/computed/main.tf:7:" in scope["message"] and "var.file" in scope["message"]

    stalled = _wait(kube, "missing", lambda s: c.is_true(s.get("conditions"), c.STALLED), "a missing path to stall")
    assert ready_reason(stalled) == "False/ArtifactFailed"
    assert f"path 'stacks/missing' not found in revision {_rev(c1)}" in condition(stalled, c.READY).message

    # An unrelated commit: app is not planned (its inputs did not change); computed, widened, plans again.
    c2 = remote.commit({"README.md": "changed\n", "templates/unused.tpl": "changed\n"})
    _wait(kube, "computed", lambda s: s.get("lastPlannedRevision") == _rev(c2), "computed to plan the unrelated commit")
    app = _wait(kube, "app", lambda s: s.get("lastAttemptedRevision") == _rev(c2), "app to see the unrelated commit")
    assert app["status"]["lastPlannedRevision"] == _rev(c1)
    assert app["status"]["lastAppliedPlan"] == first_plan

    # Only the template the module reads changes: app plans and applies at that commit.
    c3 = remote.commit({"templates/motd.tpl": "Bonjour ${name}\n"})
    app = _wait(kube, "app", lambda s: s.get("lastAppliedRevision") == _rev(c3), "app to apply the template change")
    assert ready_reason(app) == "True/ApplySucceeded"
    assert app["status"]["lastAppliedPlan"].startswith(f"plan-main-{c3[:10]}-")
    assert app["status"]["lastAppliedPlan"] != first_plan
