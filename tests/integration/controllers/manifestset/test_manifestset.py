"""ManifestSet end to end on the dev cluster with file:// git and the real GitRepository controller:
the seed-article overlays render and apply (replicas, labels, namespace, inventory, revision);
Terraform outputs (a stand-in Terraform made Ready by the test, plus its outputs Secret) are substituted
into a ConfigMap and a Deployment's env and follow a new apply; dependsOn holds the apply back
(DependencyNotReady) until the Terraform is Ready; removing a file prunes its object unless it is
annotated `tfcontroller.io/prune: disabled`; a `kubectl patch` is reverted within one interval with a
DriftCorrected Event."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.manifestset_support import (
    Env,
    create_source,
    ensure_namespace,
    events_for,
    example_files,
    fake_terraform,
    kubectl,
    manifestset,
    ms_status,
    set_terraform_ready,
    wait_for,
    wait_ms,
    wait_revision,
    write_outputs,
)
from tfcontroller.kube.resources import CONFIGMAPS, MANIFESTSETS, Resource

DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
SERVICES = Resource("v1", "Service", "services")

OUTPUT_VARS = {"substitute": {"bucket_name": "b", "queue_url": "q"}}


def test_seed_overlays_apply(ms_env: Env, git_file_remote: Callable) -> None:
    kube = ms_env.kube
    remote = git_file_remote()
    commit = remote.commit(example_files())
    for env in ("staging", "production"):
        ensure_namespace(kube, env)
    ms_env.start()
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


APP_FILES = {
    "app/configmap.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n"
        "data:\n  BUCKET_NAME: ${bucket_name}\n  QUEUE_URL: ${queue_url}\n  LITERAL: $${not_a_var}\n"
    ),
    "app/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 1\n"
        "  selector:\n    matchLabels: {app: app}\n  template:\n    metadata:\n      labels: {app: app}\n"
        "    spec:\n      containers:\n      - name: app\n        image: example/app:1\n        env:\n"
        "        - name: BUCKET_NAME\n          value: ${bucket_name}\n"
    ),
}


def test_terraform_outputs_substituted_after_dependency_ready(ms_env: Env, git_file_remote: Callable) -> None:
    kube = ms_env.kube
    remote = git_file_remote()
    remote.commit(APP_FILES)
    fake_terraform(kube, "infra", "infra-outputs")
    ms_env.start()
    create_source(kube, remote.url)
    kube.create(MANIFESTSETS, manifestset(
        "app", "app", dependsOn=[{"kind": "Terraform", "name": "infra"}],
        substituteFrom=[{"kind": "Secret", "name": "infra-outputs"}], interval="1h"))
    cond = wait_ms(kube, "app", "False", "DependencyNotReady")
    assert "Terraform default/infra" in cond.message
    assert kube.get_or_none(CONFIGMAPS, "app-config", "default") is None

    set_terraform_ready(kube, "infra", True)
    cond = wait_ms(kube, "app", "False", "DependencyNotReady", contains="outputs Secret")
    write_outputs(kube, "infra-outputs", "infra", {"bucket_name": "bucket-1", "queue_url": "https://q/1"})
    set_terraform_ready(kube, "infra", True, "main@sha1:" + "b" * 40)  # a new apply: re-enqueues at once
    wait_ms(kube, "app", "True", "ReconciliationSucceeded")
    cm = kube.get(CONFIGMAPS, "app-config", "default")
    assert cm["data"] == {"BUCKET_NAME": "bucket-1", "QUEUE_URL": "https://q/1", "LITERAL": "${not_a_var}"}
    dep = kube.get(DEPLOYMENTS, "app", "default")
    assert dep["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "BUCKET_NAME", "value": "bucket-1"}]

    # a new Terraform apply changes an output: the ConfigMap follows without waiting for the 1h interval
    write_outputs(kube, "infra-outputs", "infra", {"bucket_name": "bucket-2", "queue_url": "https://q/2"})
    set_terraform_ready(kube, "infra", True, "main@sha1:" + "c" * 40)
    wait_for(lambda: kube.get(CONFIGMAPS, "app-config", "default")["data"]["BUCKET_NAME"] == "bucket-2",
             15, "ConfigMap to follow the new output")
    wait_for(lambda: kube.get(DEPLOYMENTS, "app", "default")["spec"]["template"]["spec"]["containers"][0]["env"][0]
             ["value"] == "bucket-2", 15, "Deployment env to follow")


TYPED_APP = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  annotations:\n"
    "    account: \"${{account_id}}\"\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n"
    "  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n"
    "      - name: app\n        image: example/app:${{tag}}\n        ports:\n        - containerPort: ${{port}}\n"
    "        env:\n        - {{name: PORT, value: \"${{port}}\"}}\n"
)


def test_outputs_keep_their_types_and_the_cluster_refuses_wrong_ones(ms_env: Env, git_file_remote: Callable) -> None:
    """Numeric outputs substituted unquoted are applied as numbers (a real API server
    refuses `replicas: "3"`), quoted ones stay strings (leading zero kept); a number quoted where the
    API wants an integer fails with the API server's own message instead of being applied."""
    kube = ms_env.kube
    remote = git_file_remote()
    remote.commit({"typed/app.yaml": TYPED_APP.format(name="typed", replicas="${replicas}"),
                   "quoted/app.yaml": TYPED_APP.format(name="quoted", replicas='"${replicas}"')})
    write_outputs(kube, "infra-outputs", "infra",
                  {"replicas": "3", "port": "8080", "account_id": "0999991", "tag": "1.0"})
    ms_env.start()
    create_source(kube, remote.url)
    outputs = [{"kind": "Secret", "name": "infra-outputs"}]
    kube.create(MANIFESTSETS, manifestset("typed", "typed", substituteFrom=outputs))
    kube.create(MANIFESTSETS, manifestset("quoted", "quoted", substituteFrom=outputs))

    wait_ms(kube, "typed", "True", "ReconciliationSucceeded")
    dep = kube.get(DEPLOYMENTS, "typed", "default")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert dep["spec"]["replicas"] == 3
    assert container["ports"][0]["containerPort"] == 8080 and container["image"] == "example/app:1.0"
    assert container["env"] == [{"name": "PORT", "value": "8080"}]
    assert dep["metadata"]["annotations"]["account"] == "0999991"

    cond = wait_ms(kube, "quoted", "False", "ApplyFailed")
    assert "Deployment/default/quoted (from quoted/app.yaml)" in cond.message
    assert ".spec.replicas: expected numeric (int or float), got string" in cond.message
    assert kube.get_or_none(DEPLOYMENTS, "quoted", "default") is None


