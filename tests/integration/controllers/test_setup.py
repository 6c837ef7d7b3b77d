"""`build_manager` registers the four controllers by explicit import, and each one's typed options
reach its reconciler (against the dev cluster; nothing is started)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from tests.support.controllers import test_options
from tfcontroller.controllers import gitrepository, manifestset, planpolicy, terraform
from tfcontroller.controllers.gitrepository import GitRepositoryOptions
from tfcontroller.controllers.manifestset import ManifestSetOptions
from tfcontroller.controllers.planpolicy import PlanPolicyOptions
from tfcontroller.controllers.setup import ControllerManager, build_manager, planpolicy_options
from tfcontroller.controllers.terraform import TerraformOptions
from tfcontroller.kube.client import KubeClient


def test_build_manager_registers_the_four_controllers(crds_installed: KubeClient, tmp_path: Path) -> None:
    opts = test_options(tmp_path, gitrepository=GitRepositoryOptions(ls_remote_ttl=7.0))
    manager = build_manager(opts, crds_installed)
    for name in ("gitrepository", "terraform", "manifestset", "planpolicy"):
        assert manager.queue(name) is not None
    assert manager.gitrepository is not None and manager.gitrepository.ls_remote_ttl == 7.0


def test_each_register_applies_its_own_options(crds_installed: KubeClient, tmp_path: Path) -> None:
    kube = crds_installed
    opts = dataclasses.replace(test_options(tmp_path), kubeconfig=None, lease_namespace="leases",
                               leader_elect=True)
    manager = ControllerManager(kube, opts)
    git = gitrepository.register(manager, kube, GitRepositoryOptions(ls_remote_ttl=3.0))
    assert git.ls_remote_ttl == 3.0 and git.cache_get is not None  # reads through the informer cache
    ms = manifestset.register(manager, kube, ManifestSetOptions(work_dir=str(tmp_path / "ms-work")))
    assert ms.workdir == tmp_path / "ms-work" and ms.stopping is manager.stopping and ms.events is manager.events
    tf = terraform.register(manager, kube, TerraformOptions(work_dir=str(tmp_path / "tf-work"), state_lock_retry=4.0,
                                                            reuse_init=False))
    assert tf.options.work_dir == tmp_path / "tf-work" and tf.options.lock_retry == 4.0
    assert not tf.options.reuse_init and tf.options.leader_elected  # the manager's own options
    assert tf.options.controller_namespace == (os.environ.get("POD_NAMESPACE") or "leases")
    pp = planpolicy.register(manager, kube, PlanPolicyOptions(controller_namespace="policies"))
    assert pp.deps.controller_namespace == "policies" and pp.events is manager.events


def test_planpolicy_controller_namespace_is_the_terraform_controllers(tmp_path: Path) -> None:
    """One namespace holds the controller's keys and the cluster-wide PlanPolicies (one rule, resolved once)."""
    opts = dataclasses.replace(test_options(tmp_path), lease_namespace="leases",
                               terraform=TerraformOptions(controller_namespace="tf-system"))
    assert planpolicy_options(opts).controller_namespace == "tf-system"
    opts = dataclasses.replace(opts, planpolicy=PlanPolicyOptions(controller_namespace="own"))
    assert planpolicy_options(opts).controller_namespace == "own"
