"""Real `terraform` with its built-in `kubernetes` backend against the development API server: state
in Secret `tfstate-<workspace>-<suffix>`, locking with a Lease (a concurrent run fails with the lock
error, or waits with `-lock-timeout` and succeeds once the first run unlocks; unlock replaces the
Lease), `workspace new`, `force-unlock` of a lock left by a killed run, and a ServiceAccount token that
RBAC lets keep state in its own namespace only (403 in another). Only the built-in
`terraform_data` resource is used; `init` runs offline from a CLI config with a filesystem mirror."""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import kubernetes
import pytest

from tests.support.polling import wait_for
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig

MIRROR_ENV = "TFCONTROLLER_PLUGIN_MIRROR"  # same knob the controller uses (tfcontroller.terraform.config)
DEFAULT_MIRROR = "/opt/tf-plugins"
LOCK_INFO_ANNOTATION = "app.terraform.io/lock-info"

MAIN_TF = """
terraform {
  backend "kubernetes" {
    secret_suffix = "x"
    config_path   = "%(kubeconfig)s"
    namespace     = "default"
  }
}

variable "hold" {
  type    = string
  default = ""
}

resource "terraform_data" "this" {
  input = "v-${var.hold}"

  # With -var hold=<dir>: announce that the run (and so the state lock) is under way, then wait
  # until the test allows it to finish. This holds the lock without timing guesses.
  provisioner "local-exec" {
    command = var.hold == "" ? "true" : "touch ${var.hold}/started; while [ ! -f ${var.hold}/release ]; do sleep 0.1; done"
  }
}
"""

Terraform = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def tf_env(tmp_path: Path) -> dict[str, str]:
    """An environment in which terraform reads only our CLI config and never reaches the network."""
    mirror = os.environ.get(MIRROR_ENV, DEFAULT_MIRROR)
    cli_config = tmp_path / "terraform.rc"
    cli_config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n'
        '  direct {\n    exclude = ["*/*/*"]\n  }\n'
        "}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_") and k != "KUBECONFIG"}
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
        HOME=str(tmp_path),
    )
    return env


def _workdir(root: Path, name: str, kubeconfig: str) -> Path:
    work = root / name
    work.mkdir()
    (work / "main.tf").write_text(MAIN_TF % {"kubeconfig": kubeconfig})
    return work


