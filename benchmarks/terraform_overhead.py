"""What the Terraform controller costs on top of Terraform itself, for one tiny `terraform_data` module.

(a) bare: `terraform init && terraform plan -out && terraform apply` with the kubernetes backend against
    the development API server, the same CLI configuration (provider mirror) the controller writes,
    a fresh directory each repetition.
(b) controller: the real GitRepository and Terraform controllers in this process (`build_manager`, as
    `tfcontroller run`); a commit changing the module is pushed to a file:// remote and the GitRepository
    is asked to reconcile (`requested-at`, as `tfcontroller reconcile --with-source` does); measured from
    the push until the Terraform is Ready with that revision applied (seen through a watch).
(c) no-op: `reconcile(key)` called N times on the up-to-date object (manager stopped, so nothing else
    runs in the process): terraform processes started (target 0) and controller CPU per call
    (`time.process_time`, target < 20 ms).

Prints every repetition, the medians, the ratio b/a (target <= 1.5) and the no-op figures; exit code 0
when the targets hold. The API server runs in a subprocess so that its CPU is not counted. Not part of
`make test`; see benchmarks/README.md.

    .venv/bin/python benchmarks/terraform_overhead.py [--repetitions 5] [--noop-calls 50]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.git_polling import git, install_crds, start_dev_cluster  # noqa: E402
from tfcontroller.controllers.gitrepository import GitRepositoryOptions  # noqa: E402
from tfcontroller.controllers.setup import ControllerOptions, build_manager  # noqa: E402
from tfcontroller.controllers.terraform import (  # noqa: E402
    TerraformControllerOptions,
    TerraformOptions,
    TerraformReconciler,
)
from tfcontroller.crypto.keys import ensure_keys  # noqa: E402
from tfcontroller.kube.client import KubeClient  # noqa: E402
from tfcontroller.kube.resources import GITREPOSITORIES, TERRAFORMS  # noqa: E402
from tfcontroller.terraform.config import TerraformConfig  # noqa: E402
from tfcontroller.terraform.workspace import KubernetesBackend  # noqa: E402

NS = "default"


def module(value: str) -> str:
    return f"""
variable "greeting" {{
  type    = string
  default = "{value}"
}}

resource "terraform_data" "this" {{
  input = var.greeting
}}

