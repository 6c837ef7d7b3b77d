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
from its state file; counted as kills counts).

Then `smtp-down` (a real SMTP server on loopback stopped while drift mail is due, the controller killed
while the mail is pending, the server back on the same port two drift intervals later: exactly one drift
mail per object within two intervals of its return, the drift status right) and `aws-down` (a TCP
forwarder between Terraform and the emulator cut during applies for two retry intervals: every object
Ready within two retry delays of the return, one bucket each, no orphan, no lock, every apply outcome
mailed once by a NotificationRule). Each scenario prints what it injected and what was lost and the
script exits 1 when anything was. See benchmarks/README.md "chaos.py".

    .venv/bin/python benchmarks/chaos.py [--objects 8] [--kills 8] [--runner local|pod] [--seed 21]
                                         [--scenarios kills,git-down,cluster-restart,smtp-down,aws-down]
                                         [--interval 5] [--outage-interval 30]

The AWS emulator: `AWS_ENDPOINT_URL` when it answers, else LocalStack started by `localstack/up.sh` on a
free port (and stopped at the end).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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
from tests.fixtures.smtp import SMTPServer  # noqa: E402
from tfcontroller.api.constants import tfstate_lease_name, tfstate_secret_name  # noqa: E402
from tfcontroller.api.statenames import default_secret_suffix  # noqa: E402
from tfcontroller.crypto.keys import ensure_keys  # noqa: E402
from tfcontroller.kube.client import KubeClient  # noqa: E402
from tfcontroller.kube.resources import (  # noqa: E402
    GITREPOSITORIES,
    NOTIFICATIONPROVIDERS,
    NOTIFICATIONRULES,
    PODS,
    TERRAFORMS,
)
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
# smtp-down: a bucket whose tags a person then changes by hand (drift of `tags.env`).
DRIFT_MODULE = """
variable "prefix" {
  type = string
}

resource "aws_s3_bucket" "this" {
  bucket_prefix = var.prefix
  force_destroy = true
  tags = {
    env = "chaos"
  }
}
"""
MAIL_FROM = "tfcontroller@chaos.example.org"
DRIFT_TO = "drift@chaos.example.org"
APPLY_TO = "applies@chaos.example.org"


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
    extra: list[str] = field(default_factory=list)  # e.g. the --smtp-* flags of the mail scenarios

    def start(self) -> None:
        self.starts += 1
        log = (self.tmp / f"controller-{self.starts}.log").open("wb")
        flags = ["--runner", self.runner, *self.extra]
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
    return module_repository(tmp, {"tf": MODULE, "drift": DRIFT_MODULE})[0]


def aws_env(endpoint: str) -> list[dict[str, str]]:
    return [{"name": "AWS_ENDPOINT_URL", "value": endpoint}, {"name": "AWS_ACCESS_KEY_ID", "value": "test"},
            {"name": "AWS_SECRET_ACCESS_KEY", "value": "test"}, {"name": "AWS_REGION", "value": REGION},
            {"name": "AWS_S3_USE_PATH_STYLE", "value": "true"}]


