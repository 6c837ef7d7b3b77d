"""ManifestSet end to end on the dev cluster with file:// git and the real GitRepository controller:
the seed-article overlays render and apply (replicas, labels, namespace, inventory, revision);
Terraform outputs (a stand-in Terraform made Ready by the test, plus its outputs Secret) are substituted
into a ConfigMap and a Deployment's env and follow a new apply; dependsOn holds the apply back
(DependencyNotReady) until the Terraform is Ready; removing a file prunes its object unless it is
annotated `tfcontroller.io/prune: disabled`; a `kubectl patch` is reverted within one interval with a
DriftCorrected Event."""

from __future__ import annotations

from collections.abc import Callable

from tests.controllers.conftest import wait_for
from tests.controllers.manifestset_support import (
    create_source,
    ensure_namespace,
    events_for,
    example_files,
    fake_terraform,
    kubectl,
    manifestset,
    ms_status,
    set_terraform_ready,
    wait_ms,
    wait_revision,
    write_outputs,
)
from tfcontroller.devcluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import CONFIGMAPS, MANIFESTSETS, Resource

DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
SERVICES = Resource("v1", "Service", "services")

OUTPUT_VARS = {"substitute": {"bucket_name": "b", "queue_url": "q"}}


def test_seed_overlays_apply(start_manager: Callable, kube: KubeClient, git_file_remote: Callable) -> None:
    remote = git_file_remote()
    commit = remote.commit(example_files())
    for env in ("staging", "production"):
        ensure_namespace(kube, env)
    start_manager()
    create_source(kube, remote.url)
    kube.create(MANIFESTSETS, manifestset("staging", "apps/sample-app/overlays/staging", **OUTPUT_VARS))
    kube.create(MANIFESTSETS, manifestset("production", "apps/sample-app/overlays/production", **OUTPUT_VARS))
    for env, replicas in (("staging", 2), ("production", 3)):
        wait_ms(kube, env, "True", "ReconciliationSucceeded")
        wait_revision(kube, env, commit)
        dep = kube.get(DEPLOYMENTS, "sample-app", env)
        assert dep["spec"]["replicas"] == replicas
        assert dep["metadata"]["labels"]["environment"] == env
        assert dep["metadata"]["labels"]["tfcontroller.io/manifestset-name"] == env
        assert dep["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "b"
        cm = kube.get(CONFIGMAPS, "sample-app-config", env)
        assert cm["data"]["LOG_LEVEL"] == "info"
        assert cm["data"]["REGION"] == "us-east-1"
        assert kube.get(SERVICES, "sample-app", env)["metadata"]["labels"]["environment"] == env
        ids = {i["id"] for i in ms_status(kube, env)["inventory"]}
        assert ids == {f"{env}_sample-app_apps_Deployment", f"{env}_sample-app__Service",
                       f"{env}_sample-app-config__ConfigMap"}
