"""The commands that wait for the controller (`reconcile`, `replan`, `force-unlock`) against the REAL
controllers (an in-process manager, real git, real terraform on `terraform_data` modules): once the run
that saw the request failed, they print ✗ with the reason and exit 1 at once instead of waiting out
--timeout (issue 13, point 1) — a GitRepository whose repository does not exist (retried by the
controller), a Terraform whose module does not parse, one whose dependency is missing (waiting), a
ManifestSet whose path is not in the artifact, and a
reconcile `--with-source` that stops at the failing source. Every wait runs with a 10-minute --timeout:
the assertions are the exit code and the ✗ line, which a run that waited out its timeout never prints.
`force-unlock` (point 4) checks the id against the lock held in the state's Lease (refusing a wrong id
with the held one named, or when nothing is held), then waits for the controller: ✔ when the release
happened, ✗ with the controller's reason when Terraform refused it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Run
from tests.support.controllers import gitrepo
from tests.support.kstatus import assert_kstatus
from tests.support.manifestset_support import manifestset
from tests.support.terraform_helpers import SIMPLE_TF, seed_keys
from tfcontroller.api.constants import ANNOTATION_FORCE_UNLOCK
from tfcontroller.controllers.setup import ControllerManager
from tfcontroller.controllers.terraform import TerraformOptions
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, LEASES, MANIFESTSETS, TERRAFORMS
from tfcontroller.terraform.state import LOCK_INFO_ANNOTATION

NS = "default"
LONG = "10m"  # far longer than any test may take: a wait that does not end early fails the suite's timeout
BROKEN_TF = 'resource "terraform_data" "this" {\n  input = "unclosed\n'


def terraform(name: str, source: str, path: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform", "metadata": {"name": name, "namespace": NS},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": source}, "path": path, "interval": "1h",
                     "approvePlan": "auto", **spec}}


@pytest.fixture
def controller(kube: KubeClient, dev_cluster: DevCluster, start_manager: Callable[..., ControllerManager],
               git_file_remote: Any, tmp_path: Path) -> Any:
    """A running manager and GitRepository `src` with a good module in ./ok and a broken one in ./broken."""
    seed_keys(kube)
    start_manager(kubeconfig=dev_cluster.kubeconfig,
                  terraform=TerraformOptions(work_dir=str(tmp_path / "tf-work"), controller_namespace=NS))
    remote = git_file_remote("infra")
    remote.commit({"ok/main.tf": SIMPLE_TF, "broken/main.tf": BROKEN_TF})
    kube.create(GITREPOSITORIES, gitrepo("src", remote.url, {"branch": "main"}, interval="1h"))
    return remote


def last_line(out: str) -> str:
    return out.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_failed_attempt_ends_the_wait_at_once(cli: Run, kube: KubeClient, controller: Any,
                                                tmp_path: Path) -> None:
    # a source the controller cannot fetch: retried with backoff (Reconciling=True), reported at once
    kube.create(GITREPOSITORIES, gitrepo("missing", (tmp_path / "no-such-repo.git").as_uri(), {"branch": "main"},
                                         interval="1h"))
    res = cli("reconcile", "gitrepo", "missing", "--timeout", LONG)
    assert res.code == 1, res.out + res.err
    assert res.out.startswith("gitrepository.tfcontroller.io/missing reconcile requested\n"), res.out
    assert last_line(res.out).startswith("✗ gitrepository.tfcontroller.io/missing: not Ready — GitOperationFailed: ")
    assert_kstatus(kube.get(GITREPOSITORIES, "missing", NS))

    # a module that does not parse
    kube.create(TERRAFORMS, terraform("broken", "src", "./broken"))
    res = cli("reconcile", "broken", "--with-source", "--timeout", LONG)
    assert res.code == 1, res.out + res.err
    assert "✔ gitrepository.tfcontroller.io/src: Ready — " in res.out
    line = last_line(res.out)
    assert line.startswith("✗ terraform.tfcontroller.io/broken: not Ready — "), res.out
    assert "main.tf" in line, line  # the reason and message name the file that does not parse
    assert_kstatus(kube.get(TERRAFORMS, "broken", NS))

    # a dependency that does not exist: the controller waits for it, the CLI says why at once
    kube.create(TERRAFORMS, terraform("needs", "src", "./ok", dependsOn=[{"name": "ghost"}]))
    res = cli("reconcile", "tf/needs", "--timeout", LONG)
    assert res.code == 1, res.out + res.err
    assert last_line(res.out).startswith("✗ terraform.tfcontroller.io/needs: not Ready — DependencyNotReady: ")
    assert "ghost" in last_line(res.out)

    # --with-source stops at a failing source and never asks the Terraform
    kube.create(TERRAFORMS, terraform("orphan", "missing", "./ok"))
    res = cli("reconcile", "orphan", "--with-source", "--timeout", LONG)
    assert res.code == 1 and "GitOperationFailed" in last_line(res.out), res.out + res.err
    assert "terraform.tfcontroller.io/orphan" not in res.out

    # a ManifestSet whose path is not in the artifact
    kube.create(MANIFESTSETS, manifestset("apps", "./no-such-dir", source="src", interval="1h"))
    res = cli("reconcile", "ms/apps", "--timeout", LONG)
    assert res.code == 1, res.out + res.err
    line = last_line(res.out)
    assert line.startswith("✗ manifestset.tfcontroller.io/apps: not Ready — "), res.out
    assert "no-such-dir" in line, line

    # replan of the broken module: the run failed, so the re-plan failed, at once
    res = cli("replan", "broken", "--timeout", LONG)
    assert res.code == 1, res.out + res.err
    assert last_line(res.out).startswith("✗ terraform.tfcontroller.io/broken: "), res.out


def _lock_state(kube: KubeClient, lease: str, holder: str, lock_id: str) -> None:
    """Lock the state as Terraform's kubernetes backend does: the Lease's holder and its lock-info."""
    info = {"ID": lock_id, "Operation": "OperationTypeApply", "Info": "", "Who": "someone@laptop",
            "Version": "1.11.4", "Created": "2026-11-29T20:00:00.000000000Z", "Path": ""}
    kube.patch(LEASES, lease, {"metadata": {"annotations": {LOCK_INFO_ANNOTATION: json.dumps(info)}},
                               "spec": {"holderIdentity": holder}}, NS)


@pytest.mark.slow
def test_force_unlock_checks_the_held_lock_then_waits(cli: Run, kube: KubeClient, controller: Any) -> None:
    kube.create(TERRAFORMS, terraform("app", "src", "./ok"))
    res = cli("reconcile", "app", "--with-source", "--timeout", LONG)
    assert res.code == 0, res.out + res.err
    lease = "lock-tfstate-default-app"
    assert kube.get(LEASES, lease, NS)  # written by Terraform's backend during the apply

    res = cli("force-unlock", "app", "--lock-id", "0b1c2d3e-not-held", "--timeout", LONG)
    assert res.code == 1 and res.out == "", res.out
    assert res.err == ("error: no lock is held on the state of terraform.tfcontroller.io/app in namespace "
                       "default: nothing to unlock\n")

    held = "5f0e8a4c-1111-2222-3333-444455556666"
    _lock_state(kube, lease, held, held)
    res = cli("force-unlock", "app", "--lock-id", "0b1c2d3e-not-held", "--timeout", LONG)
    assert res.code == 1, res.out + res.err
    assert (f"lock 0b1c2d3e-not-held is not held on the state of terraform.tfcontroller.io/app in namespace "
            f"default; the held lock is lock {held} held by someone@laptop") in res.err
    assert ANNOTATION_FORCE_UNLOCK not in (kube.get(TERRAFORMS, "app", NS)["metadata"].get("annotations") or {})

    res = cli("force-unlock", "app", "--lock-id", held, "--timeout", LONG)
    assert res.code == 0, res.out + res.err
    assert res.out.startswith(f"terraform.tfcontroller.io/app force-unlock of lock {held} requested\n")
    assert last_line(res.out) == f"✔ terraform.tfcontroller.io/app: state lock {held} released"
    assert not (kube.get(LEASES, lease, NS).get("spec") or {}).get("holderIdentity")

    # Terraform refuses to release a lock whose holder is not the id it records: ✗ with its reason
    other = "7a7a7a7a-0000-0000-0000-000000000000"
    _lock_state(kube, lease, "somebody-else", other)
    res = cli("force-unlock", "app", "--lock-id", other, "--timeout", LONG)
    assert res.code == 1, res.out + res.err
    line = last_line(res.out)
    assert line.startswith(f"✗ terraform.tfcontroller.io/app: state lock {other} is still held — "), line
    assert "could not release state lock" in line, line
    res = cli("force-unlock", "app", "--lock-id", other, "--timeout", LONG)  # asking again would wait for nothing
    assert res.code == 1 and f"the controller already tried to release lock {other}" in res.err, res.out + res.err