def create_objects(kube: KubeClient, count: int, prefix: str, endpoint: str, linger: int,
                   stem: str = "bucket", retry_interval: str = "2s") -> list[str]:
    names = []
    for i in range(count):
        name = f"{stem}-{i:02d}"
        kube.create(TERRAFORMS, {
            "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "infra"}, "path": "./tf", "interval": "1h",
                     "retryInterval": retry_interval, "approvePlan": "auto", "env": aws_env(endpoint),
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


SCENARIOS = ("kills", "git-down", "cluster-restart", "smtp-down", "aws-down")
KILL_FAMILY = {"kills", "git-down", "cluster-restart"}  # scenarios on the objects the kills scenario sets up


def run(args: argparse.Namespace) -> int:
    """One dev cluster, AWS emulator, SMTP server and forwarder for every scenario asked for; each scenario
    reports on its own and the exit code is 1 when any lost something."""
    run_prefix = f"chaos-{uuid.uuid4().hex[:6]}-"
    with tempfile.TemporaryDirectory(prefix="tfc-chaos-") as tmpdir, emulator() as emu:
        tmp = Path(tmpdir)
        cluster_flags = ("--state-file", str(tmp / "cluster" / "state.json"), "--port", str(free_port()))
        (tmp / "cluster").mkdir()
        cluster, kubeconfig = start_dev_cluster(tmp, *cluster_flags)
        kube = KubeClient.load(kubeconfig)
        smtp = SMTPServer()
        smtp.start()
        forwarder = Forwarder(emu.endpoint)
        forwarder.start()
        controller = Controller(kubeconfig, tmp, args.runner, extra=[
            "--smtp-host", smtp.host, "--smtp-port", str(smtp.port), "--smtp-tls", "none",
            "--smtp-from", MAIL_FROM])
        reports: list[Callable[[], int]] = []
        try:
            install_crds(kube)
            ensure_keys(kube, "default")
            setup_namespace(kube, NS, make_remote(tmp))
            controller.start()
            if args.scenarios & KILL_FAMILY:
                cluster = kill_family(args, kube, tmp, cluster, cluster_flags, controller, emu, run_prefix, reports)
            if "smtp-down" in args.scenarios:
                mail = smtp_down(kube, controller, smtp, emu, run_prefix, args)
                reports.append(lambda: report_smtp_down(mail, args.outage_interval))
            if "aws-down" in args.scenarios:
                outage = aws_down(kube, controller, forwarder, emu, smtp, run_prefix, args)
                reports.append(lambda: report_aws_down(outage, args.outage_interval))
        finally:
            controller.stop()
            cluster.terminate()
            cluster.wait(timeout=30)
            smtp.stop()
            forwarder.cut()
            if args.logs:
                Path(args.logs).mkdir(parents=True, exist_ok=True)
                for log_file in tmp.glob("controller-*.log"):
                    (Path(args.logs) / log_file.name).write_bytes(log_file.read_bytes())
        cleanup(emu, run_prefix)
    code = 0
    for report in reports:
        code |= report()
    return code


def kill_family(args: argparse.Namespace, kube: KubeClient, tmp: Path, cluster: subprocess.Popen[str],
                cluster_flags: tuple[str, ...], controller: Controller, emu: Emulator, run_prefix: str,
                reports: list[Callable[[], int]]) -> subprocess.Popen[str]:
    """kills (K kills into applies of K objects), then git-down and cluster-restart on those objects;
    without `kills` in the scenarios the objects are created and brought to Ready without kills."""
    rng = random.Random(args.seed)
    kills_wanted = args.kills if "kills" in args.scenarios else 0
    names = create_objects(kube, args.objects, run_prefix, emu.endpoint, args.linger)
    injected: list[str] = []
    met: set[str] = set()
    for k in range(kills_wanted):
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
    wait_for(lambda: all(settled(kube.get(TERRAFORMS, n, NS)) for n in names), args.timeout,
             "every object Ready after the last kill")
    recovery = time.monotonic() - started
    outcomes = [outcome(kube, emu, run_prefix, n, args.runner == "pod") for n in names]
    adopted_failed = adopted_apply_failures(tmp)
    if "kills" in args.scenarios:
        def kills_report() -> int:
            code = report_kills(args, injected, outcomes, recovery)
            if args.runner == "pod":
                print(f"  adopted applies that failed after a kill (controller logs, AdoptedApplyFailed): "
                      f"{adopted_failed}")
                code |= 1 if adopted_failed else 0
            return code
        reports.append(kills_report)
    if "git-down" in args.scenarios:
        git_result = git_down(kube, tmp, emu, run_prefix, names, args.interval)
        reports.append(lambda: report_git_down(git_result, args.interval))
    if "cluster-restart" in args.scenarios:
        cluster, restart_outcomes = cluster_restart(kube, tmp, cluster, cluster_flags, controller, emu,
                                                    run_prefix, args)
        reports.append(lambda: report_outcomes("cluster-restart", restart_outcomes))
    return cluster


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


def report_outcomes(scenario: str, outcomes: list[Outcome], verdict: bool = True) -> int:
    print(f"  {'object':10} {'ready':5} {'in state':>8} {'in emulator':>11} {'orphaned':>8} {'interrupted':>11}  lock")
    for o in outcomes:
        print(f"  {o.name:10} {'yes' if o.ready else 'NO':5} {len(o.in_state or []):>8} {len(o.in_emulator):>11} "
              f"{len(o.orphaned):>8} {'yes' if o.interrupted else 'no':>11}  {o.lock or '-'}")
    total = sum(len(o.in_emulator) for o in outcomes)
    orphans = sum(len(o.orphaned) for o in outcomes)
    lost = [o.name for o in outcomes if o.lost]
    print(f"  buckets in the emulator {total} for {len(outcomes)} objects, orphaned {orphans}, "
          f"locks held {sum(bool(o.lock) for o in outcomes)}, not Ready {sum(not o.ready for o in outcomes)}")
    if verdict:
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


# ---- a TCP forwarder the script can cut -----------------------------------------------------------------
class Forwarder:
    """A TCP forwarder on a fixed loopback port to the AWS emulator, under the script's control.

    Why: host-mode LocalStack loses its buckets when it restarts, so the emulator itself cannot be taken
    down and brought back. Objects use this port as their endpoint instead; `cut()` closes the listener and
    every open connection (new connections are refused, open ones reset, as in a real outage) and
    `start()` listens again on the same port."""

    def __init__(self, endpoint: str) -> None:
        host_port = endpoint.split("://", 1)[-1].rstrip("/")
        host, _, port = host_port.rpartition(":")
        self.target = (host or "127.0.0.1", int(port or 80))
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="forwarder-accept").start()

    def cut(self) -> int:
        """Close the listener and every open connection (with a reset); returns how many were open."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._open = self._open, set()
        if listener is not None:
            _close(listener)
        for conn in conns:
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            _close(conn)
        return len(conns) // 2

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    _close(client)
                    _close(upstream)
                    return
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True, name="forwarder-pump").start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)
            _close(src)
            _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


# ---- mail, as the SMTP server received it ------------------------------------------------------------------
@dataclass(frozen=True)
class Mail:
    subject: str
    list_id: str
    kind: str  # X-Tfcontroller-Notification: drift, resolved, ApplyFailed, PlanApplied, ...
    fingerprint: str  # the drift or event fingerprint header
    plan_id: str  # the first plan id in the body ("" when none)
    at: float  # time.monotonic() when the script first saw it

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes two mails the same notification: the object, the kind, the fingerprint, the plan."""
        return (self.list_id, self.kind, self.fingerprint, self.plan_id)


_PLAN_ID = re.compile(r"\bplan-[a-z0-9-]+-[0-9a-f]{10}-[0-9a-f]{8}\b")


class MailLog:
    """Reads the SMTP server's messages into Mails, stamping each with when the script first saw it
    (the script looks often: `poll()` in its waits)."""

    def __init__(self, smtp: SMTPServer) -> None:
        self.smtp = smtp
        self.mails: list[Mail] = []

    def poll(self) -> list[Mail]:
        received = self.smtp.messages
        now = time.monotonic()
        for got in received[len(self.mails):]:
            msg = got.message
            texts = [str(p.get_content()) for p in msg.walk() if p.get_content_maintype() == "text"]
            plan = _PLAN_ID.search("\n".join(texts))
            fingerprint = _header(msg, "X-Tfcontroller-Drift-Fingerprint") or \
                _header(msg, "X-Tfcontroller-Event-Fingerprint")
            self.mails.append(Mail(_header(msg, "Subject"), _header(msg, "List-Id"),
                                   _header(msg, "X-Tfcontroller-Notification"), fingerprint,
                                   plan.group(0) if plan else "", now))
        return self.mails

    def about(self, name: str, kinds: set[str]) -> list[Mail]:
        return [m for m in self.poll() if f"<{name}.{NS}." in m.list_id and m.kind in kinds]


def read_mails_until(mails: MailLog, until: float) -> None:
    """Keep reading the mails that arrive (every 0.2 s) until `until`, a time.monotonic()."""
    while time.monotonic() < until:
        mails.poll()
        time.sleep(0.2)


def note(injected: list[str], scenario: str, what: str) -> None:
    """A fault injected: kept for the report and printed now."""
    injected.append(what)
    print(f"  {scenario}: {what}", flush=True)


def _header(msg: Any, name: str) -> str:
    """A header's value unfolded and stripped (a long one is folded onto a continuation line)."""
    return " ".join(str(msg.get(name) or "").split())


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(c.get("type")): c for c in (obj.get("status") or {}).get("conditions") or []}