output "greeting" {{
  value = terraform_data.this.output
}}
"""


def bare_run(tmp: Path, rep: int, kubeconfig: str, config: TerraformConfig) -> float:
    """(a): init, plan -out, apply in a fresh directory; returns the wall seconds of the three."""
    work = tmp / f"bare-{rep}"
    (work / "home").mkdir(parents=True)
    (work / "main.tf").write_text(module(f"bare-{rep}"))
    (work / "backend_override.tf").write_text(KubernetesBackend(NS, "bare", kubeconfig).hcl())
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(work / "home"), "TF_IN_AUTOMATION": "1",
           "TF_INPUT": "0", "TF_CLI_CONFIG_FILE": str(config.write_cli_config(work / "terraformrc.json"))}
    started = time.monotonic()
    for args in (["init", "-input=false"], ["plan", "-input=false", "-out=plan.tfplan"],
                 ["apply", "-input=false", "plan.tfplan"]):
        subprocess.run([config.binary, *args], cwd=work, env=env, check=True, capture_output=True, timeout=300)
    seconds = time.monotonic() - started
    shutil.rmtree(work, ignore_errors=True)
    return seconds


def make_remote(tmp: Path) -> tuple[Path, str]:
    bare, work = tmp / "infra.git", tmp / "infra.work"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=tmp)
    git("init", "--quiet", "--initial-branch=main", str(work), cwd=tmp)
    return work, bare.as_uri()


def push(work: Path, files: dict[str, str]) -> str:
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "change", cwd=work)
    bare = Path(str(work).removesuffix(".work") + ".git")
    git("push", "--quiet", str(bare), "main:main", cwd=work)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True,
                          check=True).stdout.strip()


def is_applied(obj: dict[str, Any], commit: str) -> bool:
    status = obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    reconciling = any(c.get("type") == "Reconciling" for c in status.get("conditions") or [])
    return status.get("lastAppliedRevision") == f"main@sha1:{commit}" and ready.get("status") == "True" \
        and not reconciling


class AppliedWatch:
    """Watches the Terraform and notes when each version of it arrived, so the end of (b) is the moment
    the controller's final status patch is visible: no polling interval in the measurement, and no GET
    every few ms competing with the controller and the API server for the machine's two cores."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.seen: list[tuple[float, dict[str, Any]]] = []
        self.cond = threading.Condition()
        self.stopped = False
        self.stream: Any = None
        self.thread = threading.Thread(target=self._run, name="bench-watch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped:
            try:
                self.stream = self.kube.watch(TERRAFORMS, NS, timeout_seconds=600)
                for _etype, obj in self.stream:
                    if (obj.get("metadata") or {}).get("name") != "app":
                        continue
                    with self.cond:
                        self.seen.append((time.monotonic(), obj))
                        self.cond.notify_all()
            except Exception:  # noqa: BLE001 - reopened unless stopped
                time.sleep(0.05)

    def wait_applied(self, commit: str, since: float, timeout: float, what: str) -> float:
        """The arrival time of the first version (after `since`) applied at `commit`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for arrived, obj in self.seen:
                    if arrived >= since and is_applied(obj, commit):
                        return arrived
                if not self.cond.wait(max(0.0, deadline - time.monotonic())) and time.monotonic() > deadline:
                    raise SystemExit(f"timed out waiting for {what}")

    def stop(self) -> None:
        self.stopped = True
        if self.stream is not None:
            self.stream.close()


def counting_binary(tmp: Path, real: str) -> tuple[Path, Path]:
    log = tmp / "terraform-calls"
    log.write_text("")
    script = tmp / "terraform-counting"
    script.write_text(f'#!/bin/sh\necho "$1" >> {log}\nexec {real} "$@"\n')
    script.chmod(0o755)
    return script, log


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--noop-calls", type=int, default=50)
    parser.add_argument("--plugin-cache-dir", default=None, help="passed to the controller (default: none)")
    parser.add_argument("--no-init-reuse", action="store_true",
                        help="run terraform init in every run (the controller before the init cache)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="tfc-tfbench-") as tmpdir:
        tmp = Path(tmpdir)
        cluster, kubeconfig = start_dev_cluster(tmp)
        kube = KubeClient.load(kubeconfig)
        manager = None
        watch: AppliedWatch | None = None
        try:
            install_crds(kube)
            watch = AppliedWatch(kube)
            ensure_keys(kube, NS)  # the RSA key pair is made once, before anything is measured
            config = TerraformConfig.from_env()

            bare_run(tmp, 0, kubeconfig, config)  # warm-up
            bare: list[float] = []
            work, url = make_remote(tmp)
            first = push(work, {"tf/main.tf": module("c0"), "README.md": "bench"})
            tf_options = TerraformOptions(work_dir=str(tmp / "tf-work"), controller_namespace=NS,
                                          reuse_init=not args.no_init_reuse, plugin_cache_dir=args.plugin_cache_dir)
            opts = ControllerOptions(kubeconfig=kubeconfig, namespace=NS, concurrent=2,
                                     artifact_dir=str(tmp / "artifacts"),
                                     gitrepository=GitRepositoryOptions(ls_remote_ttl=0.01), terraform=tf_options)
            manager = build_manager(opts, kube)
            manager.start()
            manager.wait_synced(30)
            kube.create(GITREPOSITORIES, {
                "apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository",
                "metadata": {"name": "src", "namespace": NS},
                "spec": {"url": url, "ref": {"branch": "main"}, "interval": "1h"}})
            kube.create(TERRAFORMS, {
                "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
                "metadata": {"name": "app", "namespace": NS},
                "spec": {"sourceRef": {"kind": "GitRepository", "name": "src"}, "path": "./tf",
                         "interval": "1h", "approvePlan": "auto"}})
            watch.wait_applied(first, 0.0, 120, "the first apply")  # warm-up: keys, version, caches

            controller = []
            for rep in range(args.repetitions):  # interleaved, so both see the same load of a shared machine
                bare.append(bare_run(tmp, rep + 1, kubeconfig, config))
                commit = push(work, {"tf/main.tf": module(f"c{rep + 1}")})
                started = time.monotonic()  # from the push (done) to Ready
                kube.patch(GITREPOSITORIES, "src", {"metadata": {"annotations": {
                    "tfcontroller.io/requested-at": f"bench-{rep}"}}}, NS)
                done = watch.wait_applied(commit, started, 120, f"apply of repetition {rep}")
                controller.append(done - started)
            manager.stop(grace=10)
            manager = None

            # (c) no-op reconciles of the up-to-date object, nothing else running in this process.
            binary, calls_log = counting_binary(tmp, config.binary)
            noop = TerraformReconciler(kube, TerraformControllerOptions(
                work_dir=tmp / "tf-work", terraform=TerraformConfig.from_env(binary=str(binary)),
                kubeconfig=kubeconfig, controller_namespace=NS))
            noop.reconcile(f"{NS}/app")  # warm-up: terraform version once per process, module digest, keys
            calls_log.write_text("")
            cpu0, wall0 = time.process_time(), time.monotonic()
            for _ in range(args.noop_calls):
                noop.reconcile(f"{NS}/app")
            cpu_ms = (time.process_time() - cpu0) / args.noop_calls * 1000
            wall_ms = (time.monotonic() - wall0) / args.noop_calls * 1000
            started_processes = len(calls_log.read_text().split())

            print(f"{'rep':>3} {'bare s':>7} {'controller s':>12}")
            for i, (a, b) in enumerate(zip(bare, controller, strict=True)):
                print(f"{i + 1:>3} {a:>7.2f} {b:>12.2f}")
            ma, mb = statistics.median(bare), statistics.median(controller)
            ratio = mb / ma
            print(f"median: bare {ma:.2f}s, controller (push to Ready) {mb:.2f}s, ratio b/a {ratio:.2f} (target <= 1.5)")
            print(f"no-op reconcile x{args.noop_calls}: terraform processes started {started_processes} (target 0), "
                  f"controller CPU {cpu_ms:.1f} ms per call (target < 20), wall {wall_ms:.1f} ms")
            print(json.dumps({"bare_s": ma, "controller_s": mb, "ratio": round(ratio, 3),
                              "noop_processes": started_processes, "noop_cpu_ms": round(cpu_ms, 2)}))
            return 0 if ratio <= 1.5 and started_processes == 0 and cpu_ms < 20 else 1
        finally:
            if watch is not None:
                watch.stop()
            if manager is not None:
                manager.stop(grace=10)
            kube.close()
            cluster.terminate()
            cluster.wait(10)


if __name__ == "__main__":
    sys.exit(main())
