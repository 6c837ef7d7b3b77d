"""Shared pieces of the Terraform controller tests: CRDs on the dev cluster, artifacts published the way
the GitRepository controller does (status.artifact of a GitRepository, built with the source library
from a real git remote), a reconciler driven in-process, and waiting on conditions with a timeout."""

from __future__ import annotations

import base64
import functools
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fixtures.devcluster import install_crds
from tests.support.holds import HoldServer
from tests.support.kstatus import assert_kstatus
from tests.support.polling import wait_for
from tests.support.processes import kill_all
from tfcontroller.api import conditions as c
from tfcontroller.api.times import format_rfc3339
from tfcontroller.controllers.terraform import TerraformControllerOptions, TerraformReconciler
from tfcontroller.crypto.aead import generate_key
from tfcontroller.crypto.keys import KEYS_SECRET
from tfcontroller.crypto.sealed import generate_key_pair
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import EVENTS, GITREPOSITORIES, SECRETS, TERRAFORMS
from tfcontroller.source.artifact import build_archive
from tfcontroller.source.refs import format_revision
from tfcontroller.source.store import ArtifactServer, ArtifactStore
from tfcontroller.terraform.config import TerraformConfig, Timeouts
from tfcontroller.terraform.processes import read_stat

NS = "default"

# A module of only the built-in terraform_data resource: no provider, no network.
SIMPLE_TF = """
variable "greeting" {
  type    = string
  default = "hello"
}

resource "terraform_data" "this" {
  input = var.greeting
}

output "greeting" {
  value = terraform_data.this.output
}
"""


def add_tenant(kube: KubeClient, namespace: str) -> None:
    """What `tfcontroller tenant add NAMESPACE --apply` creates: the runner ServiceAccount, Role, RoleBinding."""
    from tfcontroller.kube.errors import AlreadyExists
    from tfcontroller.runner.tenant import tenant_objects

    for obj in tenant_objects(namespace):
        try:
            kube.create(kube.resource_of(obj), obj, namespace)
        except AlreadyExists:
            pass


@functools.cache
def _sealing_pair() -> tuple[bytes, bytes]:
    return generate_key_pair()  # RSA 4096 takes seconds: once per test session


def seed_keys(kube: KubeClient, namespace: str = NS) -> None:
    """Pre-create the controller's key Secret (same layout ensure_keys writes) with a session-wide RSA
    pair, so each test does not pay for a new 4096-bit key."""
    private_pem, cert_pem = _sealing_pair()
    kube.upsert_secret(namespace, KEYS_SECRET, {"plan-key.k1": generate_key(), "plan-key-active": b"k1",
                                                "sealing.key": private_pem, "sealing.crt": cert_pem})


def condition(obj: dict[str, Any] | None, type_: str) -> c.Condition | None:
    return c.find(((obj or {}).get("status") or {}).get("conditions"), type_)