# ---- scenario: smtp-down ------------------------------------------------------------------------------------
@dataclass
class MailOutcome:
    name: str
    drift_mails: list[Mail]
    other_mails: list[Mail]  # resolved mails and the like: none are expected
    status_problems: list[str]
    late: bool

    @property
    def lost(self) -> bool:
        return len(self.drift_mails) != 1 or bool(self.other_mails) or bool(self.status_problems) or self.late


@dataclass
class SmtpDown:
    injected: list[str]
    outcomes: list[MailOutcome]
    arrived_after: float | None  # seconds from the server's return to the last drift mail
    back: float  # the server's return, time.monotonic()
    killed: bool = False  # the controller was killed while the mails were pending


def smtp_down(kube: KubeClient, controller: Controller, smtp: SMTPServer, emu: Emulator, run_prefix: str,
              args: argparse.Namespace) -> SmtpDown:
    """Objects with drift detection every `--outage-interval` and a drift e-mail, applied and then in
    manual mode (drift leaves an approvable remediation plan). The SMTP server is stopped, the buckets'
    tags changed by hand; once every object recorded its drift and a failed mail attempt
    (`status.drift.pendingNotification`), the controller is SIGKILLed and restarted; the server comes
    back on the same port two intervals after it stopped. Counted at the server per object: drift mails
    by (object, kind, fingerprint, plan id), and how late after the server's return they arrived."""
    interval = args.outage_interval
    mails = MailLog(smtp)
    names = [f"drift-{i:02d}" for i in range(args.mail_objects)]
    for name in names:
        kube.create(TERRAFORMS, {
            "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform", "metadata": {"name": name, "namespace": NS},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "infra"}, "path": "./drift", "interval": "1h",
                     "retryInterval": "2s", "approvePlan": "auto", "env": aws_env(emu.endpoint),
                     "vars": [{"name": "prefix", "value": f"{run_prefix}{name}-"}],
                     "driftDetection": {"interval": f"{interval:g}s", "email": {"to": [DRIFT_TO]}}}}, NS)
    wait_for(lambda: all(settled(kube.get(TERRAFORMS, n, NS)) for n in names), args.timeout, "smtp-down: applied")
    for name in names:  # manual from now on: a drift waits for approval with its remediation plan
        kube.patch(TERRAFORMS, name, {"spec": {"approvePlan": ""}}, NS)
    wait_for(lambda: all(settled(kube.get(TERRAFORMS, n, NS)) for n in names), args.timeout, "smtp-down: manual")
    injected: list[str] = []
    smtp.stop()
    stopped = time.monotonic()
    s3 = emu.s3()
    for name in names:
        for bucket in emu.buckets(f"{run_prefix}{name}-"):
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "env", "Value": "changed-by-hand"}]})
    note(injected, "smtp-down", f"SMTP server stopped; tags of {len(names)} buckets changed by hand")

    def pending_failed(name: str) -> bool:
        drift = (kube.get(TERRAFORMS, name, NS).get("status") or {}).get("drift") or {}
        return bool(drift.get("fingerprint")) and bool((drift.get("pendingNotification") or {}).get("lastError"))

    killed = wait_for(lambda: all(pending_failed(n) for n in names), args.timeout,
                      "smtp-down: drift recorded and a mail attempt failed")
    if killed:
        controller.kill()
        controller.start()
        note(injected, "smtp-down", f"controller SIGKILLed and restarted with the drift mails pending "
                                    f"({time.monotonic() - stopped:.1f}s after the server stopped)")
    read_mails_until(mails, stopped + 2 * interval)
    smtp.start()
    back = time.monotonic()
    note(injected, "smtp-down", f"SMTP server started again on port {smtp.port} after {back - stopped:.1f}s down")
    patience = max(10 * interval, 300.0)
    wait_for(lambda: all(mails.about(n, {"drift"}) for n in names), patience, "smtp-down: a drift mail per object")
    read_mails_until(mails, time.monotonic() + 2 * interval)  # two more checks: a duplicate would show by then
    outcomes = []
    for name in names:
        drift_mails = mails.about(name, {"drift"})
        others = [m for m in mails.poll() if f"<{name}.{NS}." in m.list_id and m.kind != "drift"]
        late = any(m.at - back > 2 * interval for m in drift_mails[:1])
        outcomes.append(MailOutcome(name, drift_mails, others, drift_status_problems(kube.get(TERRAFORMS, name, NS),
                                                                                     drift_mails), late))
    arrived = [m.at - back for o in outcomes for m in o.drift_mails[:1]]
    return SmtpDown(injected, outcomes, max(arrived) if len(arrived) == len(names) else None, back, killed)


