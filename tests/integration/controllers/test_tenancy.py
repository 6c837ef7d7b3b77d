"""Multi-tenancy lockdown (issue 16) against the dev cluster, which enforces RBAC for every caller. The
controller runs as the ServiceAccount of deploy/rbac.yaml (a token of tfcontroller-system/tfcontroller,
that ClusterRole and nothing else), with the lockdown defaults: cross-namespace references refused,
ManifestSets applied as `--default-service-account tfcontroller-manifests` of their own namespace. Team
namespaces are set up with the real `tfcontroller tenant add` (twice: idempotent).

Covered: team A's Terraform cannot use team B's GitRepository (Stalled AccessDenied naming both) until
B's accessFrom selects A's namespace by its labels, then Ready without a restart, and Stalled again when
the namespace loses the label (the Namespace watch); team A's ManifestSet can neither use B's source nor
depend on B's ManifestSet (Stalled AccessDenied naming each); with `--allow-cross-namespace-refs` A's
Terraform waits on B's status and applies once B is Ready, while its varsFrom still cannot reach B's
outputs Secret; impersonate narrowed as deploy/rbac.yaml documents it (the ClusterRole's rule deleted,
deploy/tenant/impersonate-rbac.yaml bound per namespace) applies A's ManifestSet and refuses B's; without
the flag team A's Terraform cannot depend on team B's, and
it cannot read B's outputs Secret (varsFrom reads its own namespace), in both runner modes; in pod
mode a module of A that uses its runner Pod's own token gets 403 reading, listing, writing or creating
B's state Secrets (and its own namespace's Secrets with the same token: the probe works), B's state
unchanged;
team A's ManifestSet cannot create a ClusterRoleBinding or a Deployment in B's namespace: Ready=False
naming each object, nothing of the render applied, nothing pruned; issue 16's acceptance, in both runner
modes: a fresh namespace given only `tfcontroller tenant add NS --git-url URL` (creating, or in pod mode
also its `--dry-run` output through `kubectl apply -f -`; run twice: the second
reports every object unchanged although the controller has written the sample objects since) runs the
demo's stack (a Terraform with outputs, the demo's sample app substituting them) to Ready; in pod mode
every Terraform command ran in a runner Pod as that namespace's `tfcontroller-runner` (a Pod watch records
them). deploy/rbac.yaml's ClusterRole is pod mode's: local mode adds the `serviceaccounts/token` grant
deploy/rbac.yaml describes for it."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.devcluster import install_crds
from tests.support.controllers import start_synced, test_options
from tests.support.kstatus import assert_kstatus
from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tests.support.terraform_helpers import SIMPLE_TF, seed_keys
from tfcontroller.api import conditions as c
from tfcontroller.controllers.manifestset import ManifestSetOptions
from tfcontroller.controllers.setup import ControllerManager
from tfcontroller.controllers.terraform import TerraformOptions
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import (
    CONFIGMAPS,
    GITREPOSITORIES,
    MANIFESTSETS,
    NAMESPACES,
    PODS,
    SECRETS,
    TERRAFORMS,
    Resource,
)
from tfcontroller.runner.tenant import MANIFESTS_SERVICE_ACCOUNT, RUNNER_SERVICE_ACCOUNT
from tfcontroller.terraform.runner_pod import LABEL_MANAGED_BY, MANAGED_BY

DEPLOY = REPO_ROOT / "deploy"
CONTROLLER_NS = "tfcontroller-system"
DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
SERVICES = Resource("v1", "Service", "services")
CLUSTERROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings",
                               namespaced=False)
API = "tfcontroller.io/v1alpha1"


def tenant_add(cluster: DevCluster, namespace: str, *extra: str) -> list[str]:
    """The real CLI, as a cluster admin runs it; its output lines (`kind/name created|configured|unchanged`)."""
    done = subprocess.run([sys.executable, "-m", "tfcontroller", "tenant", "add", namespace, *extra,
                           "--kubeconfig", cluster.kubeconfig], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def tenant_add_by_kubectl(cluster: DevCluster, namespace: str, tmp: Path, *extra: str) -> list[str]:
    """`tfcontroller tenant add NS --dry-run | kubectl apply -f -`, as a team keeping it in Git would; kubectl's
    lines with the kind's group dropped (`gitrepository.tfcontroller.io/gitops` -> `gitrepository/gitops`)."""
    printed = subprocess.run([sys.executable, "-m", "tfcontroller", "tenant", "add", namespace, *extra, "--dry-run"],
                             capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    env = {**os.environ, "KUBECACHEDIR": str(tmp / "kube-cache"), "HOME": str(tmp)}
    env.pop("KUBECONFIG", None)
    applied = subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"], input=printed.stdout,
                             capture_output=True, text=True, env=env, timeout=120)
    assert applied.returncode == 0, applied.stderr
    lines = []
    for line in applied.stdout.splitlines():
        ref, *rest = line.split()
        kind, _, name = ref.partition("/")
        lines.append(" ".join([f"{kind.split('.')[0]}/{name}", *rest]))
    return lines


