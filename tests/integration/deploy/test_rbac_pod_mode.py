"""The controller in pod mode as the ServiceAccount deploy/ installs (issue 15): deploy/namespace.yaml,
serviceaccount.yaml and rbac.yaml applied to the dev cluster, the controller's client a token of
`tfcontroller-system/tfcontroller`, the tenant namespace set up by `tfcontroller tenant add` (what a
cluster admin runs). Through plan, approval, apply, a drift check and destroy on deletion every request
of the controller is allowed: a single 403 fails the test, and so would a step that does not complete.
So the ClusterRole's reductions (no Lease create/update, no ConfigMap writes outside the controller's
namespace, no serviceaccounts/token, no Pod watch or pods/log) are what pod mode needs, not less."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.support.deploy_rbac import CONTROLLER_NS, controller_client
from tests.support.terraform_helpers import SIMPLE_TF, Harness, ready_reason, seed_keys
from tfcontroller.controllers.terraform import TerraformReconciler
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import TERRAFORMS

NS = "default"


@pytest.mark.slow
def test_pod_mode_runs_plan_approve_apply_drift_and_destroy_under_deploys_rbac(
        dev_cluster: DevCluster, kube: KubeClient, tmp_path: Path, git_file_remote) -> None:
    controller, kubeconfig = controller_client(dev_cluster, tmp_path)
    seed_keys(kube, CONTROLLER_NS)  # as a first start would (the RSA pair once per session, for speed)
    # The test's own actions (publishing artifacts, creating and approving objects) are an admin's.
    harness = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode="pod", controller_namespace=CONTROLLER_NS)
    harness.reconciler = TerraformReconciler(controller, dataclasses.replace(harness.options, kubeconfig=kubeconfig))
    try:
        remote = git_file_remote("infra")
        harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
        harness.create("app", approvePlan="", destroyResourcesOnDeletion=True,
                       writeOutputsToSecret={"name": "app-outputs"}, driftDetection={"interval": "2s"})

        pending = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending",
                                          timeout=180, what="a plan waiting for approval")
        plan = pending["status"]["plan"]["pending"]
        harness.annotate("app", "tfcontroller.io/approve-plan", plan)
        applied = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded",
                                          timeout=180, what="the approved plan applied")
        assert applied["status"]["lastAppliedPlan"] == plan
        assert harness.secret("app-outputs") == {"greeting": "hello"}

        checked = harness.reconcile_until(
            "app", lambda o: ((o.get("status") or {}).get("drift") or {}).get("lastCheckedAt"),
            timeout=180, what="a drift check")
        assert ready_reason(checked) == "True/ApplySucceeded" or ready_reason(checked).startswith("True/"), checked

        kube.delete(TERRAFORMS, "app", NS)
        harness.reconcile_until("app", lambda o: not o, timeout=180, what="destroy on deletion")
        assert harness.state("app") is None
        assert "DestroySucceeded" in {e["reason"] for e in harness.events("app")}
        # the controller's watch on runner Pods (cluster-wide, by label) is allowed too
        from tfcontroller.kube.resources import PODS
        from tfcontroller.runtime.informer import Informer
        from tfcontroller.terraform.pod_runner import RUNNER_PODS_SELECTOR

        pods = Informer(controller, PODS, namespace=None, label_selector=RUNNER_PODS_SELECTOR)
        pods.start()
        try:
            assert pods.wait_synced(30), "the runner pod watch did not sync"
        finally:
            pods.stop()
        assert controller.forbidden == [], controller.forbidden
    finally:
        harness.close()
