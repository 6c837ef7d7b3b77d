"""Bad input at volume (issue 21, slice F): objects of every kind generated from the CRD schemas and mutated
(tests/support/schema_fuzz.py, `hypothesis`), created on a dev cluster while `tfcontroller run` watches
them, in batches: each batch is created, every object the API server accepted must end with a Ready
condition (a CamelCase reason and a message), then the batch is deleted and must be gone (finalizers
released). After each batch the controller's RSS is read (/proc/PID/status VmRSS): with the store back to
empty, memory must stay flat across batches (last batch over the first at most 1.2x, or +20 MiB). The log
must hold no traceback.

Prints per batch: created, refused by the API server, settled, seconds to settle, RSS; then the Ready
reasons seen and MET/MISSED per target. Exit code 0 when every target is met. `make test` runs a short
version with a fixed seed (tests/integration/fuzz/test_fuzz_specs.py); malicious artifacts are
tests/integration/fuzz/test_malicious_artifacts.py. See benchmarks/README.md "fuzz.py".

    .venv/bin/python benchmarks/fuzz.py [--count 1000] [--batch 200] [--seed 2126] [--timeout 300]

`--terraform` fuzzes what reaches real Terraform runs instead (tests/support/schema_fuzz.runnable_spec: objects
on a real GitRepository whose fields that reach Terraform are mutated; the short version is
tests/integration/fuzz/test_fuzz_terraform.py): per batch also the objects that reached a Terraform run, the
objects in a retry loop (more than MAX_PLANNING plans while not Ready, or a plan while Stalled), a secret
value in the log, a status or an Event, and the work directory's peak size; then the Ready reasons with counts
and every TerraformFailed message (a failure the controller could have named before running: a target,
unless it names a connection or timeout problem).

    .venv/bin/python benchmarks/fuzz.py --terraform [--count 300] [--batch 60] [--seed 2126] [--examples]
                                        [--keep-log PATH]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmarks.dev_cluster_process import start_dev_cluster  # noqa: E402
from benchmarks.git_polling import install_crds  # noqa: E402
from tests.support import fuzz_runs  # noqa: E402
from tests.support.schema_fuzz import generate, generate_runnable  # noqa: E402
from tfcontroller.kube.client import KubeClient  # noqa: E402
from tfcontroller.kube.errors import ApiError  # noqa: E402

REASON = re.compile(r"^[A-Z][A-Za-z0-9]*$")
RSS_RATIO, RSS_SLACK = 1.2, 20 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss(pid: int) -> int:
    """Resident set size of one process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def start_controller(kubeconfig: str, tmp: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp / "controller.log"
    health = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfcontroller", "run", "--kubeconfig", kubeconfig, "--namespace", "default",
         "--runner", "local", "--retry-base", "0.5", "--retry-cap", "30",
         "--artifact-dir", str(tmp / "artifacts"), "--artifact-addr", f"127.0.0.1:{free_port()}",
         "--metrics-addr", f"127.0.0.1:{free_port()}", "--health-addr", f"127.0.0.1:{health}", *extra],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
    import requests

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"controller exited:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{health}/readyz", timeout=2).status_code == 200:
                return proc, log
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise SystemExit("controller not ready after 120 s")


def log_and_rss_targets(text: str, log: Path, rss_after: list[int]) -> list[str]:
    """Prints the targets both modes share (no traceback in the controller's log `text`, RSS flat across
    batches); the failures among them."""
    failures = []
    tracebacks = text.count("Traceback")
    print(f"  no traceback in the controller log: {tracebacks} — {'MET' if not tracebacks else 'MISSED'}")
    if tracebacks:
        failures.append(f"{tracebacks} tracebacks in {log}")
    first, last = rss_after[0], rss_after[-1]
    flat = last <= max(first * RSS_RATIO, first + RSS_SLACK)
    print(f"  RSS flat across batches: {first / 2**20:.1f} → {last / 2**20:.1f} MiB — "
          f"{'MET' if flat else 'MISSED'}")
    if not flat:
        failures.append("controller memory grew across batches")
    return failures


