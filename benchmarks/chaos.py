"""Chaos under real components (issue 21): inject a fault, then count what was lost.

Scenario `kills` (the default): K Terraform objects (auto-approved) whose module creates an S3 bucket
with a generated name (`bucket_prefix`) in the AWS emulator and then runs on for a while (a
`terraform_data` whose provisioner sleeps). A `tfcontroller run` controller (its own session, as a pod)
is SIGKILLed with its whole process group K times, each time 2-5 s after an apply of one of its objects
started (a `terraform apply` among its descendants, or in pod mode a running runner Pod labelled with the apply
operation), and restarted. A last
controller then brings everything to Ready. Lost is: an object not Ready, an object without exactly one
bucket in its state, a bucket of ours in the emulator that no state holds (orphaned: Terraform created
it, nobody manages it), a state lock still held. `--runner pod` runs the same against runner Pods on the
dev cluster's node, where a controller kill must not interrupt a run at all (no run is started twice).

Then, on the same objects: `git-down` (the remote gone for two polling intervals: the failure reported,
Ready with the same artifact within two intervals of its return, no Terraform touched) and
`cluster-restart` (a second batch; the dev cluster stopped during one of its applies and started again
from its state file; counted as kills counts). Each scenario prints what it injected and what was lost
and the script exits 1 when anything was.
See benchmarks/README.md "chaos.py".

    .venv/bin/python benchmarks/chaos.py [--objects 8] [--kills 8] [--runner local|pod] [--seed 21]
                                         [--scenarios kills,git-down,cluster-restart] [--interval 5]

The AWS emulator: `AWS_ENDPOINT_URL` when it answers, else LocalStack started by `localstack/up.sh` on a
free port (and stopped at the end).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import boto3  # noqa: E402
import requests  # noqa: E402

from benchmarks.dev_cluster_process import start_dev_cluster  # noqa: E402
from benchmarks.git_polling import install_crds  # noqa: E402
from benchmarks.runner_modes import descendants, free_port, module_repository, setup_namespace  # noqa: E402
from tfcontroller.api.constants import tfstate_lease_name, tfstate_secret_name  # noqa: E402
from tfcontroller.api.statenames import default_secret_suffix  # noqa: E402
from tfcontroller.crypto.keys import ensure_keys  # noqa: E402
from tfcontroller.kube.client import KubeClient  # noqa: E402
from tfcontroller.kube.resources import GITREPOSITORIES, PODS, TERRAFORMS  # noqa: E402
from tfcontroller.terraform.runner_pod import LABEL_OPERATION  # noqa: E402
from tfcontroller.terraform.state import STATE_KEY, read_lock, state_parts  # noqa: E402

NS = "chaos"
REGION = "us-east-1"
# One bucket with a generated name, then a resource that runs on: an apply killed in its first seconds
# is killed after the bucket exists and before the apply ends.
MODULE = """
variable "prefix" {
  type = string
}

variable "linger" {
  type    = number
  default = 8
}

resource "aws_s3_bucket" "this" {
  bucket_prefix = var.prefix
  force_destroy = true
}

resource "terraform_data" "linger" {
  input = aws_s3_bucket.this.id

  provisioner "local-exec" {
    command = "sleep ${var.linger}"
  }
}