def drift_status_problems(obj: dict[str, Any], drift_mails: list[Mail]) -> list[str]:
    """What is wrong with the drift status of an object whose drift was mailed: the drift recorded and
    notified (its fingerprint both current and notified, nothing pending), Drifted=True, a remediation
    plan pending, and the mail naming that plan and that fingerprint."""
    status = obj.get("status") or {}
    drift = status.get("drift") or {}
    plan = status.get("plan") or {}
    problems = []
    if drift.get("resources") != ["aws_s3_bucket.this"]:
        problems.append(f"drift.resources {drift.get('resources')}")
    if not drift.get("fingerprint") or drift.get("notifiedFingerprint") != drift.get("fingerprint"):
        problems.append("drift not recorded as notified")
    if drift.get("pendingNotification"):
        problems.append(f"a notification still pending: {drift['pendingNotification']}")
    if (_conditions(obj).get("Drifted") or {}).get("status") != "True":
        problems.append("Drifted is not True")
    if not plan.get("pending") or not plan.get("isDrift"):
        problems.append("no remediation plan pending")
    for mail in drift_mails:
        if mail.fingerprint != drift.get("fingerprint") or mail.plan_id != plan.get("pending"):
            problems.append(f"mail names plan {mail.plan_id or '-'} and {mail.fingerprint[:19]}, status plan "
                            f"{plan.get('pending')} and {str(drift.get('fingerprint'))[:19]}")
    return problems