class Harness:
    """One dev cluster, an artifact store and the reconciler, driven by `reconcile()` calls."""

    def __init__(self, kube: KubeClient, kubeconfig: str, tmp_path: Path, **options: Any) -> None:
        self.kube = kube
        self.kubeconfig = kubeconfig
        self.tmp = tmp_path
        self.store = ArtifactStore(tmp_path / "artifacts")
        self.artifact_server: ArtifactServer | None = None
        install_crds(kube)
        seed_keys(kube)
        if options.get("runner_mode") == "pod":
            self._pod_mode(options)
        config = TerraformConfig.from_env(timeouts=Timeouts(grace=5.0))
        self.options = TerraformControllerOptions(work_dir=tmp_path / "work", terraform=config,
                                                  kubeconfig=kubeconfig, **options)
        self.reconciler = TerraformReconciler(kube, self.options)

    def _pod_mode(self, options: dict[str, Any]) -> None:
        """`--runner=pod` on the dev cluster's node: runner Pods download artifacts over HTTP (the node's
        sandbox does not see the test's directory), deliver to the run API on loopback (the node's Pods use
        the host network), and run as the namespace's runner ServiceAccount (`tfcontroller tenant add`)."""
        self.artifact_server = self.store.serve("127.0.0.1:0")
        options.setdefault("run_api_listen", "127.0.0.1:0")
        add_tenant(self.kube, NS)

    def close(self) -> None:
        """Stop what the harness started (pod mode: the run API and the artifact server)."""
        self.reconciler.cancel_all()
        api = getattr(self.reconciler, "_run_api", None)
        if api is not None:
            api.stop()
        if self.artifact_server is not None:
            self.artifact_server.stop()

    # ---- sources -----------------------------------------------------------------------------
    def publish(self, name: str, repo_path: Path, commit: str, ref: str = "main", url: str = "") -> dict[str, Any]:
        """Build the artifact of `commit` and write it into GitRepository `name`'s status."""
        revision = format_revision(ref, commit)
        artifact = self.store.put(NS, name, lambda dest: build_archive(repo_path, commit, dest), revision)
        return self.publish_artifact(name, artifact.to_status(), url or repo_path.as_uri())

    def publish_tarball(self, name: str, tarball: Path, revision: str) -> dict[str, Any]:
        artifact = self.store.store_file(NS, name, tarball, revision)
        return self.publish_artifact(name, artifact.to_status(), "file:///nowhere")

    def publish_artifact(self, name: str, artifact: dict[str, Any], url: str) -> dict[str, Any]:
        obj = self.kube.get_or_none(GITREPOSITORIES, name, NS)
        if obj is None:
            obj = self.kube.create(GITREPOSITORIES, {
                "apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"url": url, "interval": "1h", "ref": {"branch": "main"}}})
        ready = {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "stored artifact",
                 "lastTransitionTime": format_rfc3339()}
        return self.kube.patch_status(GITREPOSITORIES, name, NS, {"artifact": artifact, "conditions": [ready]})

    # ---- Terraform objects ---------------------------------------------------------------------
    def create(self, name: str, source: str = "src", path: str = "./", **spec: Any) -> dict[str, Any]:
        body = {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"sourceRef": {"kind": "GitRepository", "name": source}, "path": path,
                         "interval": "1h", "approvePlan": "auto", **spec}}
        return self.kube.create(TERRAFORMS, body)

    def get(self, name: str) -> dict[str, Any]:
        obj = self.kube.get(TERRAFORMS, name, NS)
        assert_kstatus(obj)
        return obj

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.kube.patch(TERRAFORMS, name, patch, NS)

    def annotate(self, name: str, key: str, value: str | None) -> dict[str, Any]:
        return self.patch(name, {"metadata": {"annotations": {key: value}}})

    def reconcile(self, name: str) -> dict[str, Any]:
        """One reconcile; the object it leaves behind is checked against the status conventions."""
        self.reconciler.reconcile(f"{NS}/{name}")
        obj = self.kube.get_or_none(TERRAFORMS, name, NS) or {}
        assert_kstatus(obj)
        return obj

    def reconcile_until(self, name: str, predicate: Callable[[dict[str, Any]], Any], timeout: float = 60.0,
                        what: str = "condition") -> dict[str, Any]:
        box: dict[str, Any] = {}

        def once() -> Any:
            box["obj"] = self.reconcile(name)
            return predicate(box["obj"])

        try:
            wait_for(once, timeout, what, interval=0.05)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what}; status: "
                                 f"{json.dumps((box.get('obj') or {}).get('status'), indent=1)}") from None
        return box["obj"]

    # ---- reading results -------------------------------------------------------------------------
    def secret(self, name: str) -> dict[str, str] | None:
        obj = self.kube.get_or_none(SECRETS, name, NS)
        if obj is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}

    def state(self, tf_name: str, workspace: str = "default") -> dict[str, Any] | None:
        obj = self.kube.get_or_none(SECRETS, f"tfstate-{workspace}-{tf_name}", NS)
        if obj is None:
            return None
        return json.loads(gzip.decompress(base64.b64decode(obj["data"]["tfstate"])))

    def events(self, tf_name: str) -> list[dict[str, Any]]:
        items, _ = self.kube.list_all(EVENTS, NS)
        return [e for e in items if (e.get("involvedObject") or {}).get("name") == tf_name]


def ready_reason(obj: dict[str, Any]) -> str:
    cond = condition(obj, c.READY)
    return f"{cond.status}/{cond.reason}" if cond else ""


# A module whose apply can be held open: with var.hold set to a hold's URL (tests/support/holds.py) it
# announces the run (and so the state lock), waits until the test releases it, and reports completion —
# over 127.0.0.1, which a sandboxed run and a runner Pod on the dev node reach, unlike the test's files.
HOLD_TF = """
variable "hold" {
  type    = string
  default = ""
}

resource "terraform_data" "this" {
  input = "held"

  provisioner "local-exec" {
    command = var.hold == "" ? "true" : "curl -sf -m 60 ${var.hold}/started; until curl -sf -m 5 ${var.hold}/release; do sleep 0.1; done; curl -sf -m 60 ${var.hold}/done"
  }
}
"""


