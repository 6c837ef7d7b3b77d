"""Runner CPU (issue 21): the CPU seconds one object's plan and apply cost in local mode, runner and
Terraform included, as the controller's `ProtocolRunner` starts them (sandboxed where bubblewrap works).

K objects (the `terraform_data` module of scale.py, one variable) are each planned and applied, one after
the other, against a dev cluster (the kubernetes backend); the CPU is what each runner reports at its
end (its own from its start, and Terraform's), so it is comparable on a busy machine where wall-clock
time is not. Printed per object: CPU seconds, runner processes started.

    .venv/bin/python benchmarks/runner_cpu.py [--objects 10] [--no-hold] [--unsandboxed]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.terraform import write_tar  # noqa: E402
from tfcontroller.api import run_protocol as rp  # noqa: E402
from tfcontroller.dev.cluster import DevCluster  # noqa: E402
from tfcontroller.kube.client import KubeClient  # noqa: E402
from tfcontroller.kube.resources import NAMESPACES  # noqa: E402
from tfcontroller.terraform.config import TerraformConfig  # noqa: E402
from tfcontroller.terraform.inspect import declared_variables, inspect_files  # noqa: E402
from tfcontroller.terraform.protocol_runner import ProtocolRunner  # noqa: E402
from tfcontroller.terraform.sandbox import probe  # noqa: E402

MODULE = """
variable "value" { type = string }
resource "terraform_data" "this" { input = var.value }
output "value" { value = terraform_data.this.output }
"""
NAMESPACE = "bench"
CPU_LINE = re.compile(r"runner cpu ([0-9.]+)s")


class RunnerCpu(logging.Handler):
    """Sums the `runner cpu N.NNNs` line each runner prints at its end (its own CPU from its start, and
    the Terraform processes it reaped: a sandbox's PID-namespace init reaps them, so the controller's
    RUSAGE_CHILDREN never sees that CPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        found = CPU_LINE.search(record.getMessage())
        if found:
            self.total += float(found.group(1))


def one_object(i: int, work: Path, artifact: Path, digest: str, kubeconfig: Path, *, hold: bool,
               sandboxed: bool) -> tuple[float, int]:
    template = rp.RunRequest(run_id=f"bench-{os.getpid()}-{i}", operation=rp.PLAN, namespace=NAMESPACE,
                             name=f"o{i}", artifact_url="", artifact_digest=digest, path="tf",
                             variables={"value": f"v{i}"}, timeout_seconds=300,
                             # as the controller's request has them (issue 21): the runner parses nothing
                             declared_variables=declared_variables(inspect_files({"main.tf": MODULE.encode()})))
    runs = work / "runs"
    runs.mkdir(exist_ok=True)
    extra = {"hold": hold} if "hold" in inspect.signature(ProtocolRunner).parameters else {}  # older trees: none
    runner = ProtocolRunner(template, artifact, runs, TerraformConfig.from_env(), kubeconfig=kubeconfig,
                            sandboxed=sandboxed, object_key=f"{NAMESPACE}/o{i}", **extra)
    cpu = RunnerCpu()
    logging.getLogger("tfcontroller.terraform.protocol_runner").addHandler(cpu)
    plan = work / f"o{i}.plan"
    planned = runner.plan(plan)
    assert planned.has_changes, planned
    runner.apply(plan)
    getattr(runner, "release", lambda: None)()
    logging.getLogger("tfcontroller.terraform.protocol_runner").removeHandler(cpu)
    return cpu.total, getattr(runner, "started", getattr(runner, "_count", 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument("--no-hold", action="store_true", help="one runner per command (the old way)")
    parser.add_argument("--unsandboxed", action="store_true")
    args = parser.parse_args()
    logging.getLogger("tfcontroller.terraform.protocol_runner").setLevel(logging.INFO)
    sandboxed = not args.unsandboxed and probe() is None
    with tempfile.TemporaryDirectory(prefix="runner-cpu-") as tmp, DevCluster() as cluster:
        work = Path(tmp)
        admin = KubeClient.load(cluster.kubeconfig)
        admin.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
        artifact = write_tar(work / "artifact.tar.gz", {"tf/main.tf": MODULE})
        digest = "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()
        figures = []
        for i in range(args.objects):
            started = time.monotonic()
            cpu, starts = one_object(i, work, artifact, digest, Path(cluster.kubeconfig), hold=not args.no_hold,
                                     sandboxed=sandboxed)
            figures.append(cpu)
            print(f"object {i}: cpu {cpu:.3f} s, runner processes {starts}, wall {time.monotonic() - started:.2f} s",
                  flush=True)
        admin.close()
    figures.sort()
    print(f"sandboxed={sandboxed} hold={not args.no_hold} objects={args.objects}: CPU per object (plan + apply) "
          f"median {figures[len(figures) // 2]:.3f} s, min {figures[0]:.3f} s, max {figures[-1]:.3f} s; "
          f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