def report_smtp_down(result: SmtpDown, interval: float) -> int:
    print(f"\nsmtp-down: drift interval {interval:g}s, SMTP server down two intervals; "
          f"{'; '.join(result.injected)}")
    print(f"  {'object':10} {'drift mails':>11} {'other mails':>11} {'after return':>12}  status")
    for o in result.outcomes:
        after = f"{o.drift_mails[0].at - result.back:.1f}s" if o.drift_mails else "never"
        print(f"  {o.name:10} {len(o.drift_mails):>11} {len(o.other_mails):>11} {after:>12}  "
              f"{'; '.join(o.status_problems) or 'ok'}")
    lost = [o.name for o in result.outcomes if o.lost]
    if not result.killed:
        print("  the controller was not killed: no object recorded a failed mail attempt in time")
        lost.append("(kill not injected)")
    took = f"{result.arrived_after:.1f}s" if result.arrived_after is not None else "not all arrived"
    print(f"  last drift mail {took} after the server's return (target <= {2 * interval:g}s)")
    print(f"smtp-down: LOST: {', '.join(lost)}" if lost else "smtp-down: NOTHING LOST")
    return 1 if lost else 0


# ---- scenario: aws-down --------------------------------------------------------------------------------------
@dataclass
class Recovery:
    """One object after the forwarder's return: how long until Ready, and the interval it is held to."""

    name: str
    backoff: float  # the retry delay in effect at the return (the controller's last "retry in" before it)
    failures: int  # failed reconciles logged before the return
    ready_after: float | None  # seconds from the return to Ready (None: not Ready in --timeout)

    @property
    def late(self) -> bool:
        return self.ready_after is None or self.ready_after > 2 * self.backoff


@dataclass
class AwsDown:
    injected: list[str]
    outcomes: list[Outcome]
    recoveries: list[Recovery]
    failures_seen: int  # apply failures recorded in status.history during and after the cut
    mail_problems: list[str]


_RETRY_LOG = re.compile(r'^ts=(\S+) .*?object=(\S+) msg="reconcile failed \(.*; retry in ([0-9.]+)s"$')


