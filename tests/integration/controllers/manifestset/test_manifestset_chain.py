"""ManifestSet with the real chain: the GitRepository controller publishes one repository holding a
`terraform_data` module and the app manifests; the real Terraform controller applies the module and
writes its outputs Secret; the ManifestSet (dependsOn the Terraform, substituteFrom the Secret) puts
the outputs into a ConfigMap and a Deployment's env; changing a variable makes a new apply whose new
output reaches the ConfigMap. Also `wait: true`: HealthCheckFailed on timeout naming the Deployment,
Ready once the rollout status (set by the test: the dev cluster runs no Pods) says so."""

from __future__ import annotations

from collections.abc import Callable

from tests.integration.controllers.manifestset.test_manifestset import APP_FILES, DEPLOYMENTS
from tests.support.manifestset_support import (
    Env,
    create_source,
    manifestset,
    wait_for,
    wait_ms,
)
from tests.support.terraform_helpers import seed_keys
from tfcontroller.controllers.gitrepository import GitRepositoryOptions
from tfcontroller.controllers.setup import ControllerOptions, build_manager
from tfcontroller.controllers.terraform import TerraformOptions
from tfcontroller.kube.resources import CONFIGMAPS, MANIFESTSETS, TERRAFORMS

MODULE = """
variable "bucket" {
  type = string
}

resource "terraform_data" "bucket" {
  input = var.bucket
}

output "bucket_name" {
  value = terraform_data.bucket.output
}

output "queue_url" {
  value = "https://sqs.local/${terraform_data.bucket.output}-queue"
}
"""


def terraform(bucket: str) -> dict:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
            "metadata": {"name": "infra", "namespace": "default"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./tf", "interval": "1h",
                     "approvePlan": "auto", "vars": [{"name": "bucket", "value": bucket}],
                     "writeOutputsToSecret": {"name": "infra-outputs"}}}


def test_real_terraform_outputs_flow_into_manifests(ms_env: Env, git_file_remote: Callable) -> None:
    kube = ms_env.kube
    remote = git_file_remote()
    remote.commit({"tf/main.tf": MODULE, **APP_FILES})
    seed_keys(kube)
    # build_manager registers every controller, each with its own options.
    opts = ControllerOptions(kubeconfig=str(ms_env.kubeconfig), namespace=None, concurrent=2,
                             artifact_dir=str(ms_env.tmp_path / "artifacts"), retry_base=0.2, retry_cap=2.0,
                             shutdown_grace=10.0, gitrepository=GitRepositoryOptions(ls_remote_ttl=0.5),
                             terraform=TerraformOptions(work_dir=str(ms_env.tmp_path / "tf-work")))
    mgr = build_manager(opts, kube)
    ms_env.managers.append(mgr)
    ms_env.run(mgr)
    create_source(kube, remote.url)
    kube.create(TERRAFORMS, terraform("bucket-one"))
    kube.create(MANIFESTSETS, manifestset(
        "app", "app", interval="1h", dependsOn=[{"kind": "Terraform", "name": "infra"}],
        substituteFrom=[{"kind": "Secret", "name": "infra-outputs"}]))
    wait_ms(kube, "app", "True", "ReconciliationSucceeded", timeout=90)
    assert kube.get(CONFIGMAPS, "app-config", "default")["data"]["QUEUE_URL"] == "https://sqs.local/bucket-one-queue"
    env = kube.get(DEPLOYMENTS, "app", "default")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "BUCKET_NAME", "value": "bucket-one"}]

    kube.patch(TERRAFORMS, "infra", {"spec": {"vars": [{"name": "bucket", "value": "bucket-two"}]}}, "default")
    wait_for(lambda: kube.get(CONFIGMAPS, "app-config", "default")["data"]["BUCKET_NAME"] == "bucket-two", 90,
             "the new output in the ConfigMap")


def test_wait_for_health_with_timeout(ms_env: Env, git_file_remote: Callable) -> None:
    kube = ms_env.kube
    remote = git_file_remote()
    remote.commit(APP_FILES)
    ms_env.start()
    create_source(kube, remote.url)
    kube.create(MANIFESTSETS, manifestset("app", "app", wait=True, timeout="2s", substitute={
        "bucket_name": "b", "queue_url": "q"}))
    cond = wait_ms(kube, "app", "False", "HealthCheckFailed")
    assert "timeout after 2s" in cond.message and "Deployment/default/app" in cond.message
    dep = kube.get(DEPLOYMENTS, "app", "default")
    kube.patch_status(DEPLOYMENTS, "app", "default", {
        "observedGeneration": dep["metadata"]["generation"], "replicas": 1, "updatedReplicas": 1,
        "readyReplicas": 1, "availableReplicas": 1})
    wait_ms(kube, "app", "True", "ReconciliationSucceeded")


def test_depends_on_manifestset_orders_applies(ms_env: Env, git_file_remote: Callable) -> None:
    kube = ms_env.kube
    remote = git_file_remote()
    remote.commit({**APP_FILES, "second/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\n"})
    ms_env.start()
    create_source(kube, remote.url)
    kube.create(MANIFESTSETS, manifestset("first", "app", wait=True, timeout="1m", substitute={
        "bucket_name": "b", "queue_url": "q"}))
    kube.create(MANIFESTSETS, manifestset("second", "second", interval="1h",
                                          dependsOn=[{"kind": "ManifestSet", "name": "first"}]))
    cond = wait_ms(kube, "second", "False", "DependencyNotReady")
    assert "ManifestSet default/first" in cond.message
    wait_for(lambda: kube.get_or_none(DEPLOYMENTS, "app", "default"), 10, "first's Deployment")
    assert kube.get_or_none(CONFIGMAPS, "second", "default") is None
    dep = kube.get(DEPLOYMENTS, "app", "default")
    kube.patch_status(DEPLOYMENTS, "app", "default", {
        "observedGeneration": dep["metadata"]["generation"], "replicas": 1, "updatedReplicas": 1,
        "readyReplicas": 1, "availableReplicas": 1})
    wait_ms(kube, "first", "True")
    wait_ms(kube, "second", "True")
    assert kube.get_or_none(CONFIGMAPS, "second", "default") is not None