def run_controller_process(kubeconfig: str, work_dir: str, lock_retry: float = 30.0, retry_cap: float = 300.0,
                           runner_mode: str = "local", retry_base: float = 0.5, **extra: Any) -> int:
    """Entry point of a controller subprocess (tests that kill -9 a controller): a Manager with only
    the Terraform controller, in the default namespace, Terraform in `runner_mode`, until SIGTERM.
    `retry_base`: the first retry's delay after a failed reconcile (a test that kills the controller after a
    failure sets it long, so no retry comes first). `extra`: more TerraformControllerOptions (pod mode:
    run_api_listen)."""
    import logging

    from tfcontroller.runtime.manager import Manager, ManagerOptions

    logging.basicConfig(level=logging.INFO)
    kube = KubeClient.load(kubeconfig)
    manager = Manager(kube, ManagerOptions(namespace=NS, concurrent=2, retry_base=retry_base,
                                           retry_cap=max(retry_cap, retry_base)))
    options = TerraformControllerOptions(work_dir=Path(work_dir), kubeconfig=kubeconfig, lock_retry=lock_retry,
                                         runner_mode=runner_mode,
                                         terraform=TerraformConfig.from_env(timeouts=Timeouts(grace=5.0)),
                                         **extra)
    TerraformReconciler(kube, options).register(manager)
    return manager.run()


def start_controller_process(kubeconfig: str, work_dir: Path, **options: Any) -> subprocess.Popen[bytes]:
    """`run_controller_process(kubeconfig, work_dir, **options)` in a process of its own session (so that
    kill_controller takes its whole group, as a pod's death does), running this tree's code, its output
    discarded. `options`: run_controller_process's keywords, as Python literals (they cross as repr)."""
    from tests.support.paths import REPO_ROOT

    args = "".join(f", {key}={value!r}" for key, value in options.items())
    code = ("import sys; from tests.support.terraform_helpers import run_controller_process as r; "
            f"sys.exit(r({kubeconfig!r}, {str(work_dir)!r}{args}))")
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


def kill_controller(proc: subprocess.Popen[bytes], also: list[int]) -> None:
    """SIGKILL a controller process's whole group (as when its pod dies) and the pids in `also` (Terraform
    runs in their own sessions), then wait for the controller to be gone."""
    os.killpg(proc.pid, signal.SIGKILL)
    kill_all(also)
    proc.wait(10)


def processes_under(directory: Path) -> list[int]:
    """Pids of the runs under `directory` (a controller's work dir): processes whose working directory is
    inside it (unsandboxed), and every process of a runner sandbox that mounts a path from it (the bwrap
    process, named by its command line, and its descendants: inside, the working directory is the
    sandbox's own path, which the host cannot place)."""
    root = str(directory.resolve())

    def inside(path: str) -> bool:
        return path == root or path.startswith(root + "/")

    found: set[int] = set()
    sandboxes: set[int] = set()
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = read_stat(pid)
        if stat is None:
            continue
        children.setdefault(stat.ppid, []).append(pid)
        try:
            if inside(str((entry / "cwd").resolve())):
                found.add(pid)
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv and argv[0].endswith("bwrap") and any(inside(a) for a in argv):
            sandboxes.add(pid)
    todo = list(sandboxes)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
        todo.extend(c for c in children.get(pid, []) if c not in found)
    return sorted(found)


class CountingTerraform:
    """A wrapper script around the real terraform that reports each command's name to the hold server
    (tests/support/holds.py): it runs inside a run's sandbox or Pod, where the test's files are not. The
    script sits alone in its directory, which is all a sandbox mounts of it."""

    def __init__(self, tmp: Path, holds: HoldServer) -> None:
        real = shutil.which("terraform")
        assert real, "terraform not on PATH"
        self.counter = holds.counter()
        bin_dir = tmp / "counting-terraform"
        bin_dir.mkdir()
        self.path = bin_dir / "terraform"
        self.path.write_text(f'#!/bin/sh\ncurl -sf -m 60 -X POST "{self.counter.url}/$1" >/dev/null 2>&1\n'
                             f'exec {real} "$@"\n')
        self.path.chmod(0o755)

    def calls(self) -> list[str]:
        return self.counter.names()

    def count(self, *commands: str) -> int:
        return sum(1 for name in self.calls() if name in commands)