def backoffs_before(tmp: Path, when: float) -> dict[str, tuple[float, int]]:
    """Per object (`ns/name`), from the controllers' logs: the retry delay the last failed reconcile before
    `when` (epoch seconds) scheduled, and how many failed before then."""
    found: dict[str, tuple[float, int]] = {}
    for log_file in sorted(tmp.glob("controller-*.log")):
        for line in log_file.read_text(errors="replace").splitlines():
            match = _RETRY_LOG.match(line)
            if not match:
                continue
            at = dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
            if at <= when:
                _, count = found.get(match.group(2), (0.0, 0))
                found[match.group(2)] = (float(match.group(3)), count + 1)
    return found


def aws_down(kube: KubeClient, controller: Controller, forwarder: Forwarder, emu: Emulator, smtp: SMTPServer,
             run_prefix: str, args: argparse.Namespace) -> AwsDown:
    """Objects (the kills module: a bucket, then a linger) whose endpoint is the forwarder, with a
    NotificationRule mailing ApplyFailed and PlanApplied; once their applies run and the first bucket
    exists the forwarder is cut for two intervals (`--outage-interval`, also the objects' retryInterval: the base of a failed
    apply's retry backoff), then restored. Counted as kills counts, plus: Ready within two intervals of
    the return, and every apply failure and success mailed exactly once."""
    interval = args.outage_interval
    mails = MailLog(smtp)
    kube.create(NOTIFICATIONPROVIDERS, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "NotificationProvider",
        "metadata": {"name": "apply-mail", "namespace": NS}, "spec": {"type": "smtp", "to": [APPLY_TO]}}, NS)
    kube.create(NOTIFICATIONRULES, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "NotificationRule",
        "metadata": {"name": "apply-outcomes", "namespace": NS},
        "spec": {"providerRefs": [{"name": "apply-mail"}], "eventTypes": ["ApplyFailed", "PlanApplied"],
                 "selector": {"kinds": ["Terraform"], "names": ["outage-*"]}}}, NS)
    names = create_objects(kube, args.outage_objects, run_prefix, forwarder.endpoint, args.linger, stem="outage",
                           retry_interval=f"{interval:g}s")
    injected: list[str] = []
    back = time.monotonic()
    batch = f"{run_prefix}outage-"
    if wait_for(lambda: bool(controller.applying(kube)), 600, "aws-down: an apply"):
        first_apply = time.monotonic()
        # The injection point: the first bucket of the batch exists, so that apply is reading back what it
        # created and the batch's other applies are creating theirs (or about to).
        wait_for(lambda: bool(emu.buckets(batch)), 120, "aws-down: the batch's first bucket")
        applying = len(controller.applies(kube))
        open_conns = forwarder.cut()
        cut = time.monotonic()
        note(injected, "aws-down", f"forwarder to the AWS emulator cut {cut - first_apply:.1f}s into the first "
                                   f"apply, once a bucket of the batch existed ({applying} applying, {open_conns} "
                                   f"connections reset, buckets in the emulator: {len(emu.buckets(batch))} of "
                                   f"{len(names)})")
        read_mails_until(mails, cut + 2 * interval)
        forwarder.start()
        back = time.monotonic()
        note(injected, "aws-down", f"forwarder restored on port {forwarder.port} after {back - cut:.1f}s")
    back_wall = time.time()
    ready_at: dict[str, float] = {}

    def all_ready() -> bool:
        for n in names:
            if n not in ready_at and settled(kube.get(TERRAFORMS, n, NS)):
                ready_at[n] = time.monotonic() - back
        return len(ready_at) == len(names)

    wait_for(all_ready, args.timeout, "aws-down: every object Ready")
    delays = backoffs_before(controller.tmp, back_wall)
    recoveries = [Recovery(n, max(interval, delays.get(f"{NS}/{n}", (0.0, 0))[0]),
                           delays.get(f"{NS}/{n}", (0.0, 0))[1], ready_at.get(n)) for n in names]
    outcomes = [outcome(kube, emu, run_prefix, n) for n in names]
    wait_for(lambda: not ((kube.get(NOTIFICATIONRULES, "apply-outcomes", NS).get("status") or {}).get("pendingCount")),
             max(120.0, 4 * interval), "aws-down: the rule's outbox empty")
    objs = {n: kube.get(TERRAFORMS, n, NS) for n in names}
    failures = sum(1 for o in objs.values() for h in (o.get("status") or {}).get("history") or []
                   if h.get("kind") == "apply" and h.get("outcome") in ("Failed", "Interrupted"))
    return AwsDown(injected, outcomes, recoveries, failures, apply_mail_problems(kube, mails, objs))