def controller_kube(cluster: DevCluster, admin: KubeClient, tmp_path: Path) -> tuple[KubeClient, str]:
    """A client with the controller's installed identity: deploy/'s ServiceAccount and RBAC, a token."""
    for name in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):
        for doc in yaml.safe_load_all((DEPLOY / name).read_text()):
            if doc:
                admin.apply(doc, field_manager="test-setup", force=True)
    token, _ = cluster.tokens.issue(CONTROLLER_NS, "tfcontroller", expiration_seconds=3600)
    assert cluster.ca_pem is not None
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": cluster.url, "certificate-authority-data":
                                                base64.b64encode(cluster.ca_pem).decode()}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
    path = tmp_path / "controller.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return KubeClient.load(str(path)), str(path)


LOCAL_RUNNER_TOKENS = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: tfcontroller-local-runner}
rules: [{apiGroups: [""], resources: ["serviceaccounts/token"], verbs: ["create"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: tfcontroller-local-runner}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tfcontroller-local-runner}
subjects: [{kind: ServiceAccount, name: tfcontroller, namespace: tfcontroller-system}]
"""


def grant_local_runner_tokens(admin: KubeClient) -> None:
    """What deploy/rbac.yaml says to add for --runner=local (its ClusterRole is pod mode's): the controller
    requests each run's token of the namespace's runner ServiceAccount."""
    for doc in yaml.safe_load_all(LOCAL_RUNNER_TOKENS):
        admin.apply(doc, field_manager="test-setup", force=True)


@pytest.fixture
def tenancy(dev_cluster: DevCluster, tmp_path: Path) -> Iterator[Callable[..., ControllerManager]]:
    """`start(runner, **overrides)`: the manager as the controller's ServiceAccount, every namespace, lockdown."""
    admin = KubeClient.load(dev_cluster.kubeconfig)
    install_crds(admin)
    for team in ("team-a", "team-b"):
        tenant_add(dev_cluster, team)
    managers: list[ControllerManager] = []
    kube, kubeconfig = controller_kube(dev_cluster, admin, tmp_path)
    seed_keys(admin, CONTROLLER_NS)

    def start(runner: str = "local", **overrides: Any) -> ControllerManager:
        # pod mode: runner Pods on the dev cluster's node share the host's network, so the run API and the
        # artifact server on loopback reach them; they run as the namespace's `tfcontroller-runner`
        terraform_options = TerraformOptions(work_dir=str(tmp_path / "tf-work"), controller_namespace=CONTROLLER_NS,
                                             runner=runner, run_api_listen="127.0.0.1:0")
        opts = test_options(tmp_path, namespace=None, kubeconfig=kubeconfig, terraform=terraform_options,
                            manifestset=ManifestSetOptions(default_service_account="tfcontroller-manifests"),
                            **overrides)
        if runner == "local":
            grant_local_runner_tokens(admin)
        return start_synced(opts, kube, managers)

    try:
        yield start
    finally:
        for mgr in managers:
            mgr.stop(grace=5)
        kube.close()
        admin.close()


@pytest.fixture
def admin(dev_cluster: DevCluster) -> Iterator[KubeClient]:
    client = KubeClient.load(dev_cluster.kubeconfig)
    yield client
    client.close()


def gitrepository(namespace: str, name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "GitRepository", "metadata": {"name": name, "namespace": namespace},
            "spec": {"url": url, "ref": {"branch": "main"}, "interval": "1h", **spec}}


def terraform(namespace: str, name: str, source: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Terraform", "metadata": {"name": name, "namespace": namespace},
            "spec": {"sourceRef": {"kind": "GitRepository", **source}, "path": "./", "interval": "1h",
                     "retryInterval": "2s", "approvePlan": "auto", **spec}}


def manifestset(namespace: str, name: str, path: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "ManifestSet", "metadata": {"name": name, "namespace": namespace},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "gitops"}, "path": path, "interval": "1h",
                     "retryInterval": "1s", "prune": True, **spec}}


