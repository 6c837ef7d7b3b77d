"""Steady-state polling cost: 200 GitRepositories on 5 remote repositories, nothing pushed.

Prints, per polling round (one `--interval` of wall time): reconciles, `git ls-remote` calls (target:
one per distinct URL, i.e. 5), fetches and repacks (target: 0 and 0), the controller's CPU seconds
(its own threads; the git child processes separately) and, at the end, its peak RSS.

The development API server runs in a subprocess so that its CPU is not counted; the controller (the
same `build_manager` that `tfcontroller run` uses) runs in this process. Remotes are file:// bare
repositories. Not part of `make test`; see benchmarks/README.md.

    .venv/bin/python benchmarks/git_polling.py [--objects 200] [--repos 5] [--interval 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dev_cluster_process import start_dev_cluster  # noqa: E402  (beside this script)

from tfcontroller.controllers.gitrepository import GitRepositoryOptions  # noqa: E402
from tfcontroller.controllers.setup import ControllerOptions, build_manager  # noqa: E402
from tfcontroller.kube.client import KubeClient  # noqa: E402
from tfcontroller.kube.errors import ApiError  # noqa: E402
from tfcontroller.kube.resources import CRDS, GITREPOSITORIES  # noqa: E402

GIT_ENV = {
    **os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.test",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.test",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, timeout=60)


def make_remote(root: Path, index: int) -> str:
    """A bare repository with one commit of a few Terraform-like files; returns its file:// URL."""
    bare, work = root / f"repo{index}.git", root / f"repo{index}.work"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=root)
    git("init", "--quiet", "--initial-branch=main", str(work), cwd=root)
    for n in range(20):
        path = work / "modules" / f"m{n}" / "main.tf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'variable "name" {{}}\noutput "id" {{ value = "repo{index}-m{n}-${{var.name}}" }}\n')
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "initial", cwd=work)
    git("push", "--quiet", str(bare), "main:main", cwd=work)
    return bare.as_uri()


def install_crds(kube: KubeClient) -> None:
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kube.create(CRDS, doc)
    deadline = time.monotonic() + 10
    while True:
        try:
            kube.list(GITREPOSITORIES, "default")
            return
        except ApiError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def ready_count(kube: KubeClient) -> int:
    items = kube.list(GITREPOSITORIES, "default").get("items") or []
    return sum(
        1 for o in items
        if any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (o.get("status") or {}).get("conditions") or [])
    )


def cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--repos", type=int, default=5)
    parser.add_argument("--interval", type=float, default=10.0, help="spec.interval in seconds")
    parser.add_argument("--rounds", type=int, default=3, help="steady-state rounds to measure")
    parser.add_argument("--concurrent", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="tfc-bench-") as tmpdir:
        tmp = Path(tmpdir)
        remotes_dir = tmp / "remotes"
        remotes_dir.mkdir()
        urls = [make_remote(remotes_dir, i) for i in range(args.repos)]
        cluster, kubeconfig = start_dev_cluster(tmp)
        kube = KubeClient.load(kubeconfig)
        manager = None
        try:
            install_crds(kube)
            opts = ControllerOptions(
                kubeconfig=kubeconfig, namespace="default", concurrent=args.concurrent,
                artifact_dir=str(tmp / "artifacts"),
                gitrepository=GitRepositoryOptions(ls_remote_ttl=min(5.0, args.interval / 2)),
            )
            manager = build_manager(opts, kube)
            manager.start()
            manager.wait_synced(30)
            stats = manager.git_fetcher.stats
            reconciles = manager.metrics.reconcile_total

            def reconciled() -> float:
                return sum(reconciles.labels("gitrepository", r)._value.get() for r in ("success", "requeue", "error"))

            started = time.monotonic()
            for i in range(args.objects):
                kube.create(GITREPOSITORIES, {
                    "apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository",
                    "metadata": {"name": f"repo-{i:03d}", "namespace": "default"},
                    "spec": {"url": urls[i % args.repos], "ref": {"branch": "main"},
                             "interval": f"{args.interval:g}s"},
                })
            while ready_count(kube) < args.objects:
                if time.monotonic() - started > 300:
                    raise SystemExit("objects did not become Ready within 300s")
                time.sleep(0.5)
            warm = stats.snapshot()
            print(f"{args.objects} GitRepositories on {args.repos} remotes Ready in "
                  f"{time.monotonic() - started:.1f}s (ls-remote {warm['ls_remotes']}, fetches {warm['fetches']}, "
                  f"repacks {warm['repacks']})")
            time.sleep(args.interval)  # let the first requeues settle into the steady state

            print(f"{'round':>5} {'reconciles':>10} {'ls-remote':>9} {'fetches':>7} {'repacks':>7} "
                  f"{'cpu s':>6} {'git cpu s':>9}")
            totals = {"ls_remotes": 0, "fetches": 0, "repacks": 0}
            cpu_total = 0.0
            for n in range(1, args.rounds + 1):
                s0, c0, r0 = stats.snapshot(), cpu(), reconciled()
                time.sleep(args.interval)
                s1, c1, r1 = stats.snapshot(), cpu(), reconciled()
                delta = {k: s1[k] - s0[k] for k in totals}
                for k in totals:
                    totals[k] += delta[k]
                cpu_total += c1[0] - c0[0]
                print(f"{n:>5} {r1 - r0:>10.0f} {delta['ls_remotes']:>9} {delta['fetches']:>7} "
                      f"{delta['repacks']:>7} {c1[0] - c0[0]:>6.2f} {c1[1] - c0[1]:>9.2f}")
            rounds = args.rounds
            print(f"per round: ls-remote {totals['ls_remotes'] / rounds:.1f} (target {args.repos}), "
                  f"fetches {totals['fetches'] / rounds:.1f} (target 0), repacks {totals['repacks'] / rounds:.1f} "
                  f"(target 0), controller CPU {cpu_total / rounds:.2f}s")
            print(f"peak RSS of the controller process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
            ok = totals["fetches"] == 0 and totals["repacks"] == 0 and totals["ls_remotes"] <= args.repos * rounds
            return 0 if ok else 1
        finally:
            if manager is not None:
                manager.stop(grace=10)
            kube.close()
            cluster.terminate()
            cluster.wait(10)


if __name__ == "__main__":
    sys.exit(main())