@pytest.fixture
def terraform(dev_cluster: DevCluster, tf_env: dict[str, str], tmp_path: Path) -> Terraform:
    """Run terraform in a named working directory (created and initialised on first use)."""
    initialised: set[str] = set()

    def run(
        work: str, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        path = tmp_path / work
        if work not in initialised:
            _workdir(tmp_path, work, dev_cluster.kubeconfig)
            init = subprocess.run(
                ["terraform", "init", "-no-color"],
                cwd=path,
                env=tf_env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert init.returncode == 0, init.stdout + init.stderr
            initialised.add(work)
        proc = subprocess.run(
            ["terraform", *args, "-no-color"],
            cwd=path,
            env=tf_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert proc.returncode == 0, f"terraform {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    return run


def _start(tmp_path: Path, work: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["terraform", *args, "-no-color"],
        cwd=tmp_path / work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a kill reaches the provisioner too
    )


def _state(core: kubernetes.client.CoreV1Api, workspace: str, namespace: str = "default") -> dict:
    secret = core.read_namespaced_secret(f"tfstate-{workspace}-x", namespace)
    return json.loads(gzip.decompress(base64.b64decode(secret.data["tfstate"])))


def _lease(coord: kubernetes.client.CoordinationV1Api, workspace: str) -> kubernetes.client.V1Lease:
    return coord.read_namespaced_lease(f"lock-tfstate-{workspace}-x", "default")


def test_init_and_apply_store_state_in_a_secret(
    terraform: Terraform, dev_api_client: kubernetes.client.ApiClient
) -> None:
    out = terraform("a", "apply", "-auto-approve").stdout
    assert "Apply complete! Resources: 1 added" in out
    core = kubernetes.client.CoreV1Api(dev_api_client)
    state = _state(core, "default")
    assert [r["type"] for r in state["resources"]] == ["terraform_data"]
    labels = core.read_namespaced_secret("tfstate-default-x", "default").metadata.labels
    assert labels["tfstateWorkspace"] == "default" and labels["tfstateSecretSuffix"] == "x"

    again = terraform("a", "apply", "-auto-approve").stdout
    assert "No changes." in again and _state(core, "default")["serial"] == state["serial"]


def test_lock_conflict_fails_then_lock_timeout_waits(
    terraform: Terraform,
    tf_env: dict[str, str],
    tmp_path: Path,
    dev_api_client: kubernetes.client.ApiClient,
) -> None:
    coord = kubernetes.client.CoordinationV1Api(dev_api_client)
    for work in ("first", "second", "third"):  # three working directories sharing one state
        terraform(work, "version")
    hold = tmp_path / "hold"
    hold.mkdir()
    first = _start(tmp_path, "first", tf_env, "apply", "-auto-approve", f"-var=hold={hold}")
    waiter: subprocess.Popen[str] | None = None
    try:
        wait_for(
            lambda: (hold / "started").exists() or first.poll() is not None, timeout=30, what="the first run to lock"
        )
        assert first.poll() is None, first.communicate()[0]
        assert _lease(coord, "default").spec.holder_identity

        waiter = _start(tmp_path, "third", tf_env, "apply", "-auto-approve", "-lock-timeout=60s")
        blocked = terraform("second", "apply", "-auto-approve", check=False)
        assert blocked.returncode != 0
        assert "Error acquiring the state lock" in blocked.stderr
        assert "state is already locked" in blocked.stderr
        assert waiter.poll() is None, waiter.communicate()[0]  # still waiting for the lock

        (hold / "release").touch()
        first_out, _ = first.communicate(timeout=60)
        assert first.returncode == 0, first_out
        waiter_out, _ = waiter.communicate(timeout=60)
        assert waiter.returncode == 0, waiter_out
        assert "Apply complete!" in waiter_out
    finally:
        for proc in (first, waiter):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    lease = _lease(coord, "default")  # unlocked by a PUT that drops the holder and the lock info
    assert lease.spec.holder_identity is None
    assert LOCK_INFO_ANNOTATION not in (lease.metadata.annotations or {})


def test_workspace_new_and_force_unlock_after_a_killed_run(
    terraform: Terraform,
    tf_env: dict[str, str],
    tmp_path: Path,
    dev_api_client: kubernetes.client.ApiClient,
) -> None:
    core = kubernetes.client.CoreV1Api(dev_api_client)
    coord = kubernetes.client.CoordinationV1Api(dev_api_client)
    assert 'Created and switched to workspace "foo"' in terraform("w", "workspace", "new", "foo").stdout
    core.read_namespaced_secret("tfstate-foo-x", "default")
    listed = terraform("w", "workspace", "list").stdout
    assert "default" in listed and "* foo" in listed

    hold = tmp_path / "hold"
    hold.mkdir()
    run = _start(tmp_path, "w", tf_env, "apply", "-auto-approve", f"-var=hold={hold}")
    try:
        wait_for(lambda: (hold / "started").exists() or run.poll() is not None, 30, "the run to lock")
        assert run.poll() is None, run.communicate()[0]
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # dies holding the lock
        run.wait()
    lock_id = _lease(coord, "foo").spec.holder_identity
    assert lock_id

    blocked = terraform("w", "apply", "-auto-approve", check=False)
    assert blocked.returncode != 0 and "state is already locked" in blocked.stderr

    out = terraform("w", "force-unlock", "-force", lock_id).stdout
    assert "successfully unlocked" in out
    lease = _lease(coord, "foo")
    assert lease.spec.holder_identity is None
    assert LOCK_INFO_ANNOTATION not in (lease.metadata.annotations or {})
    assert "Apply complete!" in terraform("w", "apply", "-auto-approve").stdout
    assert [r["type"] for r in _state(core, "foo")["resources"]] == ["terraform_data"]


def test_service_account_token_works_in_its_namespace_only(
    dev_cluster: DevCluster, dev_api_client: kubernetes.client.ApiClient, tf_env: dict[str, str], tmp_path: Path
) -> None:
    """A kubeconfig with a ServiceAccount's token: RBAC on Secrets and Leases in team-a lets the backend keep
    its state there; in team-b, where it holds nothing, Terraform fails with the API server's 403."""
    core = kubernetes.client.CoreV1Api(dev_api_client)
    rbac = kubernetes.client.RbacAuthorizationV1Api(dev_api_client)
    for ns in ("team-a", "team-b"):
        core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_service_account("team-a", {"metadata": {"name": "runner"}})
    rbac.create_namespaced_role("team-a", {"metadata": {"name": "tfstate"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "update", "delete"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update", "delete"]},
    ]})
    rbac.create_namespaced_role_binding("team-a", {
        "metadata": {"name": "runner-tfstate"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tfstate"},
        "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": "team-a"}]})
    token = core.create_namespaced_service_account_token("runner", "team-a", {"spec": {}}).status.token
    kubeconfig = tmp_path / "runner.kubeconfig"
    write_kubeconfig(kubeconfig, dev_cluster.url, token, dev_cluster.ca_pem)

    def run(ns: str, *args: str) -> subprocess.CompletedProcess[str]:
        work = tmp_path / ns
        if not work.exists():
            work.mkdir()
            (work / "main.tf").write_text(
                (MAIN_TF % {"kubeconfig": kubeconfig}).replace('namespace     = "default"', f'namespace     = "{ns}"'))
        return subprocess.run(["terraform", *args, "-no-color"], cwd=work, env=tf_env, capture_output=True,
                              text=True, timeout=120)

    init = run("team-a", "init")
    assert init.returncode == 0, init.stdout + init.stderr
    applied = run("team-a", "apply", "-auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert [r["type"] for r in _state(core, "default", "team-a")["resources"]] == ["terraform_data"]

    refused = run("team-b", "init")
    assert refused.returncode != 0
    assert ('secrets is forbidden: User "system:serviceaccount:team-a:runner" cannot list resource "secrets" '
            'in API group "" in the namespace "team-b"') in refused.stderr, refused.stderr
    assert core.list_namespaced_secret("team-b").items == []