def ready(kube: KubeClient, res: Resource, namespace: str, name: str) -> c.Condition | None:
    obj = kube.get_or_none(res, name, namespace)
    assert_kstatus(obj)
    return c.find(((obj or {}).get("status") or {}).get("conditions"), c.READY)


def wait_ready(kube: KubeClient, res: Resource, namespace: str, name: str, status: str, reason: str | None = None,
               timeout: float = 60.0) -> c.Condition:
    def check() -> c.Condition | None:
        cond = ready(kube, res, namespace, name)
        return cond if cond and cond.status == status and (reason is None or cond.reason == reason) else None

    try:
        return wait_for(check, timeout, f"{namespace}/{name} Ready={status} {reason or ''}")
    except AssertionError:
        raise AssertionError(f"{namespace}/{name}: Ready is {ready(kube, res, namespace, name)}") from None


def stalled(kube: KubeClient, res: Resource, namespace: str, name: str) -> c.Condition | None:
    obj = kube.get_or_none(res, name, namespace) or {}
    return c.find((obj.get("status") or {}).get("conditions"), c.STALLED)


@pytest.mark.slow
def test_a_team_uses_another_teams_source_only_when_that_source_allows_it(
        tenancy: Callable[..., ControllerManager], admin: KubeClient, git_file_remote: Callable) -> None:
    remote = git_file_remote("team-b-modules")
    remote.commit({"main.tf": SIMPLE_TF})
    tenancy()
    admin.create(GITREPOSITORIES, gitrepository("team-b", "modules", remote.url))
    wait_ready(admin, GITREPOSITORIES, "team-b", "modules", "True")
    admin.create(TERRAFORMS, terraform("team-a", "app", {"name": "modules", "namespace": "team-b"}))

    cond = wait_ready(admin, TERRAFORMS, "team-a", "app", "False", "AccessDenied")
    assert "GitRepository/team-b/modules" in cond.message and "namespace team-a" in cond.message
    assert "spec.accessFrom.namespaceSelectors" in cond.message and "--allow-cross-namespace-refs" in cond.message
    assert stalled(admin, TERRAFORMS, "team-a", "app") is not None

    # B allows namespaces labelled as team A's by `tenant add`: A's Terraform applies, no restart
    admin.patch(GITREPOSITORIES, "modules", {"spec": {"accessFrom": {"namespaceSelectors": [
        {"matchLabels": {"tfcontroller.io/tenant": "team-a"}}]}}}, "team-b")
    wait_ready(admin, TERRAFORMS, "team-a", "app", "True", "ApplySucceeded", timeout=120)

    # the label is the key: A's namespace loses it, A's Terraform is refused again (the Namespace watch)
    admin.patch(NAMESPACES, "team-a", {"metadata": {"labels": {"tfcontroller.io/tenant": None}}})
    wait_ready(admin, TERRAFORMS, "team-a", "app", "False", "AccessDenied")


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["local", "pod"])  # pod: the runner Pod, not the controller, reads varsFrom
def test_a_team_cannot_depend_on_or_read_the_outputs_of_another_teams_terraform(
        tenancy: Callable[..., ControllerManager], admin: KubeClient, git_file_remote: Callable,
        runner: str) -> None:
    remote = git_file_remote("team-a-modules")
    remote.commit({"main.tf": SIMPLE_TF})
    admin.upsert_secret("team-b", "network-outputs", {"greeting": b"team-b-private"})
    admin.create(TERRAFORMS, terraform("team-b", "network", {"name": "gitops"}))
    tenancy(runner=runner)
    admin.create(GITREPOSITORIES, gitrepository("team-a", "gitops", remote.url))
    admin.create(TERRAFORMS, terraform("team-a", "app", {"name": "gitops"},
                                       dependsOn=[{"name": "network", "namespace": "team-b"}],
                                       varsFrom=[{"kind": "Secret", "name": "network-outputs"}]))
    cond = wait_ready(admin, TERRAFORMS, "team-a", "app", "False", "AccessDenied")
    assert "Terraform/team-b/network" in cond.message and "namespace team-a" in cond.message
    assert stalled(admin, TERRAFORMS, "team-a", "app") is not None
    assert "team-b-private" not in str(admin.get(TERRAFORMS, "app", "team-a")["status"])

    # without the dependency, varsFrom names a Secret of A's own namespace: B's outputs stay out of reach
    admin.patch(TERRAFORMS, "app", {"spec": {"dependsOn": None}}, "team-a")
    cond = wait_ready(admin, TERRAFORMS, "team-a", "app", "False", "VarsGenerationFailed")
    assert "team-a/network-outputs" in cond.message and "team-b-private" not in cond.message