output "bucket" {
  value = aws_s3_bucket.this.id
}
"""


# ---- the AWS emulator ----------------------------------------------------------------------------------
@dataclass
class Emulator:
    endpoint: str
    started_port: int | None = None  # set when this script started it (and must stop it)

    def s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="test", aws_secret_access_key="test")

    def buckets(self, prefix: str) -> list[str]:
        return sorted(b["Name"] for b in self.s3().list_buckets().get("Buckets", [])
                      if b["Name"].startswith(prefix))


def _answers(endpoint: str) -> bool:
    try:
        return requests.get(f"{endpoint}/_localstack/health", timeout=3).ok
    except requests.RequestException:
        return False


@contextmanager
def emulator() -> Iterator[Emulator]:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if endpoint and _answers(endpoint):
        yield Emulator(endpoint)
        return
    port = free_port()
    env = {**os.environ, "LOCALSTACK_PORT": str(port)}
    done = subprocess.run(["bash", str(ROOT / "localstack" / "up.sh")], env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the AWS emulator did not start:\n{done.stdout}{done.stderr}")
    try:
        yield Emulator(f"http://127.0.0.1:{port}", port)
    finally:
        subprocess.run(["bash", str(ROOT / "localstack" / "down.sh")], env=env, capture_output=True,
                       timeout=120, check=False)


# ---- the controller --------------------------------------------------------------------------------------
@dataclass
class Controller:
    """`tfcontroller run` in a session of its own, so that a kill takes its whole process group."""

    kubeconfig: str
    tmp: Path
    runner: str
    starts: int = 0
    proc: subprocess.Popen[bytes] | None = None
    run_api: str = field(default_factory=lambda: f"127.0.0.1:{free_port()}")

    def start(self) -> None:
        self.starts += 1
        log = (self.tmp / f"controller-{self.starts}.log").open("wb")
        flags = ["--runner", self.runner]
        if self.runner == "pod":
            flags += ["--run-api-listen", self.run_api]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tfcontroller", "run", "--kubeconfig", self.kubeconfig, "--namespace", NS,
             "--controller-namespace", "default", "--concurrent", "8", "--retry-base", "0.5",
             "--state-lock-retry", "2", "--artifact-dir", str(self.tmp / "artifacts"),
             "--artifact-addr", f"127.0.0.1:{free_port()}", "--terraform-work-dir", str(self.tmp / "work"),
             "--metrics-addr", f"127.0.0.1:{free_port()}", "--health-addr", f"127.0.0.1:{free_port()}", *flags],
            stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT), start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        log.close()

    def kill(self) -> None:
        """SIGKILL to the controller's whole process group, as when its pod dies."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.kill()

    def applies(self, kube: KubeClient) -> set[str]:
        """The applies of ours running now: `terraform apply` processes among the controller's descendants
        (local mode, by pid and start time), or running runner Pods of the apply operation (pod mode, by
        name)."""
        if self.runner == "pod":
            pods, _ = kube.list_all(PODS, NS, label_selector="app.kubernetes.io/managed-by=tfcontroller")
            return {str(p["metadata"]["name"]) for p in pods
                    if (p["metadata"].get("labels") or {}).get(LABEL_OPERATION) == "apply"
                    and (p.get("status") or {}).get("phase") == "Running"}
        assert self.proc is not None
        found = set()
        for pid in descendants(self.proc.pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
            except (OSError, IndexError):
                continue
            if argv and argv[0].endswith(b"terraform") and b"apply" in argv[1:3]:
                found.add(f"{pid}@{start}")
        return found

    def applying(self, kube: KubeClient, already: set[str] | None = None) -> set[str]:
        """The applies running now that are not in `already` (each kill meets an apply no earlier kill
        met: in pod mode a run goes on through kills, so the same Pod would be met again at once)."""
        return self.applies(kube) - (already or set())


# ---- the objects -------------------------------------------------------------------------------------------
def make_remote(tmp: Path) -> str:
    return module_repository(tmp, {"tf": MODULE})[0]


def create_objects(kube: KubeClient, count: int, prefix: str, endpoint: str, linger: int,
                   stem: str = "bucket") -> list[str]:
    names = []
    env = [{"name": "AWS_ENDPOINT_URL", "value": endpoint}, {"name": "AWS_ACCESS_KEY_ID", "value": "test"},
           {"name": "AWS_SECRET_ACCESS_KEY", "value": "test"}, {"name": "AWS_REGION", "value": REGION},
           {"name": "AWS_S3_USE_PATH_STYLE", "value": "true"}]
    for i in range(count):
        name = f"{stem}-{i:02d}"
        kube.create(TERRAFORMS, {
            "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "infra"}, "path": "./tf", "interval": "1h",
                     "retryInterval": "2s", "approvePlan": "auto", "env": env,
                     "vars": [{"name": "prefix", "value": f"{prefix}{name}-"}, {"name": "linger", "value": linger}]}},
            NS)
        names.append(name)
    return names


def state_buckets(kube: KubeClient, name: str) -> list[str] | None:
    """The bucket ids in the object's state; None when it has no state Secret."""
    parts = state_parts(kube, NS, tfstate_secret_name("default", default_secret_suffix(name)))
    if not parts:
        return None
    raw = b"".join(base64.b64decode((p.get("data") or {}).get(STATE_KEY) or "") for p in parts)
    if not raw:
        return []
    doc = json.loads(gzip.decompress(raw))
    return sorted(str(i.get("attributes", {}).get("id")) for r in doc.get("resources") or []
                  if r.get("type") == "aws_s3_bucket" for i in r.get("instances") or [])