def stop(controller: subprocess.Popen[bytes] | None, cluster: subprocess.Popen[str]) -> None:
    """SIGTERM to the controller (SIGKILL after 30 s), then the dev cluster down."""
    if controller is not None and controller.poll() is None:
        controller.send_signal(signal.SIGTERM)
        try:
            controller.wait(timeout=30)
        except subprocess.TimeoutExpired:
            controller.kill()
    cluster.terminate()
    cluster.wait(timeout=30)


def verdict(failures: list[str], t0: float) -> int:
    """Prints every failure and the total time; the exit code."""
    for failure in failures:
        print(f"LOST: {failure}")
    print(f"total {time.monotonic() - t0:.0f} s")
    return 1 if failures else 0


def ready_of(kube: KubeClient, obj: dict[str, Any]) -> dict[str, Any] | None:
    current = kube.get_or_none(kube.resource_of(obj), obj["metadata"]["name"], "default") or {}
    return next((c for c in (current.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
                None)


def settled(ready: dict[str, Any] | None) -> bool:
    return ready is not None and bool(REASON.match(ready.get("reason") or "")) and bool(ready.get("message"))


def run_batch(kube: KubeClient, batch: list[dict[str, Any]], timeout: float) -> dict[str, Any]:
    """Create, wait until settled, delete, wait until gone; what happened, for the table."""
    accepted, refused = [], 0
    for obj in batch:
        try:
            accepted.append(kube.create(kube.resource_of(obj), obj, "default"))
        except ApiError as exc:
            if exc.status not in (400, 422):
                raise
            refused += 1
    start = time.monotonic()
    pending = list(accepted)
    reasons: collections.Counter[str] = collections.Counter()
    while pending and time.monotonic() - start < timeout:
        still = []
        for obj in pending:
            ready = ready_of(kube, obj)
            if settled(ready):
                assert ready is not None
                reasons[f"{obj['kind']}:{ready['status']}/{ready['reason']}"] += 1
            else:
                still.append(obj)
        pending = still
        if pending:
            time.sleep(0.5)
    settle_s = time.monotonic() - start
    for obj in accepted:
        try:
            kube.delete(kube.resource_of(obj), obj["metadata"]["name"], "default")
        except ApiError:
            pass
    gone_deadline = time.monotonic() + timeout
    left = list(accepted)
    while left and time.monotonic() < gone_deadline:
        left = [o for o in left if kube.get_or_none(kube.resource_of(o), o["metadata"]["name"], "default")]
        if left:
            time.sleep(0.5)
    return {"created": len(accepted), "refused": refused, "unsettled": [o["metadata"]["name"] for o in pending],
            "settle_s": settle_s, "not_deleted": [o["metadata"]["name"] for o in left], "reasons": reasons}


# ---------------------------------------------------------------- --terraform: fuzz that reaches real runs
MAX_PLANNING = 4  # plans/applies of an object that is not Ready: more is a retry loop (as in the test)
WORK_BOUND = 256 << 20  # the work directory's peak: the artifact bound (api.constants.ARTIFACT_MAX_BYTES)

def run_terraform_batch(kube: KubeClient, batch: list[dict[str, Any]], log: Path, timeout: float) -> dict[str, Any]:
    """Create, wait until every accepted object settled (fuzz_runs.outcome), watch a few backoffs for retry
    loops, check for leaked secrets, delete, wait until gone."""
    from tfcontroller.kube.resources import TERRAFORMS

    names, refused = [], 0
    for obj in batch:
        try:
            kube.create(TERRAFORMS, obj, "default")
            names.append(obj["metadata"]["name"])
        except ApiError as exc:
            if exc.status not in (400, 422):
                raise
            refused += 1
    start = time.monotonic()
    outcomes: dict[str, str | None] = dict.fromkeys(names)
    current: dict[str, dict[str, Any]] = {}
    while time.monotonic() - start < timeout:
        for name in names:
            current[name] = kube.get_or_none(TERRAFORMS, name, "default") or {}
            outcomes[name] = fuzz_runs.outcome(current[name])
        if all(outcomes.values()):
            break
        time.sleep(0.5)
    settle_s = time.monotonic() - start
    before = fuzz_runs.terraform_runs(log.read_text(errors="replace"))
    time.sleep(10)  # a window of several backoffs (--retry-cap 3): a retry loop shows as new plans in it
    text = log.read_text(errors="replace")
    runs = fuzz_runs.terraform_runs(text)
    looping = []
    for name in names:
        key, got = f"default/{name}", outcomes[name] or ""
        if got.startswith("True/"):
            continue
        stalled = (fuzz_runs.condition(current[name], "Stalled") or {}).get("status") == "True"
        planned = fuzz_runs.planning_runs(runs, key)
        if planned > MAX_PLANNING or (stalled and planned > fuzz_runs.planning_runs(before, key)):
            looping.append(f"{name} {got}: {dict(runs[key])}")
    failed = [f"{name}: {(fuzz_runs.condition(current[name], 'Ready') or {}).get('message', '')[:300]}"
              for name in names if outcomes[name] == "False/TerraformFailed"]
    failed = [line for line in failed if not fuzz_runs.TRANSIENT.search(line)]
    examples = {}
    for name in names:
        ready = fuzz_runs.condition(current[name], "Ready") or {}
        examples.setdefault(outcomes[name], f"{name}: {str(ready.get('message', ''))[:240]}")
    leaked = fuzz_runs.leaks(kube, text, names)
    for name in names:
        try:
            kube.delete(TERRAFORMS, name, "default")
        except ApiError:
            pass
    deadline, left = time.monotonic() + timeout, list(names)
    while left and time.monotonic() < deadline:
        left = [n for n in left if kube.get_or_none(TERRAFORMS, n, "default")]
        if left:
            time.sleep(0.5)
    return {"created": len(names), "refused": refused, "unsettled": [n for n in names if not outcomes[n]],
            "settle_s": settle_s, "not_deleted": left, "reasons": collections.Counter(o for o in outcomes.values() if o),
            "reached": sum(1 for n in names if runs.get(f"default/{n}")), "looping": looping, "leaked": leaked,
            "terraform_failed": failed, "examples": examples}


def main_terraform(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    objs = generate_runnable(args.count, args.seed)
    print(f"generated {len(objs)} runnable Terraform objects (seed {args.seed}) in {time.monotonic() - t0:.1f} s")
    failures: list[str] = []
    reasons: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}
    terraform_failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fuzz-tf-bench-") as tmp_name:
        tmp = Path(tmp_name)
        cluster, kubeconfig = start_dev_cluster(tmp)
        controller, sampler = None, fuzz_runs.PeakSampler(tmp / "work", interval=0.2)
        try:
            kube = KubeClient.load(kubeconfig)
            install_crds(kube)
            fuzz_runs.set_up(kube, fuzz_runs.module_repository(tmp / "git"))
            controller, log = start_controller(kubeconfig, tmp, "--terraform-work-dir", str(tmp / "work"),
                                               "--retry-cap", "3")
            deadline = time.monotonic() + 120
            while not fuzz_runs.source_ready(kube) and time.monotonic() < deadline:
                time.sleep(0.2)
            sampler.start()
            print(f"controller RSS at start: {rss(controller.pid) / 2**20:.1f} MiB")
            print(f"{'batch':>5} {'created':>7} {'refused':>7} {'reached tf':>10} {'unsettled':>9} {'looping':>7} "
                  f"{'leaks':>5} {'settle s':>8} {'undeleted':>9} {'RSS MiB':>8}")
            rss_after: list[int] = []
            for i in range(0, len(objs), args.batch):
                got = run_terraform_batch(kube, objs[i:i + args.batch], log, args.timeout)
                rss_after.append(rss(controller.pid))
                reasons.update(got["reasons"])
                terraform_failed += got["terraform_failed"]
                examples = {**got["examples"], **examples}
                print(f"{i // args.batch + 1:>5} {got['created']:>7} {got['refused']:>7} {got['reached']:>10} "
                      f"{len(got['unsettled']):>9} {len(got['looping']):>7} {len(got['leaked']):>5} "
                      f"{got['settle_s']:>8.1f} {len(got['not_deleted']):>9} {rss_after[-1] / 2**20:>8.1f}")
                for key, what in (("unsettled", "without a settled Ready condition"), ("looping", "in a retry loop"),
                                  ("leaked", "secret values leaked"), ("not_deleted", "not deleted")):
                    if got[key]:
                        failures.append(f"{what}: {got[key][:10]}")
            sampler.done.set()
            text = log.read_text(errors="replace")
            print("\nReady outcomes (status/reason × count):")
            for key, n in reasons.most_common():
                print(f"  {key:<45} {n}")
                if args.examples:
                    print(f"      e.g. {examples.get(key, '')}")
            if args.keep_log:
                Path(args.keep_log).write_text(text)
            if terraform_failed:
                print("\nTerraformFailed (could the controller have said it before running?):")
                for line in terraform_failed:
                    print(f"  {line}")
                failures.append(f"{len(terraform_failed)} TerraformFailed for what the input caused")
            print("\ntargets:")
            failures += log_and_rss_targets(text, log, rss_after)
            bounded = sampler.peak <= WORK_BOUND
            print(f"  work directory peak {sampler.peak / 2**20:.1f} MiB ≤ {WORK_BOUND >> 20} MiB — "
                  f"{'MET' if bounded else 'MISSED'}")
            if not bounded:
                failures.append("the work directory grew past its bound")
            print(f"  every accepted object settled, no retry loop, no leak, all deleted — "
                  f"{'MET' if not failures else 'see below'}")
        finally:
            sampler.done.set()
            stop(controller, cluster)
    return verdict(failures, t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=None, help="objects (default 1000; --terraform: 300)")
    parser.add_argument("--batch", type=int, default=None, help="objects per batch (default 200; --terraform: 60)")
    parser.add_argument("--seed", type=int, default=2126)
    parser.add_argument("--timeout", type=float, default=300.0, help="per batch: settling, then deletion")
    parser.add_argument("--terraform", action="store_true",
                        help="fuzz Terraform objects that reach real terraform runs (schema_fuzz.runnable_spec)")
    parser.add_argument("--examples", action="store_true", help="--terraform: one Ready message per reason")
    parser.add_argument("--keep-log", help="--terraform: copy the controller's log here")
    args = parser.parse_args()
    if args.terraform:
        args.count, args.batch = args.count or 300, args.batch or 60
        return main_terraform(args)
    args.count, args.batch = args.count or 1000, args.batch or 200
    t0 = time.monotonic()
    objs = generate(args.count, args.seed)
    print(f"generated {len(objs)} objects (seed {args.seed}) in {time.monotonic() - t0:.1f} s")
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fuzz-bench-") as tmp_name:
        tmp = Path(tmp_name)
        cluster, kubeconfig = start_dev_cluster(tmp)
        controller = None
        try:
            kube = KubeClient.load(kubeconfig)
            install_crds(kube)
            controller, log = start_controller(kubeconfig, tmp)
            rss_start = rss(controller.pid)
            print(f"controller RSS at start: {rss_start / 2**20:.1f} MiB")
            print(f"{'batch':>5} {'created':>7} {'refused':>7} {'unsettled':>9} {'settle s':>8} "
                  f"{'undeleted':>9} {'RSS MiB':>8}")
            rss_after: list[int] = []
            reasons: collections.Counter[str] = collections.Counter()
            for i in range(0, len(objs), args.batch):
                got = run_batch(kube, objs[i:i + args.batch], args.timeout)
                rss_after.append(rss(controller.pid))
                reasons.update(got["reasons"])
                print(f"{i // args.batch + 1:>5} {got['created']:>7} {got['refused']:>7} {len(got['unsettled']):>9} "
                      f"{got['settle_s']:>8.1f} {len(got['not_deleted']):>9} {rss_after[-1] / 2**20:>8.1f}")
                if got["unsettled"]:
                    failures.append(f"without a clear Ready condition: {got['unsettled'][:10]}")
                if got["not_deleted"]:
                    failures.append(f"not deleted: {got['not_deleted'][:10]}")
            text = log.read_text(errors="replace")
            print("\nReady outcomes (kind:status/reason × count):")
            for key, n in sorted(reasons.items()):
                print(f"  {key:<60} {n}")
            print("\ntargets:")
            failures += log_and_rss_targets(text, log, rss_after)
            print(f"  every accepted object settled and was deleted — {'MET' if not failures else 'see below'}")
        finally:
            stop(controller, cluster)
    return verdict(failures, t0)


if __name__ == "__main__":
    raise SystemExit(main())