@pytest.mark.slow
def test_with_the_single_team_flag_a_dependency_across_namespaces_reads_its_status_never_its_outputs(
        tenancy: Callable[..., ControllerManager], admin: KubeClient, git_file_remote: Callable) -> None:
    """`--allow-cross-namespace-refs` lets A's Terraform wait on B's (its Ready and revision), and that is
    all: varsFrom still names a Secret of A's own namespace, so B's outputs Secret stays out of reach."""
    remote = git_file_remote("single-team")
    remote.commit({"main.tf": SIMPLE_TF})
    tenancy(allow_cross_namespace_refs=True)
    for team in ("team-a", "team-b"):
        admin.create(GITREPOSITORIES, gitrepository(team, "gitops", remote.url))
    admin.create(TERRAFORMS, terraform("team-a", "app", {"name": "gitops"},
                                       dependsOn=[{"name": "network", "namespace": "team-b"}]))
    cond = wait_ready(admin, TERRAFORMS, "team-a", "app", "False", c.DEPENDENCY_NOT_READY)
    assert "team-b/network" in cond.message, cond.message
    assert stalled(admin, TERRAFORMS, "team-a", "app") is None  # waiting, not refused

    admin.create(TERRAFORMS, terraform("team-b", "network", {"name": "gitops"},
                                       vars=[{"name": "greeting", "value": "team-b-private"}],
                                       writeOutputsToSecret={"name": "network-outputs"}))
    wait_ready(admin, TERRAFORMS, "team-b", "network", "True", "ApplySucceeded", timeout=120)
    wait_ready(admin, TERRAFORMS, "team-a", "app", "True", "ApplySucceeded", timeout=120)  # B's status is enough

    admin.patch(TERRAFORMS, "app", {"spec": {"varsFrom": [{"kind": "Secret", "name": "network-outputs"}]}},
                "team-a")
    cond = wait_ready(admin, TERRAFORMS, "team-a", "app", "False", "VarsGenerationFailed")
    assert "team-a/network-outputs" in cond.message and "team-b-private" not in cond.message
    assert "team-b-private" not in str(admin.get(TERRAFORMS, "app", "team-a").get("status"))


@pytest.mark.slow
def test_a_teams_manifestset_cannot_use_another_teams_source_or_depend_on_its_objects(
        tenancy: Callable[..., ControllerManager], admin: KubeClient, git_file_remote: Callable) -> None:
    """The same lockdown for the ManifestSet kind: sourceRef.namespace and dependsOn[].namespace."""
    remote = git_file_remote("team-b-apps")
    remote.commit({"apps/extra.yaml": EXTRA})
    tenancy()
    for team in ("team-a", "team-b"):
        admin.create(GITREPOSITORIES, gitrepository(team, "gitops", remote.url))
    admin.create(MANIFESTSETS, manifestset("team-a", "borrowed", "apps",
                                           sourceRef={"kind": "GitRepository", "name": "gitops",
                                                      "namespace": "team-b"}))
    admin.create(MANIFESTSETS, manifestset("team-a", "after-b", "apps", dependsOn=[
        {"kind": "ManifestSet", "name": "apps", "namespace": "team-b"}]))
    for name, ref in (("borrowed", "GitRepository/team-b/gitops"), ("after-b", "ManifestSet/team-b/apps")):
        cond = wait_ready(admin, MANIFESTSETS, "team-a", name, "False", "AccessDenied")
        assert ref in cond.message and "namespace team-a" in cond.message, cond.message
        assert "--allow-cross-namespace-refs" in cond.message
        assert stalled(admin, MANIFESTSETS, "team-a", name) is not None
    assert admin.get_or_none(CONFIGMAPS, "extra", "team-a") is None  # neither applied anything


