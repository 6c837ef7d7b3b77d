"""Start-up time of the operator CLI beside kubectl's: `tfcontroller --help`, `tfcontroller get ...` against
the development API server, `kubectl version --client` and `kubectl get terraforms`, in one run.

Each command runs `--repetitions` times as a fresh process, the commands interleaved (so that a busy
moment of the shared machine costs every command alike); the table gives the median and the fastest wall
time per command and the median's ratio to `kubectl version --client` (a Go binary that only starts and
prints: the floor of a command-line tool). Target (issue 13): under 0.25 s for `--help` and `get`; exit
code 0 when both medians hold. Not part of `make test`; see benchmarks/README.md.

    .venv/bin/python benchmarks/cli_startup.py [--repetitions 15] [--objects 10]

Why the CLI is this fast: building its parser imports no controller, Terraform, crypto or `kubernetes`
(tests/unit/cli/test_lazy_imports.py), and `get` reads a static kubeconfig without `kubernetes` either
(kube/config.load_static).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dev_cluster_process import start_dev_cluster  # noqa: E402  (beside this script)

from tfcontroller.kube.client import KubeClient  # noqa: E402
from tfcontroller.kube.resources import CRDS, TERRAFORMS  # noqa: E402

TARGET = 0.25  # seconds, for `--help` and `get`


def populate(kubeconfig: str, objects: int) -> None:
    """The CRDs and `objects` Terraforms with a Ready condition, so that `get` prints a real table."""
    kube = KubeClient.load(kubeconfig)
    try:
        for path in sorted((ROOT / "crds").glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if doc:
                    kube.create(CRDS, doc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the CRDs are served once the server has registered them
            try:
                kube.list(TERRAFORMS, "default")
                break
            except Exception:  # noqa: BLE001 - not served yet
                time.sleep(0.1)
        for i in range(objects):
            name = f"stack-{i:02d}"
            kube.create(TERRAFORMS, {
                "apiVersion": TERRAFORMS.api_version, "kind": "Terraform",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"sourceRef": {"name": "infra"}, "path": f"./stacks/{name}", "interval": "10m"}})
            kube.patch_status(TERRAFORMS, name, "default", {
                "lastAppliedRevision": "main@sha1:" + "0123456789abcdef" * 2 + "01234567",
                "conditions": [{"type": "Ready", "status": "True", "reason": "ApplySucceeded",
                                "message": f"Applied plan plan-main-0123456789-{i:08x}",
                                "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
    finally:
        kube.close()


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, timeout=120)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--objects", type=int, default=10, help="Terraform objects `get` lists")
    args = parser.parse_args()
    kubectl = shutil.which("kubectl")
    tfcontroller = [sys.executable, "-m", "tfcontroller"]
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        server, kubeconfig = start_dev_cluster(Path(tmp))  # HTTPS, the admin token: as kubectl meets a real one
        try:
            populate(kubeconfig, args.objects)
            env = {**os.environ, "PYTHONPATH": str(ROOT), "KUBECONFIG": kubeconfig, "HOME": tmp}
            env.pop("COLUMNS", None)
            commands = {
                "tfcontroller --help": [*tfcontroller, "--help"],
                "tfcontroller get tf": [*tfcontroller, "get", "tf"],
                "tfcontroller get tf/stack-00 -o yaml": [*tfcontroller, "get", "tf/stack-00", "-o", "yaml"],
            }
            if kubectl:
                commands["kubectl version --client"] = [kubectl, "version", "--client"]
                commands["kubectl get terraforms"] = [kubectl, "get", "terraforms"]
            for argv in commands.values():  # warm the page cache and the interpreter's bytecode
                timed(argv, env)
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.repetitions):
                for name, argv in commands.items():
                    times[name].append(timed(argv, env))
        finally:
            server.terminate()
            server.wait(10)
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians.get("kubectl version --client")
    print(f"{args.repetitions} runs each, interleaved; dev cluster over HTTPS, "
          f"{args.objects} Terraforms")
    print(f"{'command':40} {'median':>8} {'fastest':>8} {'/ kubectl version':>18}")
    for name, values in times.items():
        ratio = f"{medians[name] / floor:.1f}x" if floor else "-"
        print(f"{name:40} {medians[name]:7.3f}s {min(values):7.3f}s {ratio:>18}")
    if not kubectl:
        print("(kubectl not on PATH: no comparison)")
    held = medians["tfcontroller --help"] < TARGET and medians["tfcontroller get tf"] < TARGET
    print(f"target: --help and get under {TARGET:.2f} s: {'held' if held else 'MISSED'}")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