def test_prune_removed_file_and_opt_out(ms_env: Env, git_file_remote: Callable) -> None:
    kube = ms_env.kube
    remote = git_file_remote()
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{extra}data:\n  k: v\n"
    keep = "  annotations:\n    tfcontroller.io/prune: disabled\n"
    remote.commit({"m/a.yaml": cm.format(name="a", extra=""), "m/b.yaml": cm.format(name="b", extra=""),
                   "m/c.yaml": cm.format(name="c", extra=keep)})
    ms_env.start()
    create_source(kube, remote.url)
    kube.create(MANIFESTSETS, manifestset("m", "m", prune=True))
    wait_ms(kube, "m", "True")
    wait_for(lambda: len(ms_status(kube, "m").get("inventory") or []) == 3, 10, "3 objects in the inventory")
    commit = remote.commit({"m/b.yaml": None, "m/c.yaml": None})
    wait_revision(kube, "m", commit)
    assert kube.get_or_none(CONFIGMAPS, "a", "default") is not None
    assert kube.get_or_none(CONFIGMAPS, "b", "default") is None
    assert kube.get_or_none(CONFIGMAPS, "c", "default") is not None  # opted out of pruning
    assert [i["id"] for i in ms_status(kube, "m")["inventory"]] == ["default_a__ConfigMap"]
    # the Event is recorded after the status patch that wait_revision saw
    wait_for(lambda: any("ConfigMap/default/b pruned" in e["message"]
                         for e in events_for(kube, "m", "ReconciliationSucceeded")), 10, "the prune Event")


def test_manual_patch_reverted_within_one_interval(ms_env: Env, git_file_remote: Callable) -> None:
    kube = ms_env.kube
    remote = git_file_remote()
    remote.commit(example_files())
    ensure_namespace(kube, "production")
    ms_env.start()
    create_source(kube, remote.url)
    kube.create(MANIFESTSETS, manifestset("prod", "apps/sample-app/overlays/production", interval="2s",
                                          **OUTPUT_VARS))
    wait_ms(kube, "prod", "True")
    wait_for(lambda: kube.get_or_none(DEPLOYMENTS, "sample-app", "production"), 10, "the Deployment")
    done = kubectl(ms_env.kubeconfig, "-n", "production", "patch", "deployment", "sample-app",
                   "-p", '{"spec":{"replicas":7}}')
    assert done.returncode == 0, done.stderr
    done = kubectl(ms_env.kubeconfig, "-n", "production", "patch", "configmap", "sample-app-config",
                   "--type=merge", "-p", '{"data":{"LOG_LEVEL":"trace"}}')
    assert done.returncode == 0, done.stderr
    assert kube.get(DEPLOYMENTS, "sample-app", "production")["spec"]["replicas"] == 7
    wait_for(lambda: kube.get(DEPLOYMENTS, "sample-app", "production")["spec"]["replicas"] == 3, 6,
             "replicas to be reverted to 3")
    wait_for(lambda: kube.get(CONFIGMAPS, "sample-app-config", "production")["data"]["LOG_LEVEL"] == "info", 6,
             "LOG_LEVEL to be reverted")
    messages = wait_for(lambda: [e["message"] for e in events_for(kube, "prod", "DriftCorrected")], 5,
                        "a DriftCorrected event")
    text = " ".join(messages)
    assert "Deployment/production/sample-app" in text and "spec.replicas" in text