@pytest.mark.slow
def test_impersonate_narrowed_per_namespace_as_deploy_documents_it(
        tenancy: Callable[..., ControllerManager], admin: KubeClient, git_file_remote: Callable) -> None:
    """deploy/rbac.yaml's recipe: without the ClusterRole's impersonate rule, and with
    deploy/tenant/impersonate-rbac.yaml bound in team A only, A's ManifestSet applies as its
    tfcontroller-manifests and B's is refused (the controller may not act as B's ServiceAccount)."""
    role = next(doc for doc in yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text())
                if doc and doc["kind"] == "ClusterRole")
    narrowed = [rule for rule in role["rules"] if "impersonate" not in rule["verbs"]]
    assert len(narrowed) == len(role["rules"]) - 1  # the one rule the recipe deletes
    remote = git_file_remote("impersonation")
    remote.commit({"apps/extra.yaml": EXTRA})
    tenancy()
    admin.apply({**role, "rules": narrowed}, field_manager="test-setup", force=True)
    for doc in yaml.safe_load_all((DEPLOY / "tenant" / "impersonate-rbac.yaml").read_text()):
        doc["metadata"]["namespace"] = "team-a"
        admin.apply(doc, field_manager="test-setup", force=True)
    for team in ("team-a", "team-b"):
        admin.create(GITREPOSITORIES, gitrepository(team, "gitops", remote.url))
        admin.create(MANIFESTSETS, manifestset(team, "app", "apps"))
    wait_ready(admin, MANIFESTSETS, "team-a", "app", "True")
    assert admin.get_or_none(CONFIGMAPS, "extra", "team-a") is not None
    cond = wait_ready(admin, MANIFESTSETS, "team-b", "app", "False", "ApplyFailed")  # retried: RBAC may change
    assert "system:serviceaccount:team-b:tfcontroller-manifests" in cond.message
    assert "impersonate" in cond.message and "tfcontroller-manifests" in cond.message, cond
    assert admin.get_or_none(CONFIGMAPS, "extra", "team-b") is None


# A module of team A that tries, from its runner Pod with the Pod's own ServiceAccount token (the in-cluster
# configuration Terraform's kubernetes backend uses too), to reach team B's state: read B's tfstate Secret,
# list B's Secrets, overwrite B's state, create a state in B. It reads its own namespace's Secrets first, so
# the probe's credentials demonstrably work. The apply succeeds only if every reach into B got 403.
STATE_PROBE_TF = """
resource "terraform_data" "probe" {
  provisioner "local-exec" {
    interpreter = ["python", "-c"]
    command     = <<-EOT
      import sys
      from kubernetes import client, config
      from kubernetes.client.rest import ApiException
      config.load_incluster_config()
      v1 = client.CoreV1Api()
      def status(call):
          try:
              call()
              return 200
          except ApiException as exc:
              return exc.status
      seen = {
          "own list": status(lambda: v1.list_namespaced_secret("team-a")),
          "read B state": status(lambda: v1.read_namespaced_secret("STATE", "team-b")),
          "list B": status(lambda: v1.list_namespaced_secret("team-b")),
          "write B state": status(lambda: v1.patch_namespaced_secret("STATE", "team-b",
                                                                     {"metadata": {"labels": {"x": "y"}}})),
          "create in B": status(lambda: v1.create_namespaced_secret("team-b", {"metadata": {
              "name": "tfstate-default-stolen"}})),
      }
      want = {"own list": 200, "read B state": 403, "list B": 403, "write B state": 403, "create in B": 403}
      print("PROBE", sorted(seen.items()))
      sys.exit(0 if seen == want else 1)
    EOT
  }
}
"""


FAILED = ("TerraformFailed", "ApplyFailed")  # the probe's exit 1: its message lists what it could reach


