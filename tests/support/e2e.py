"""Helpers for end-to-end tests that run the real controllers in-process against the dev cluster.

`running_controllers` builds the manager the way `tfcontroller run` does (`controllers.setup.build_manager`,
which plugs in the Terraform and ManifestSet controllers) and runs it in-process. Also: reading
Ready/Stalled, waiting on a Terraform object with its status in the failure message, Events of one
object, Secrets, and a directory tree as files for a git commit.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.kstatus import assert_kstatus
from tests.support.polling import wait_for
from tests.support.terraform_helpers import add_tenant
from tfcontroller.api import conditions as c
from tfcontroller.controllers.gitrepository import GitRepositoryOptions
from tfcontroller.controllers.setup import ControllerManager, ControllerOptions, build_manager
from tfcontroller.controllers.terraform import TerraformOptions
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import EVENTS, SECRETS, TERRAFORMS

NS = "default"
TERRAFORM_CONTROLLER = "terraform"


@contextmanager
def running_controllers(kube: KubeClient, kubeconfig: str, tmp_path: Path,
                        runner_mode: str = "local") -> Iterator[ControllerManager]:
    """Every controller `tfcontroller run` starts (`build_manager`), Terraform in `runner_mode`, running
    in-process until the block ends; then stopped gracefully, which also cancels any run still going."""
    # A private Terraform work directory (the default one is shared by every controller on the machine),
    # and a short one: each run's TMPDIR lies inside it, and a provider's plugin socket
    # (TMPDIR + "/plugin<up to 10 digits>") must fit in 107 bytes, which pytest's tmp_path names exceed.
    # Pod mode, as `tfcontroller run --runner=pod` on the dev cluster's node: the runner ServiceAccount and
    # RBAC of `tfcontroller tenant add default --apply`; artifacts served over HTTP (a runner Pod cannot read
    # the controller's artifact directory: file:// URLs fail with ArtifactFailed); the run API on loopback
    # (the node's Pods use the host network).
    pod = runner_mode == "pod"
    if pod:
        add_tenant(kube, NS)
    with tempfile.TemporaryDirectory(prefix="tfc-") as work_dir:
        terraform = TerraformOptions(work_dir=work_dir, runner=runner_mode, run_api_listen="127.0.0.1:0")
        opts = ControllerOptions(
            kubeconfig=kubeconfig, namespace=NS, concurrent=2, artifact_dir=str(tmp_path / "artifacts"),
            artifact_addr="127.0.0.1:0" if pod else None,
            retry_base=0.2, retry_cap=2.0, shutdown_grace=15.0, lease_namespace=NS,
            gitrepository=GitRepositoryOptions(ls_remote_ttl=0.5), terraform=terraform,
        )
        manager = build_manager(opts, kube)
        try:
            manager.queue(TERRAFORM_CONTROLLER)
        except KeyError:
            raise AssertionError("build_manager registered no Terraform controller") from None
        manager.start()
        try:
            assert manager.wait_synced(15), "informers did not sync"
            yield manager
        finally:
            manager.stop(grace=15)


def condition(obj: dict[str, Any] | None, type_: str) -> c.Condition | None:
    return c.find(((obj or {}).get("status") or {}).get("conditions"), type_)


def wait_terraform(kube: KubeClient, name: str, predicate: Callable[[dict[str, Any]], bool], timeout: float,
                   what: str) -> dict[str, Any]:
    """Wait until the Terraform object satisfies `predicate`; fail at once when it is Stalled (retrying
    cannot help) and, on a timeout, with its last status."""
    last: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        obj = kube.get_or_none(TERRAFORMS, name, NS) or {}
        last["obj"] = obj
        assert_kstatus(obj)
        stalled = condition(obj, c.STALLED)
        if stalled is not None and stalled.status == c.TRUE:
            raise AssertionError(f"Terraform {name} is Stalled ({stalled.reason}): {stalled.message}")
        return obj if obj and predicate(obj) else None

    try:
        return wait_for(check, timeout, what, interval=0.2)  # minute-long Terraform runs
    except AssertionError as exc:
        status = json.dumps((last.get("obj") or {}).get("status"), indent=1)
        raise AssertionError(f"{exc}; Terraform {name} status: {status}") from None


def is_ready(obj: dict[str, Any]) -> bool:
    cond = condition(obj, c.READY)
    return cond is not None and cond.status == c.TRUE


def events_of(kube: KubeClient, name: str, kind: str = "Terraform") -> list[dict[str, Any]]:
    items, _ = kube.list_all(EVENTS, NS)
    return [e for e in items if (e.get("involvedObject") or {}).get("name") == name
            and (e.get("involvedObject") or {}).get("kind") == kind]


def secret_data(kube: KubeClient, name: str) -> dict[str, str] | None:
    obj = kube.get_or_none(SECRETS, name, NS)
    if obj is None:
        return None
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


def create_secret(kube: KubeClient, name: str, values: dict[str, str]) -> None:
    kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
                          "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}})


def tree_files(root: Path, under: str) -> dict[str, bytes]:
    """Every regular file below `root`, keyed by its path below `under/` (for GitRemote.commit)."""
    return {f"{under}/{p.relative_to(root).as_posix()}": p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}
