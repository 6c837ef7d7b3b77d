"""Pod mode beside local mode (issue 15): the same `terraform_data` module, one dev cluster with its node,
two controllers (`tfcontroller run` subprocesses, one `--runner=local`, one `--runner=pod --max-runners 8`,
each watching a namespace of its own), measured side by side in one run.

(a) reconcile-to-Ready: a Terraform created (auto-approved) until the watch shows it Ready with its
    revision applied; objects created one at a time, modes interleaved (local, pod, local, …) so both
    meet the same load of a shared machine. Median per mode and the pod/local ratio (target <= 1.3).
(b) cost per run at concurrency 1, 4 and 8 (that many objects created at once): the controller's own
    CPU seconds (its process only, /proc/PID/stat utime+stime) and the whole process tree's (plus its
    descendants', sampled every 50 ms: in local mode the runner and Terraform run there), per run, and
    the peak RSS of the controller and of its tree. In pod mode the controller's own
    cost must stay flat as concurrency grows: Terraform runs in Pods (the dev node's processes).
(c) 50 objects created at once in pod mode with `--max-runners 8`: time until all are Ready, and the
    most runner Pods seen at once by a watch on Pods (target <= 8; a Pod counts from its ADDED event
    until its deletion starts — a deleting Pod no longer holds a slot — and the figure of Pods that
    still exist, deleting or not, is printed beside it).

Prints the figures with their targets and MET/MISSED; exit code 0 when every target is met. Not part of
`make test`; see benchmarks/README.md "runner_modes.py".

    .venv/bin/python benchmarks/runner_modes.py [--objects 7] [--fleet 50] [--max-runners 8]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmarks.dev_cluster_process import start_dev_cluster  # noqa: E402
from benchmarks.git_polling import git, install_crds  # noqa: E402
from tfcontroller.crypto.keys import ensure_keys  # noqa: E402
from tfcontroller.kube.client import KubeClient  # noqa: E402
from tfcontroller.kube.errors import AlreadyExists  # noqa: E402
from tfcontroller.kube.resources import GITREPOSITORIES, NAMESPACES, PODS, TERRAFORMS, Resource  # noqa: E402
from tfcontroller.runner.tenant import tenant_objects  # noqa: E402

MODULE = """
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
RATIO_TARGET = 1.3
FLAT_TARGET = 1.5  # pod mode: the controller's own CPU per run at concurrency 8 over concurrency 1
RUNNER_PODS = "app.kubernetes.io/managed-by=tfcontroller"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- /proc: the controller's own cost and its tree's ------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from the 3rd (state) on


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return kids
    for task in tasks:
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids


def descendants(pid: int) -> list[int]:
    out, todo = [], _children(pid)
    while todo:
        child = todo.pop()
        out.append(child)
        todo += _children(child)
    return out