@pytest.mark.slow
def test_a_teams_runner_pods_cannot_read_or_write_another_teams_state(
        tenancy: Callable[..., ControllerManager], admin: KubeClient, git_file_remote: Callable) -> None:
    remote = git_file_remote("tenants-state")
    remote.commit({"b/main.tf": SIMPLE_TF})
    tenancy(runner="pod")
    admin.create(GITREPOSITORIES, gitrepository("team-b", "gitops", remote.url))
    admin.create(TERRAFORMS, terraform("team-b", "network", {"name": "gitops"}, path="b"))
    wait_ready(admin, TERRAFORMS, "team-b", "network", "True", "ApplySucceeded", timeout=180)
    states = [s["metadata"]["name"] for s in admin.list(SECRETS, "team-b")["items"]
              if s["metadata"]["name"].startswith("tfstate-")]
    assert len(states) == 1, states  # B's real state, kept by B's runner Pods
    before = admin.get(SECRETS, states[0], "team-b")

    remote.commit({"a/main.tf": STATE_PROBE_TF.replace("STATE", states[0])})
    admin.create(GITREPOSITORIES, gitrepository("team-a", "gitops", remote.url))
    admin.create(TERRAFORMS, terraform("team-a", "probe", {"name": "gitops"}, path="a"))
    cond = wait_for(lambda: (lambda r: r if r and (r.status == "True" or r.reason in FAILED) else None)(
        ready(admin, TERRAFORMS, "team-a", "probe")), 180, "team-a/probe applied or failed")
    assert cond.reason == "ApplySucceeded", cond  # a failed probe says in its message what it could reach
    after = admin.get(SECRETS, states[0], "team-b")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]  # B's state untouched
    assert admin.get_or_none(SECRETS, "tfstate-default-stolen", "team-b") is None


# The demo's app-stack outputs (bucket_name, queue_url: what the demo's sample app substitutes), without the
# aws provider: the sample Terraform of `tenant add` carries no provider credentials, and the case is the
# tenant's RBAC, not AWS. At the path the sample Terraform of `tenant add` applies.
SAMPLE_TERRAFORM_PATH = "infrastructure/terraform"
STACK_TF = """
resource "terraform_data" "stack" {
  input = "TEAM"
}

output "bucket_name" {
  value = "${terraform_data.stack.output}-bucket"
}

output "queue_url" {
  value = "http://queue.local/${terraform_data.stack.output}"
}
"""
SAMPLE_APP = REPO_ROOT / "examples" / "apps" / "sample-app" / "base"
EXTRA = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
data:
  k: v
"""
CLUSTER_ROLE_BINDING = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: NAMESPACE-is-admin
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: tfcontroller-manifests, namespace: NAMESPACE}]
"""
FOREIGN_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: intruder
  namespace: team-b
spec:
  selector: {matchLabels: {app: intruder}}
  template:
    metadata: {labels: {app: intruder}}
    spec: {containers: [{name: c, image: busybox}]}
"""


class RunnerPods:
    """Every runner Pod created in a namespace, recorded by a watch as it appears (Pods of finished runs are
    deleted, so a list at the end would miss them): name -> spec.serviceAccountName."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.seen: dict[str, str] = {}
        self._kube = KubeClient.load(kubeconfig)
        self._stream = self._kube.watch(PODS, namespace, label_selector=f"{LABEL_MANAGED_BY}={MANAGED_BY}",
                                        timeout_seconds=900)
        self._thread = threading.Thread(target=self._record, daemon=True, name=f"runner-pods-{namespace}")
        self._thread.start()

    def _record(self) -> None:
        with contextlib.suppress(Exception):  # the stream ends when close() cuts it
            for kind, pod in self._stream:
                if kind == "ADDED":
                    self.seen[pod["metadata"]["name"]] = pod["spec"].get("serviceAccountName", "")

    def close(self) -> None:
        self._stream.close()
        self._thread.join(10)
        self._kube.close()