def settled(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    return ((conds.get("Ready") or {}).get("status") == "True" and bool(status.get("lastAppliedRevision"))
            and (conds.get("Reconciling") or {}).get("status") != "True"
            and status.get("observedGeneration") == obj["metadata"].get("generation"))


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    print(f"  timed out after {timeout:.0f}s waiting for {what}")
    return False


# ---- scenario: kills ------------------------------------------------------------------------------------
@dataclass
class Outcome:
    name: str
    ready: bool
    in_state: list[str] | None
    in_emulator: list[str]
    lock: str
    interrupted: bool = False  # status.lastInterruptedApply: an apply was cut short (a loss in pod mode)
    pod_mode: bool = False

    @property
    def orphaned(self) -> list[str]:
        return [b for b in self.in_emulator if b not in (self.in_state or [])]

    @property
    def lost(self) -> bool:
        return not self.ready or len(self.in_state or []) != 1 or bool(self.orphaned) or bool(self.lock) or \
            (self.pod_mode and self.interrupted)


def kills(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    run_prefix = f"chaos-{uuid.uuid4().hex[:6]}-"
    with tempfile.TemporaryDirectory(prefix="tfc-chaos-") as tmpdir, emulator() as emu:
        tmp = Path(tmpdir)
        cluster_flags = ("--state-file", str(tmp / "cluster" / "state.json"), "--port", str(free_port()))
        (tmp / "cluster").mkdir()
        cluster, kubeconfig = start_dev_cluster(tmp, *cluster_flags)
        kube = KubeClient.load(kubeconfig)
        controller = Controller(kubeconfig, tmp, args.runner)
        injected: list[str] = []
        git_result: GitDown | None = None
        adopted_failed = 0
        restart_outcomes: list[Outcome] | None = None
        try:
            install_crds(kube)
            ensure_keys(kube, "default")
            setup_namespace(kube, NS, make_remote(tmp))
            controller.start()
            names = create_objects(kube, args.objects, run_prefix, emu.endpoint, args.linger)
            met: set[str] = set()
            for k in range(args.kills):
                if not wait_for(lambda: bool(controller.applying(kube, met)), 300, f"kill {k + 1}: an apply"):
                    break
                delay = rng.uniform(2.0, 5.0)
                time.sleep(delay)  # the injection point: 2-5 s into an apply
                met.update(controller.applies(kube))
                controller.kill()
                injected.append(f"kill {k + 1}: SIGKILL to the controller's process group {delay:.1f}s into an "
                                f"apply (buckets in the emulator: {len(emu.buckets(run_prefix))})")
                print(f"  {injected[-1]}", flush=True)
                controller.start()
            started = time.monotonic()
            wait_for(lambda: all(settled(o) for o in kube.list_all(TERRAFORMS, NS)[0]), args.timeout,
                     "every object Ready after the last kill")
            recovery = time.monotonic() - started
            outcomes = [outcome(kube, emu, run_prefix, n, args.runner == "pod") for n in names]
            adopted_failed = adopted_apply_failures(tmp)
            if "git-down" in args.scenarios:
                git_result = git_down(kube, tmp, emu, run_prefix, names, args.interval)
            if "cluster-restart" in args.scenarios:
                cluster, restart_outcomes = cluster_restart(kube, tmp, cluster, cluster_flags, controller, emu,
                                                            run_prefix, args)
        finally:
            controller.stop()
            cluster.terminate()
            cluster.wait(timeout=30)
            if args.logs:
                Path(args.logs).mkdir(parents=True, exist_ok=True)
                for log_file in tmp.glob("controller-*.log"):
                    (Path(args.logs) / log_file.name).write_bytes(log_file.read_bytes())
        cleanup(emu, run_prefix)
    code = report_kills(args, injected, outcomes, recovery)
    if args.runner == "pod":
        print(f"  adopted applies that failed after a kill (controller logs, AdoptedApplyFailed): {adopted_failed}")
        code |= 1 if adopted_failed else 0
    if git_result is not None:
        code |= report_git_down(git_result, args.interval)
    if restart_outcomes is not None:
        code |= report_outcomes("cluster-restart", restart_outcomes)
    return code


def outcome(kube: KubeClient, emu: Emulator, run_prefix: str, name: str, pod_mode: bool = False) -> Outcome:
    """What became of one object. In pod mode a controller kill must not interrupt a run at all, so an
    interrupted apply (`status.lastInterruptedApply`) counts as lost there; in local mode it is expected."""
    lock = read_lock(kube, NS, tfstate_lease_name("default", default_secret_suffix(name)))
    obj = kube.get(TERRAFORMS, name, NS)
    return Outcome(name, settled(obj), state_buckets(kube, name), emu.buckets(f"{run_prefix}{name}-"),
                   lock.id if lock else "", bool((obj.get("status") or {}).get("lastInterruptedApply")), pod_mode)


def adopted_apply_failures(tmp: Path) -> int:
    """Applies of runner Pods that a restarted controller adopted and that then failed (for example
    PlanFetchFailed): in pod mode a kill must not interrupt a run, and such a failure leaves no
    `lastInterruptedApply` in the status (the plan is made again), so the controllers' logs are counted."""
    return sum(log.read_text(errors="replace").count("reconcile failed (AdoptedApplyFailed")
               for log in tmp.glob("controller-*.log"))


def cleanup(emu: Emulator, prefix: str) -> None:
    s3 = emu.s3()
    for bucket in emu.buckets(prefix):
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=bucket)


def report_kills(args: argparse.Namespace, injected: list[str], outcomes: list[Outcome], recovery: float) -> int:
    print(f"\nkills, --runner {args.runner}: {args.objects} objects, {len(injected)} of {args.kills} kills injected, "
          f"seed {args.seed}; all settled {recovery:.1f}s after the last restart")
    code = report_outcomes("kills", outcomes)
    if len(injected) < args.kills:
        print("  fewer kills injected than asked")
        return 1
    return code


def report_outcomes(scenario: str, outcomes: list[Outcome]) -> int:
    print(f"  {'object':10} {'ready':5} {'in state':>8} {'in emulator':>11} {'orphaned':>8} {'interrupted':>11}  lock")
    for o in outcomes:
        print(f"  {o.name:10} {'yes' if o.ready else 'NO':5} {len(o.in_state or []):>8} {len(o.in_emulator):>11} "
              f"{len(o.orphaned):>8} {'yes' if o.interrupted else 'no':>11}  {o.lock or '-'}")
    total = sum(len(o.in_emulator) for o in outcomes)
    orphans = sum(len(o.orphaned) for o in outcomes)
    lost = [o.name for o in outcomes if o.lost]
    print(f"  buckets in the emulator {total} for {len(outcomes)} objects, orphaned {orphans}, "
          f"locks held {sum(bool(o.lock) for o in outcomes)}, not Ready {sum(not o.ready for o in outcomes)}")
    print(f"{scenario}: LOST: {', '.join(lost)}" if lost else f"{scenario}: NOTHING LOST")
    return 1 if lost else 0


# ---- scenario: cluster-restart ----------------------------------------------------------------------------
def cluster_restart(kube: KubeClient, tmp: Path, cluster: subprocess.Popen[str], flags: tuple[str, ...],
                    controller: Controller, emu: Emulator, run_prefix: str,
                    args: argparse.Namespace) -> tuple[subprocess.Popen[str], list[Outcome]]:
    """A second batch of objects; while one of their applies runs, the dev cluster is stopped (SIGTERM)
    and started again from its state file on the same port, the controller left running. Afterwards the
    batch is counted as the kills scenario counts (Ready, one bucket in state and emulator, no lock)."""
    names = create_objects(kube, max(2, args.objects // 2), run_prefix, emu.endpoint, args.linger, stem="restart")
    if wait_for(lambda: bool(controller.applying(kube)), 300, "cluster-restart: an apply"):
        time.sleep(2.0)
        cluster.terminate()
        cluster.wait(timeout=60)
        stopped = time.monotonic()
        cluster, _ = start_dev_cluster(tmp, *flags)
        print(f"  cluster-restart: dev cluster stopped during an apply and started again from its state file "
              f"({time.monotonic() - stopped:.1f}s down)", flush=True)
    wait_for(lambda: all(settled(kube.get(TERRAFORMS, n, NS)) for n in names), args.timeout,
             "cluster-restart: the batch Ready")
    return cluster, [outcome(kube, emu, run_prefix, n) for n in names]


# ---- scenario: git-down -------------------------------------------------------------------------------------
@dataclass
class GitDown:
    seen_failing: bool  # the GitRepository said so while its remote was gone
    recovered_after: float | None  # seconds from the remote's return to Ready with the same artifact
    terraforms_moved: list[str]  # objects whose applied revision, Ready or state changed


def _git_ready(kube: KubeClient) -> tuple[bool, str]:
    obj = kube.get(GITREPOSITORIES, "infra", NS)
    status = obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    return ready.get("status") == "True", str((status.get("artifact") or {}).get("revision") or "")


def _git_failing(kube: KubeClient) -> bool:
    """Whether the GitRepository says its fetch fails: Ready not True, or a true condition whose reason
    names a failure."""
    conditions = (kube.get(GITREPOSITORIES, "infra", NS).get("status") or {}).get("conditions") or []
    return any((c.get("type") == "Ready" and c.get("status") != "True") or
               (c.get("status") == "True" and str(c.get("reason") or "").endswith("Failed")) for c in conditions)


def git_down(kube: KubeClient, tmp: Path, emu: Emulator, run_prefix: str, names: list[str],
             interval: float) -> GitDown:
    """The git remote gone for two polling intervals (its bare repository moved away), then back: the
    GitRepository reports the failure, keeps its artifact, and is Ready again within two intervals of the
    remote's return; no Terraform re-plans, loses its state or its bucket."""
    before = {n: (outcome(kube, emu, run_prefix, n), kube.get(TERRAFORMS, n, NS)["status"].get("lastAppliedRevision"))
              for n in names}
    kube.patch(GITREPOSITORIES, "infra", {"spec": {"interval": f"{interval:g}s"}}, NS)
    _, revision = _git_ready(kube)
    bare, away = tmp / "infra.git", tmp / "infra.git.away"
    bare.rename(away)
    print(f"  git-down: remote {bare.name} moved away for {2 * interval:g}s (two intervals of {interval:g}s)",
          flush=True)
    deadline = time.monotonic() + 2 * interval
    seen_failing = False
    while time.monotonic() < deadline:
        seen_failing = seen_failing or _git_failing(kube)
        time.sleep(0.2)
    away.rename(bare)
    back = time.monotonic()
    recovered: float | None = None
    while time.monotonic() - back < 4 * interval:
        ready, now_revision = _git_ready(kube)
        if ready and now_revision == revision:
            recovered = time.monotonic() - back
            break
        time.sleep(0.2)
    moved = []
    for n in names:
        obj = kube.get(TERRAFORMS, n, NS)
        was, applied = before[n]
        now = outcome(kube, emu, run_prefix, n)
        if (now.in_state, now.in_emulator, now.ready) != (was.in_state, was.in_emulator, was.ready) or \
                obj["status"].get("lastAppliedRevision") != applied:
            moved.append(n)
    return GitDown(seen_failing, recovered, moved)


def report_git_down(result: GitDown, interval: float) -> int:
    ok = result.seen_failing and result.recovered_after is not None and \
        result.recovered_after <= 2 * interval and not result.terraforms_moved
    took = f"{result.recovered_after:.1f}s" if result.recovered_after is not None else "not within 4 intervals"
    print(f"\ngit-down: remote gone {2 * interval:g}s; failure reported: {'yes' if result.seen_failing else 'NO'}; "
          f"Ready with the same artifact {took} after its return (target <= {2 * interval:g}s); "
          f"Terraforms changed: {', '.join(result.terraforms_moved) or 'none'}")
    print("NOTHING LOST" if ok else "LOST (see above)")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="kills,git-down,cluster-restart",
                        help="comma-separated: kills (always run: it sets up the objects), git-down, "
                             "cluster-restart")
    parser.add_argument("--interval", type=float, default=5.0, help="git-down: the GitRepository's interval")
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--runner", choices=["local", "pod"], default="local")
    parser.add_argument("--linger", type=int, default=8, help="seconds the module runs on after its bucket")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for recovery")
    parser.add_argument("--logs", help="copy the controllers' logs into this directory")
    args = parser.parse_args()
    args.scenarios = set(args.scenarios.split(","))
    return kills(args)


if __name__ == "__main__":
    sys.exit(main())