def own_cpu(pid: int) -> float:
    """The process's own CPU seconds (utime + stime), its descendants' not included."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS if fields is not None else 0.0


def rss_bytes(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[21]) * PAGE if fields is not None else 0


class TreeSampler:
    """Peak RSS of a process and of its tree, and the CPU its descendants used, sampled every 50 ms while
    a batch runs. A descendant is known by (pid, start time); its CPU is the last value seen minus what
    it had used when the batch started (cutime of /proc is not used: a sandbox's PID-namespace init
    reaps Terraform, so it never reaches the controller's cutime). A process that lives under 50 ms is
    missed, and the last 50 ms of each one: Terraform's commands run for about a second."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.own_rss = self.tree_rss = 0
        self.base = self._descendants_cpu()
        self.last: dict[tuple[int, str], float] = dict(self.base)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _descendants_cpu(self) -> dict[tuple[int, str], float]:
        seen = {}
        for child in descendants(self.pid):
            fields = _stat(child)
            if fields is not None:
                seen[(child, fields[19])] = (int(fields[11]) + int(fields[12])) / TICKS  # key: pid, starttime
        return seen

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            own = rss_bytes(self.pid)
            tree = own + sum(rss_bytes(c) for c in descendants(self.pid))
            self.own_rss, self.tree_rss = max(self.own_rss, own), max(self.tree_rss, tree)
            self.last.update(self._descendants_cpu())

    def stop(self) -> tuple[float, int, int]:
        """(descendants' CPU seconds in the window, peak own RSS, peak tree RSS)."""
        self._stop.set()
        self._thread.join()
        cpu = sum(v - self.base.get(k, 0.0) for k, v in self.last.items())
        return cpu, self.own_rss, self.tree_rss


# ---- the cluster side ----------------------------------------------------------------------------------
def is_ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    ready = conds.get("Ready") or {}
    return bool(status.get("lastAppliedRevision")) and ready.get("status") == "True" \
        and (conds.get("Reconciling") or {}).get("status") != "True"


class _Watcher:
    """A watch of one resource in a namespace on a thread of its own, reopened until `stop()` (a watch
    times out, a connection drops); each event goes to `event`. A subclass sets its own state before
    calling this __init__, which starts the thread."""

    def __init__(self, kube: KubeClient, namespace: str, resource: Resource, label_selector: str | None = None) -> None:
        self.kube, self.namespace = kube, namespace
        self.resource, self.label_selector = resource, label_selector
        self.stopped = False
        self.stream: Any = None
        threading.Thread(target=self._run, daemon=True).start()

    def event(self, etype: str, obj: dict[str, Any]) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self.stopped:
            try:
                self.stream = self.kube.watch(self.resource, self.namespace, label_selector=self.label_selector,
                                              timeout_seconds=600)
                for etype, obj in self.stream:
                    self.event(etype, obj)
            except Exception:  # noqa: BLE001 - reopened unless stopped
                time.sleep(0.05)

    def stop(self) -> None:
        self.stopped = True
        if self.stream is not None:
            self.stream.close()


class ReadyWatch(_Watcher):
    """When each Terraform of a namespace was first seen Ready (a watch: no polling interval measured)."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.ready: dict[str, float] = {}
        self.cond = threading.Condition()
        super().__init__(kube, namespace, TERRAFORMS)

    def event(self, etype: str, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if name and is_ready(obj):
            with self.cond:
                self.ready.setdefault(name, time.monotonic())
                self.cond.notify_all()

    def wait(self, names: list[str], timeout: float) -> float:
        """The time the last of `names` became Ready."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(n in self.ready for n in names):
                if not self.cond.wait(max(0.01, deadline - time.monotonic())) and time.monotonic() > deadline:
                    missing = [n for n in names if n not in self.ready]
                    raise SystemExit(f"timed out: {len(missing)} of {len(names)} not Ready in {self.namespace} "
                                     f"({missing[:3]} …)")
            return max(self.ready[n] for n in names)


class PodCounter(_Watcher):
    """The most runner Pods at once, from a watch on Pods: `live` counts a Pod from its ADDED event until
    its deletion starts (deletionTimestamp) or it is gone; `existing` until it is gone."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.live: set[str] = set()
        self.existing: set[str] = set()
        self.max_live = self.max_existing = 0
        super().__init__(kube, namespace, PODS, RUNNER_PODS)

    def event(self, etype: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name"))
        if etype == "DELETED":
            self.live.discard(name)
            self.existing.discard(name)
        elif etype in ("ADDED", "MODIFIED"):
            self.existing.add(name)
            if meta.get("deletionTimestamp"):
                self.live.discard(name)
            else:
                self.live.add(name)
        self.max_live = max(self.max_live, len(self.live))
        self.max_existing = max(self.max_existing, len(self.existing))


@dataclass
class Mode:
    """One controller: its runner mode, namespace, process and Ready watch."""

    name: str
    namespace: str
    flags: list[str]
    proc: subprocess.Popen[bytes] | None = None
    watch: ReadyWatch | None = None
    created: int = 0
    times: list[float] = field(default_factory=list)

    def start(self, kubeconfig: str, tmp: Path, kube: KubeClient, url: str) -> None:
        setup_namespace(kube, self.namespace, url)
        log = (tmp / f"controller-{self.name}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tfcontroller", "run", "--kubeconfig", kubeconfig, "--namespace", self.namespace,
             "--controller-namespace", "default", "--concurrent", "16", "--retry-base", "0.5",
             "--artifact-dir", str(tmp / f"artifacts-{self.name}"), "--artifact-addr", f"127.0.0.1:{free_port()}",
             "--terraform-work-dir", str(tmp / f"work-{self.name}"),
             "--metrics-addr", f"127.0.0.1:{free_port()}", "--health-addr", f"127.0.0.1:{free_port()}", *self.flags],
            stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.watch = ReadyWatch(kube, self.namespace)

    def create(self, kube: KubeClient, count: int) -> list[str]:
        names = []
        for _ in range(count):
            self.created += 1
            name = f"stack-{self.created:03d}"
            kube.create(TERRAFORMS, {
                "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"sourceRef": {"kind": "GitRepository", "name": "infra"}, "path": "./tf",
                         "interval": "1h", "approvePlan": "auto"}}, self.namespace)
            names.append(name)
        return names

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.stop()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def setup_namespace(kube: KubeClient, namespace: str, url: str, interval: str = "1h") -> None:
    """The namespace, its runner RBAC (`tfcontroller tenant add`: both modes run as its ServiceAccount)
    and the GitRepository of the module, polled every `interval` (also used by scale.py and chaos.py)."""
    try:
        kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    except AlreadyExists:
        pass
    for obj in tenant_objects(namespace):
        try:
            kube.create(kube.resource_of(obj), obj, namespace)
        except AlreadyExists:
            pass
    kube.create(GITREPOSITORIES, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository",
        "metadata": {"name": "infra", "namespace": namespace},
        "spec": {"url": url, "ref": {"branch": "main"}, "interval": interval}}, namespace)


def module_repository(tmp: Path, modules: dict[str, str]) -> tuple[str, Path]:
    """A bare repository (its file:// URL) holding `modules` (directory → main.tf text) on `main`, and
    the working copy a benchmark commits to later (also used by scale.py and chaos.py)."""
    bare, work = tmp / "infra.git", tmp / "infra.work"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=tmp)
    git("init", "--quiet", "--initial-branch=main", str(work), cwd=tmp)
    for sub, text in modules.items():
        (work / sub).mkdir()
        (work / sub / "main.tf").write_text(text)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "modules", cwd=work)
    git("push", "--quiet", str(bare), "main:main", cwd=work)
    return bare.as_uri(), work


def make_remote(tmp: Path) -> str:
    return module_repository(tmp, {"tf": MODULE})[0]


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


# ---- the measurements ----------------------------------------------------------------------------------
def reconcile_to_ready(kube: KubeClient, modes: list[Mode], objects: int) -> dict[str, float]:
    """(a): one object at a time, modes interleaved; returns the median per mode."""
    for _ in range(objects):
        for mode in modes:
            assert mode.watch is not None
            started = time.monotonic()
            names = mode.create(kube, 1)
            mode.times.append(mode.watch.wait(names, 300) - started)
    return {m.name: statistics.median(m.times) for m in modes}


@dataclass
class Cost:
    concurrency: int
    wall: float
    own_cpu: float  # per run
    tree_cpu: float  # per run
    own_rss: int  # peak
    tree_rss: int  # peak


def cost(kube: KubeClient, mode: Mode, concurrency: int) -> Cost:
    """(b): `concurrency` objects at once; CPU per run and peak RSS of the controller and of its tree."""
    assert mode.proc is not None and mode.watch is not None
    time.sleep(1.0)  # let the previous batch's last status writes and Pod deletions settle
    own0 = own_cpu(mode.proc.pid)
    sampler = TreeSampler(mode.proc.pid)
    started = time.monotonic()
    names = mode.create(kube, concurrency)
    done = mode.watch.wait(names, 600)
    own = own_cpu(mode.proc.pid) - own0
    children, own_rss, tree_rss = sampler.stop()
    return Cost(concurrency, done - started, own / concurrency, (own + children) / concurrency, own_rss, tree_rss)


def fleet(kube: KubeClient, mode: Mode, count: int) -> tuple[float, int, int]:
    """(c): `count` objects at once; (seconds to all Ready, max live runner Pods, max existing)."""
    assert mode.watch is not None
    counter = PodCounter(kube, mode.namespace)
    time.sleep(0.5)  # the watch is open before the first Pod
    started = time.monotonic()
    names = mode.create(kube, count)
    done = mode.watch.wait(names, 1800)
    counter.stop()
    return done - started, counter.max_live, counter.max_existing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=7, help="(a): objects per mode, one at a time")
    parser.add_argument("--concurrency", default="1,4,8", help="(b): batch sizes")
    parser.add_argument("--fleet", type=int, default=50, help="(c): objects created at once in pod mode")
    parser.add_argument("--max-runners", type=int, default=8, help="(c): the pod controller's --max-runners")
    parser.add_argument("--logs", help="copy the controllers' logs into this directory (per-command seconds: "
                                       "'runner operation=… seconds=' / 'runner pod=… seconds=')")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    levels = [int(x) for x in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory(prefix="tfc-runbench-") as tmpdir:
        tmp = Path(tmpdir)
        cluster, kubeconfig = start_dev_cluster(tmp)  # with its node: runner Pods are its processes
        kube = KubeClient.load(kubeconfig)
        local = Mode("local", "bench-local", ["--runner", "local"])
        pod = Mode("pod", "bench-pod", ["--runner", "pod", "--run-api-listen", f"127.0.0.1:{free_port()}",
                                        "--max-runners", str(args.max_runners)])
        modes = [local, pod]
        try:
            install_crds(kube)
            ensure_keys(kube, "default")  # the RSA pair once, before anything is measured
            url = make_remote(tmp)
            for mode in modes:
                mode.start(kubeconfig, tmp, kube, url)
            for mode in modes:  # warm-up: the controller's first run (keys, terraform version, caches)
                assert mode.watch is not None
                mode.watch.wait(mode.create(kube, 1), 300)

            medians = reconcile_to_ready(kube, modes, args.objects)
            ratio = medians["pod"] / medians["local"]
            costs = {m.name: [cost(kube, m, n) for n in levels] for m in modes}
            for mode in modes:  # (c) alone on the machine, with a controller of its own
                mode.stop()
            fleet_ns = Mode("fleet", "bench-fleet", ["--runner", "pod", "--run-api-listen", f"127.0.0.1:{free_port()}",
                                                     "--max-runners", str(args.max_runners)])
            modes.append(fleet_ns)
            fleet_ns.start(kubeconfig, tmp, kube, url)
            assert fleet_ns.watch is not None
            fleet_ns.watch.wait(fleet_ns.create(kube, 1), 300)
            fleet_s, max_live, max_existing = fleet(kube, fleet_ns, args.fleet)
        finally:
            for mode in modes:
                mode.stop()
            cluster.terminate()
            cluster.wait(timeout=30)
            if args.logs:
                Path(args.logs).mkdir(parents=True, exist_ok=True)
                for log_file in tmp.glob("controller-*.log"):
                    shutil.copy(log_file, Path(args.logs) / log_file.name)

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (after the run)")
    print(f"\n(a) reconcile-to-Ready, {args.objects} objects per mode one at a time, modes interleaved")
    for m in (local, pod):
        print(f"  {m.name:5}  median {statistics.median(m.times):.2f}s  (runs: "
              f"{' '.join(f'{t:.2f}' for t in m.times)})")
    print(f"  pod/local ratio {ratio:.2f} (target <= {RATIO_TARGET}): {verdict(ratio <= RATIO_TARGET)}")
    print("\n(b) cost per run (CPU seconds per run; peak RSS MiB); 'own' = the controller's process, "
          "'tree' = with its descendants")
    print(f"  {'mode':5} {'conc':>4} {'wall s':>7} {'own cpu':>8} {'tree cpu':>9} {'own rss':>8} {'tree rss':>9}")
    for name, rows in costs.items():
        for c in rows:
            print(f"  {name:5} {c.concurrency:>4} {c.wall:>7.2f} {c.own_cpu:>8.3f} {c.tree_cpu:>9.3f} "
                  f"{c.own_rss / 2**20:>8.0f} {c.tree_rss / 2**20:>9.0f}")
    pod_rows = costs["pod"]
    flat = pod_rows[-1].own_cpu / pod_rows[0].own_cpu if pod_rows[0].own_cpu else float("inf")
    rss_growth = (pod_rows[-1].own_rss - pod_rows[0].own_rss) / 2**20
    print(f"  pod mode, the controller's own CPU per run at concurrency {levels[-1]} / at {levels[0]}: {flat:.2f} "
          f"(target <= {FLAT_TARGET}, flat): {verdict(flat <= FLAT_TARGET)}; its peak RSS grew {rss_growth:.0f} MiB")
    print(f"\n(c) {args.fleet} objects at once, pod mode, --max-runners {args.max_runners}")
    print(f"  all Ready in {fleet_s:.1f}s ({fleet_s / args.fleet:.2f}s per object); most runner Pods at once: "
          f"{max_live} holding a slot (target <= {args.max_runners}): {verdict(max_live <= args.max_runners)}; "
          f"{max_existing} existing, deleting ones included")
    ok = ratio <= RATIO_TARGET and flat <= FLAT_TARGET and max_live <= args.max_runners
    print(json.dumps({"ratio": round(ratio, 3), "local_s": round(medians["local"], 3), "pod_s": round(medians["pod"], 3),
                      "pod_own_cpu_flat": round(flat, 3), "fleet_s": round(fleet_s, 1), "max_live_pods": max_live,
                      "max_existing_pods": max_existing, "load": [round(x, 2) for x in load]}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