@pytest.mark.slow
@pytest.mark.parametrize(("runner", "setup"), [("local", "create"), ("pod", "create"), ("pod", "kubectl")])
def test_a_tenants_stack_is_ready_and_its_manifests_reach_nothing_beyond_its_namespace(
        tenancy: Callable[..., ControllerManager], admin: KubeClient, dev_cluster: DevCluster,
        git_file_remote: Callable, tmp_path: Path, runner: str, setup: str) -> None:
    """Issue 16's acceptance: `tfcontroller tenant add NS --git-url URL` applied to a fresh namespace is all
    that team needs for the demo's stack (outputs of a Terraform substituted into the demo's sample app) to
    become Ready, in either runner mode; in pod mode every run is a Pod as that namespace's runner. `setup`:
    the command creates the objects, or its `--dry-run` output goes through `kubectl apply -f -`."""
    ns = f"team-{runner}-{setup}"

    def add() -> list[str]:
        if setup == "kubectl":
            return tenant_add_by_kubectl(dev_cluster, ns, tmp_path, "--git-url", remote.url)
        return tenant_add(dev_cluster, ns, "--git-url", remote.url)

    remote = git_file_remote(f"{ns}-gitops")
    app = {f"apps/{f.name}": f.read_text() for f in SAMPLE_APP.iterdir()}  # the demo's app: CM, Deployment, Service
    remote.commit({f"{SAMPLE_TERRAFORM_PATH}/main.tf": STACK_TF.replace("TEAM", ns), **app})
    pods = RunnerPods(dev_cluster.kubeconfig, ns) if runner == "pod" else None
    try:
        tenancy(runner=runner)
        created = add()  # the only setup the namespace gets
        assert {line.split()[0] for line in created} >= {
            f"namespace/{ns}", f"serviceaccount/{RUNNER_SERVICE_ACCOUNT}", f"serviceaccount/{MANIFESTS_SERVICE_ACCOUNT}",
            "gitrepository/gitops", "terraform/app-stack", "manifestset/app"}, created
        # idempotent: a second `tenant add` changes nothing (not even the sample objects the controller updates)
        again = add()
        assert all(line.split()[1] == "unchanged" for line in again), again

        wait_ready(admin, MANIFESTSETS, ns, "app", "True", timeout=300)
        assert admin.get(CONFIGMAPS, "sample-app-config", ns)["data"]["BUCKET_NAME"] == f"{ns}-bucket"
        assert admin.get_or_none(DEPLOYMENTS, "sample-app", ns) is not None
        assert admin.get_or_none(SERVICES, "sample-app", ns) is not None
        if pods is not None:  # every Terraform command ran in a runner Pod, as the namespace's runner
            assert pods.seen, "no runner Pod was created"
            assert set(pods.seen.values()) == {RUNNER_SERVICE_ACCOUNT}, pods.seen
    finally:
        if pods is not None:
            pods.close()

    # The tenant owns its ManifestSet: dropping the sample's targetNamespace lets a render name other
    # namespaces, and RBAC of the impersonated ServiceAccount, not that field, is the boundary. The next commit
    # drops the Service, adds a ConfigMap, a ClusterRoleBinding and a Deployment in B.
    admin.patch(MANIFESTSETS, "app", {"spec": {"targetNamespace": None}}, ns)
    remote.commit({"apps/service.yaml": None, "apps/extra.yaml": EXTRA,
                   "apps/crb.yaml": CLUSTER_ROLE_BINDING.replace("NAMESPACE", ns),
                   "apps/foreign.yaml": FOREIGN_DEPLOYMENT,
                   "apps/kustomization.yaml": "resources: [deployment.yaml, configmap.yaml, extra.yaml, crb.yaml, "
                                              "foreign.yaml]\n"})
    admin.patch(GITREPOSITORIES, "gitops", {"metadata": {"annotations": {
        "tfcontroller.io/requested-at": "now"}}}, ns)
    cond = wait_ready(admin, MANIFESTSETS, ns, "app", "False", "ApplyFailed")
    assert f"ClusterRoleBinding/{ns}-is-admin (from apps/crb.yaml)" in cond.message, cond.message
    assert "Deployment/team-b/intruder (from apps/foreign.yaml)" in cond.message
    assert f"system:serviceaccount:{ns}:tfcontroller-manifests" in cond.message
    assert "nothing was applied and nothing pruned" in cond.message
    assert admin.get_or_none(CLUSTERROLEBINDINGS, f"{ns}-is-admin") is None
    assert admin.get_or_none(DEPLOYMENTS, "intruder", "team-b") is None
    assert admin.get_or_none(CONFIGMAPS, "extra", ns) is None  # nothing of the render applied
    assert admin.get_or_none(SERVICES, "sample-app", ns) is not None  # nothing pruned