def apply_mail_problems(kube: KubeClient, mails: MailLog, objs: dict[str, dict[str, Any]]) -> list[str]:
    """A duplicated mail (the same object, type and fingerprint twice), an apply in status.history with
    no mail of its outcome, or anything still pending, undeliverable or expired in the rule's outbox."""
    problems = []
    rule = kube.get(NOTIFICATIONRULES, "apply-outcomes", NS).get("status") or {}
    for key in ("pendingCount", "undeliverable", "expired"):
        if rule.get(key):
            problems.append(f"rule {key} {rule[key]}")
    for name, obj in objs.items():
        got = mails.about(name, {"ApplyFailed", "PlanApplied"})
        keys = [m.key for m in got]
        dups = {k for k in keys if keys.count(k) > 1}
        if dups:
            problems.append(f"{name}: {len(dups)} mail(s) sent more than once")
        history = [h for h in (obj.get("status") or {}).get("history") or [] if h.get("kind") == "apply"]
        if any(h.get("outcome") == "Succeeded" for h in history) and not any(m.kind == "PlanApplied" for m in got):
            problems.append(f"{name}: its apply was not mailed")
        if any(h.get("outcome") in ("Failed", "Interrupted") and h.get("reason") != "PlanStale" for h in history) \
                and not any(m.kind == "ApplyFailed" for m in got):
            problems.append(f"{name}: its failed apply was not mailed")
    return problems


def report_aws_down(result: AwsDown, interval: float) -> int:
    print(f"\naws-down: retryInterval {interval:g}s, emulator unreachable two of them; {'; '.join(result.injected)}")
    code = report_outcomes("aws-down", result.outcomes, verdict=False)
    print(f"  {'object':10} {'failures':>8} {'backoff':>8} {'Ready after return':>18}  target (2 x backoff)")
    for r in result.recoveries:
        took = f"{r.ready_after:.1f}s" if r.ready_after is not None else "never"
        print(f"  {r.name:10} {r.failures:>8} {r.backoff:>7.1f}s {took:>18}  <= {2 * r.backoff:.1f}s"
              f"{'  LATE' if r.late else ''}")
    print(f"  apply failures in history {result.failures_seen}; notifications: "
          f"{'; '.join(result.mail_problems) or 'each apply outcome mailed once'}")
    lost = sorted({o.name for o in result.outcomes if o.lost} | {r.name for r in result.recoveries if r.late})
    if result.mail_problems:
        lost.append("notifications")
    print(f"aws-down: LOST: {', '.join(lost)}" if lost else "aws-down: NOTHING LOST")
    return 1 if lost or code else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, any of {', '.join(SCENARIOS)} (git-down and cluster-restart "
                             "run on the objects kills sets up; without kills those are brought to Ready "
                             "without kills)")
    parser.add_argument("--interval", type=float, default=5.0, help="git-down: the GitRepository's interval")
    parser.add_argument("--outage-interval", type=float, default=30.0,
                        help="smtp-down: the drift check interval; aws-down: the objects' retryInterval "
                             "(the base of a failed apply's retry backoff). Each outage lasts two of them")
    parser.add_argument("--mail-objects", type=int, default=2, help="smtp-down: objects with drift e-mail")
    parser.add_argument("--outage-objects", type=int, default=4, help="aws-down: objects applying at the cut")
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--runner", choices=["local", "pod"], default="local")
    parser.add_argument("--linger", type=int, default=8, help="seconds the module runs on after its bucket")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for recovery")
    parser.add_argument("--logs", help="copy the controllers' logs into this directory")
    args = parser.parse_args()
    args.scenarios = {x.strip() for x in args.scenarios.split(",") if x.strip()}
    unknown = args.scenarios - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(SCENARIOS)})")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
