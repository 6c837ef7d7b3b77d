"""Scale (issue 21): N Terraform objects on one GitRepository, created at once, against the dev cluster on
the same machine; a table for N = 100, 500, 1000 and the runner modes side by side, printed in one run.

Per N and mode, in a fresh dev cluster (a subprocess with its node) and a fresh controller (`tfcontroller
run` subprocess, `--concurrent 4` by default):

(1) Ready: N objects (a `terraform_data` module with one variable, `approvePlan: auto`) created at once
    until a watch has seen every one Ready with its revision applied: seconds, objects per minute, the
    controller's own CPU seconds and peak RSS, its tree's CPU (Terraform and the runner included: their
    processes are its descendants in local mode), the dev cluster's CPU seconds (its process only; in pod
    mode the runner Pods' processes are the node's, counted in "tree").
(2) Idle: `--idle` seconds with N Ready objects and nothing pushed (the GitRepository polls every
    `--git-interval`): the controller's and the dev cluster's CPU per minute (% of one core) and the
    terraform processes started (target 0: nothing is due).
(3) One commit touching the module of one object among N (the one in the middle of the creation order
    uses path ./one, every other ./tf): seconds from the moment the GitRepository's artifact has the new
    revision (the poll that sees the commit) to that object Ready with it (target <= 10 s), and how many
    objects re-planned (a new entry in status.history; target exactly 1). Every other object is
    reconciled for the new revision too (the source changed) and only records it.

Before (1) a warm-up object is made Ready, so the controller's first-run costs (keys, terraform version)
are not in the figures; it stays, so N+1 objects are idle in (2). Exit code 0 when every target holds.
Not part of `make test`; see benchmarks/README.md "scale.py".

    .venv/bin/python benchmarks/scale.py [--sizes 100,500,1000] [--modes local,pod] [--concurrent 4]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmarks.dev_cluster_process import start_dev_cluster  # noqa: E402
from benchmarks.git_polling import git, install_crds  # noqa: E402
from benchmarks.runner_modes import (  # noqa: E402
    MODULE,
    ReadyWatch,
    TreeSampler,
    _stat,
    descendants,
    free_port,
    module_repository,
    own_cpu,
    setup_namespace,
)
from tfcontroller.crypto.keys import ensure_keys  # noqa: E402
from tfcontroller.kube.client import KubeClient  # noqa: E402
from tfcontroller.kube.resources import GITREPOSITORIES, TERRAFORMS  # noqa: E402

NAMESPACE = "scale"
RATE_TARGET = 250.0  # objects per minute
READY_1000_TARGET = 240.0  # seconds for 1,000 objects
RSS_TARGET = 200 * 2**20
IDLE_TARGET = 1.0  # % of one core, controller
COMMIT_TARGET = 10.0  # seconds after the poll that sees the commit
TICKS = os.sysconf("SC_CLK_TCK")


# ---- processes ----------------------------------------------------------------------------------------
class Spawns:
    """Processes started under some roots while it runs, by name (/proc/PID/comm), sampled every 20 ms;
    a process is known by (pid, start time). One that lives under 20 ms can be missed: Terraform's
    commands live for a tenth of a second at least, so a started terraform is not."""

    def __init__(self, *roots: int) -> None:
        self.roots = roots
        self.before = self._scan()
        self.seen: dict[tuple[int, str], str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

        self.cpu: dict[tuple[int, str], float] = {}  # the last CPU seconds seen of each process

    def _scan(self) -> dict[tuple[int, str], str]:
        out = {}
        for root in self.roots:
            for pid in descendants(root):
                fields = _stat(pid)
                try:
                    comm = Path(f"/proc/{pid}/comm").read_text().strip()
                except OSError:
                    continue
                if fields is not None:
                    out[(pid, fields[19])] = comm
                    if hasattr(self, "cpu"):
                        self.cpu[(pid, fields[19])] = (int(fields[11]) + int(fields[12])) / TICKS
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for key, comm in self._scan().items():
                if key not in self.before:
                    self.seen[key] = comm

    def cpu_by_name(self) -> dict[str, float]:
        """CPU seconds of the processes started in the window, by name (a profile of the tree: the runner
        is `python`, Terraform `terraform`, providers `terraform-provi…`, the sandbox `bwrap`)."""
        out: dict[str, float] = {}
        for key, comm in self.seen.items():
            out[comm] = out.get(comm, 0.0) + self.cpu.get(key, 0.0)
        return out

    def stop(self) -> dict[str, int]:
        """Processes started in the window, counted by name."""
        self._stop.set()
        self._thread.join()
        counts: dict[str, int] = {}
        for comm in self.seen.values():
            counts[comm] = counts.get(comm, 0) + 1
        return counts


# ---- the cluster side ----------------------------------------------------------------------------------
def make_remote(tmp: Path) -> tuple[str, Path]:
    """A bare repository with two modules: ./tf (the N objects) and ./one (the object the commit touches)."""
    return module_repository(tmp, {"tf": MODULE, "one": MODULE})


def touch_one(work: Path, bare_url: str) -> None:
    """A commit that changes ./one only (its default greeting)."""
    main = work / "one" / "main.tf"
    main.write_text(main.read_text().replace('default = "hello"', f'default = "hello {time.time():.0f}"', 1))
    git("commit", "--quiet", "-am", "one: a new greeting", cwd=work)
    git("push", "--quiet", bare_url, "main:main", cwd=work)


def create(kube: KubeClient, name: str, path: str) -> None:
    kube.create(TERRAFORMS, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "infra"}, "path": path,
                 "interval": "1h", "approvePlan": "auto", "vars": [{"name": "greeting", "value": name}]}},
        NAMESPACE)


def artifact_revision(kube: KubeClient) -> str:
    obj = kube.get(GITREPOSITORIES, "infra", NAMESPACE)
    return str(((obj.get("status") or {}).get("artifact") or {}).get("revision") or "")


def histories(kube: KubeClient) -> dict[str, str]:
    return {o["metadata"]["name"]: json.dumps((o.get("status") or {}).get("history") or [], sort_keys=True)
            for o in kube.list_all(TERRAFORMS, NAMESPACE)[0]}


def attempted(kube: KubeClient) -> dict[str, str]:
    return {o["metadata"]["name"]: str((o.get("status") or {}).get("lastAttemptedRevision") or "")
            for o in kube.list_all(TERRAFORMS, NAMESPACE)[0]}


def start_controller(kubeconfig: str, tmp: Path, mode: str, concurrent: int) -> subprocess.Popen[bytes]:
    flags = ["--runner", mode]
    if mode == "pod":
        flags += ["--run-api-listen", f"127.0.0.1:{free_port()}", "--max-runners", "8"]
    log = (tmp / "controller.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "tfcontroller", "run", "--kubeconfig", kubeconfig, "--namespace", NAMESPACE,
         "--controller-namespace", "default", "--concurrent", str(concurrent),
         "--artifact-dir", str(tmp / "artifacts"), "--artifact-addr", f"127.0.0.1:{free_port()}",
         "--terraform-work-dir", str(tmp / "work"),
         "--metrics-addr", f"127.0.0.1:{free_port()}", "--health-addr", f"127.0.0.1:{free_port()}", *flags],
        stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})


# ---- one row ---------------------------------------------------------------------------------------------
@dataclass
class Row:
    mode: str
    n: int
    ready_s: float = 0.0
    per_min: float = 0.0
    ctl_cpu: float = 0.0
    tree_cpu: float = 0.0
    ctl_rss: int = 0
    cluster_cpu: float = 0.0
    idle_ctl_pct: float = 0.0
    idle_cluster_pct: float = 0.0
    idle_terraform: int = 0
    idle_spawned: str = ""
    commit_s: float = -1.0
    replanned: int = -1
    tracebacks: int = 0
    profile: dict[str, float] = field(default_factory=dict)  # the tree's CPU seconds by process name
    starts: dict[str, int] = field(default_factory=dict)  # processes started while creating, by name
    timed_out: int = 0  # objects not Ready within --timeout (then idle and commit are not measured)
    drain_s: float = 0.0  # seconds from all Ready until nothing was queued, running or in the reaper's trash
    drain_cpu: float = 0.0  # the controller's CPU seconds meanwhile

    def ok(self) -> bool:
        return (not self.timed_out and self.per_min >= RATE_TARGET and self.ctl_rss < RSS_TARGET and self.idle_ctl_pct < IDLE_TARGET
                and self.idle_terraform == 0 and 0 <= self.commit_s <= COMMIT_TARGET and self.replanned == 1
                and self.tracebacks == 0)


def measure(n: int, mode: str, args: argparse.Namespace) -> Row:
    row = Row(mode, n)
    with tempfile.TemporaryDirectory(prefix="tfc-scale-") as tmpdir:
        tmp = Path(tmpdir)
        cluster, kubeconfig = start_dev_cluster(tmp)
        kube = KubeClient.load(kubeconfig)
        controller: subprocess.Popen[bytes] | None = None
        watch: ReadyWatch | None = None
        try:
            install_crds(kube)
            ensure_keys(kube, "default")
            url, work = make_remote(tmp)
            setup_namespace(kube, NAMESPACE, url, args.git_interval)
            controller = start_controller(kubeconfig, tmp, mode, args.concurrent)
            watch = ReadyWatch(kube, NAMESPACE)
            create(kube, "warm-up", "./tf")
            watch.wait(["warm-up"], 300)
            time.sleep(2.0)  # the warm-up's last writes settle
            names = [f"stack-{i:04d}" for i in range(n)]
            touched = names[n // 2]  # in the middle: neither first nor last in any queue order
            ctl0, cl0 = own_cpu(controller.pid), own_cpu(cluster.pid)
            sampler = TreeSampler(controller.pid)
            profile = Spawns(controller.pid)
            started = time.monotonic()
            for name in names:
                create(kube, name, "./one" if name == touched else "./tf")
            try:
                done = watch.wait(names, args.timeout)
            except SystemExit as exc:  # the figures so far are printed; idle and commit are not measured
                done = time.monotonic()
                row.timed_out = sum(1 for name in names if name not in watch.ready)
                print(f"  {mode} N={n}: {exc}", flush=True)
            row.starts = dict(sorted(profile.stop().items(), key=lambda kv: -kv[1]))
            row.profile = {k: round(v, 1) for k, v in sorted(profile.cpu_by_name().items(), key=lambda kv: -kv[1])}
            row.ready_s = done - started
            row.per_min = (n - row.timed_out) / row.ready_s * 60
            row.ctl_cpu = own_cpu(controller.pid) - ctl0
            row.cluster_cpu = own_cpu(cluster.pid) - cl0
            children, row.ctl_rss, _ = sampler.stop()
            row.tree_cpu = row.ctl_cpu + children
            print(f"  {mode} N={n}: {n - row.timed_out} Ready in {row.ready_s:.1f}s; controller CPU {row.ctl_cpu:.1f}s, "
                  f"tree CPU {row.tree_cpu:.1f}s {row.profile}, dev cluster CPU {row.cluster_cpu:.1f}s, "
                  f"RSS {row.ctl_rss / 2**20:.0f} MiB", flush=True)
            if row.timed_out:
                return row

            # the creation's queued work first (issue 21: at N=1,000 a backlog of follow-up reconciles ran after
            # the last Ready and, on a loaded machine, past a fixed settle, where it was counted as idle): every
            # work queue empty, no reconcile running, the reaper's trash empty; then the last status writes
            row.drain_s, row.drain_cpu = drain(controller, tmp / "work" / "trash", args.timeout)
            time.sleep(args.settle)
            ctl0, cl0 = own_cpu(controller.pid), own_cpu(cluster.pid)
            spawns = Spawns(controller.pid, cluster.pid)
            time.sleep(args.idle)
            row.idle_ctl_pct = (own_cpu(controller.pid) - ctl0) / args.idle * 100
            row.idle_cluster_pct = (own_cpu(cluster.pid) - cl0) / args.idle * 100
            spawned = spawns.stop()
            row.idle_terraform = spawned.get("terraform", 0)
            row.idle_spawned = " ".join(f"{k}:{v}" for k, v in sorted(spawned.items())) or "-"
            row.ctl_rss = max(row.ctl_rss, _rss(controller.pid))
            print(f"  {mode} N={n}: queues drained {row.drain_s:.1f}s after all Ready (controller CPU "
                  f"{row.drain_cpu:.1f}s meanwhile); idle controller {row.idle_ctl_pct:.2f}% of a core, dev cluster "
                  f"{row.idle_cluster_pct:.2f}%, spawned {row.idle_spawned}", flush=True)

            row.commit_s, row.replanned = commit(kube, watch, work, url, touched, args)
            print(f"  {mode} N={n}: the commit's object Ready {row.commit_s:.1f}s after the poll, "
                  f"{row.replanned} re-planned; controller RSS {row.ctl_rss / 2**20:.0f} MiB", flush=True)
        finally:
            if watch is not None:
                watch.stop()
            if controller is not None:
                controller.terminate()
                try:
                    controller.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    controller.kill()
                    controller.wait()
            cluster.terminate()
            cluster.wait(timeout=60)
            log_text = (tmp / "controller.log").read_text(errors="replace")
            row.tracebacks = log_text.count("Traceback (most recent call last)")
            if args.logs:
                Path(args.logs).mkdir(parents=True, exist_ok=True)
                (Path(args.logs) / f"controller-{mode}-{n}.log").write_text(log_text)
    return row


def drain(controller: subprocess.Popen[bytes], trash: Path, timeout: float) -> tuple[float, float]:
    """Wait until the controller has nothing queued or running (its /metrics: every work queue's depth and
    reconciles in flight 0, three reads in a row) and its reaper has removed everything handed to it (the
    trash directory empty); (seconds waited, the controller's CPU seconds meanwhile)."""
    args = [str(a) for a in controller.args]  # a list (start_controller)
    url = f"http://{args[args.index('--metrics-addr') + 1]}/metrics"
    start, cpu0, quiet = time.monotonic(), own_cpu(controller.pid), 0
    while quiet < 3 and time.monotonic() - start < timeout:
        busy = trash.is_dir() and any(trash.iterdir())
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                text = answer.read().decode()
            busy = busy or any(float(line.rsplit(" ", 1)[1]) > 0 for line in text.splitlines()
                               if line.startswith(("tfcontroller_workqueue_depth{", "tfcontroller_reconcile_in_flight{")))
        except OSError:
            busy = True
        quiet = 0 if busy else quiet + 1
        time.sleep(0.2)
    return time.monotonic() - start, own_cpu(controller.pid) - cpu0


def _rss(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[21]) * os.sysconf("SC_PAGE_SIZE") if fields is not None else 0


def commit(kube: KubeClient, watch: ReadyWatch, work: Path, url: str, solo: str,
           args: argparse.Namespace) -> tuple[float, int]:
    """(3): seconds from the artifact with the new revision to `solo` (the object of ./one) Ready with it;
    objects re-planned."""
    before_hist = histories(kube)
    old = artifact_revision(kube)
    touch_one(work, url)
    deadline = time.monotonic() + float(args.git_interval.rstrip("s")) * 3 + 60
    while (rev := artifact_revision(kube)) == old:  # the GitRepository polls on its own interval
        if time.monotonic() > deadline:
            raise SystemExit("the GitRepository did not see the commit")
        time.sleep(0.02)
    seen = time.monotonic()
    with watch.cond:
        watch.ready.pop(solo, None)
    while True:
        obj = kube.get(TERRAFORMS, solo, NAMESPACE)
        status = obj.get("status") or {}
        if status.get("lastAppliedRevision") == rev and solo in watch.ready:
            break
        if time.monotonic() > deadline + args.timeout:
            raise SystemExit(f"{solo} did not become Ready with the new revision")
        with watch.cond:
            watch.cond.wait(0.2)
    ready = max(watch.ready.get(solo, time.monotonic()), seen) - seen
    # every object records the new revision; then count the ones with a new history entry
    while any(r != rev for r in attempted(kube).values()):
        if time.monotonic() > deadline + args.timeout:
            break
        time.sleep(1.0)
    after_hist = histories(kube)
    return ready, sum(1 for k, v in after_hist.items() if before_hist.get(k) != v)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,500,1000")
    parser.add_argument("--modes", default="local", help="comma-separated: local,pod")
    parser.add_argument("--concurrent", type=int, default=4, help="the controller's --concurrent")
    parser.add_argument("--git-interval", default="20s", help="the GitRepository's interval")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of the idle measurement")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds between all Ready and idle")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--logs", help="copy the controllers' logs into this directory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = [measure(int(n), mode, args) for mode in args.modes.split(",") for n in args.sizes.split(",")]
    print_table(rows, args)
    return 0 if all(r.ok() for r in rows) else 1


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(f"\nmachine: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (after the run); "
          f"--concurrent {args.concurrent}, GitRepository interval {args.git_interval}, idle window {args.idle:.0f}s")
    print(f"{'mode':5} {'N':>5} {'Ready s':>8} {'obj/min':>8} {'ctl cpu s':>9} {'tree cpu s':>10} {'ctl rss':>8} "
          f"{'dev cpu s':>9} {'idle ctl':>9} {'idle dev':>9} {'idle tf':>7} {'commit s':>8} {'replans':>7} "
          f"{'tracebacks':>10}")
    for r in rows:
        print(f"{r.mode:5} {r.n:>5} {r.ready_s:>8.1f} {r.per_min:>8.0f} {r.ctl_cpu:>9.1f} {r.tree_cpu:>10.1f} "
              f"{r.ctl_rss / 2**20:>6.0f}Mi {r.cluster_cpu:>9.1f} {r.idle_ctl_pct:>8.2f}% {r.idle_cluster_pct:>8.2f}% "
              f"{r.idle_terraform:>7} {r.commit_s:>8.1f} {r.replanned:>7} {r.tracebacks:>10}")
    print(f"targets: >= {RATE_TARGET:.0f} obj/min at every N (1,000 in < {READY_1000_TARGET:.0f}s), controller RSS "
          f"< {RSS_TARGET // 2**20} MiB, idle < {IDLE_TARGET}% of a core with 0 terraform processes, the commit's "
          f"object Ready <= {COMMIT_TARGET:.0f}s after the poll, exactly 1 re-plan")
    for r in rows:
        print(f"  {r.mode} N={r.n}: {'MET' if r.ok() else 'MISSED'}  idle spawned: {r.idle_spawned}")
        top = ", ".join(f"{k} {v:.1f}s" for k, v in list(r.profile.items())[:6])
        print(f"    the tree's CPU by process while creating (per object: {(r.tree_cpu - r.ctl_cpu) / r.n:.2f}s): {top}")
        starts = ", ".join(f"{k} {v}" for k, v in list(r.starts.items())[:6])
        print(f"    processes started while creating (the runner is python, the sandbox bwrap): {starts}")
    print(json.dumps([r.__dict__ for r in rows]))


if __name__ == "__main__":
    sys.exit(main())
