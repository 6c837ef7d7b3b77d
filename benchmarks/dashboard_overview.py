"""Server time of the dashboard's overview page for 100 and 1,000 objects, and of a Terraform page with a
200-change plan (issue 17: "the overview of 1,000 objects renders in under 300 ms server time").

    .venv/bin/python benchmarks/dashboard_overview.py                       # N = 100, 1000; 15 runs each
    .venv/bin/python benchmarks/dashboard_overview.py --sizes 1000 --runs 30

Starts a development API server in a subprocess (its CPU is not the dashboard's), and fills namespaces
`bench-0`..`bench-9` with N objects in the mix 1 GitRepository : 2 Terraforms : 1 ManifestSet, each with a
status written directly (Ready True / pending plan / drifted / failing / suspended spread over them, as the
controller writes them; no controller runs). Then the dashboard app (`create_app`, local mode, as
`tfcontroller dashboard` builds it) answers `GET /` through Flask's test client, logged in as the
kubeconfig's user: every request reads the cluster afresh, as a viewer's request does. Prints, per N, the
median and p95 of the server time and their ratio to the 300 ms target; then the same for
`GET /terraform/<ns>/<name>` of a Terraform whose readable plan (tfplanview Secret) has 200 changes.
Exit code 0 when the overview of the largest N meets the target at the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # dev_cluster_process, beside this script
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dev_cluster_process import start_dev_cluster  # noqa: E402

from tfcontroller.kube.client import KubeClient  # noqa: E402
from tfcontroller.kube.errors import AlreadyExists  # noqa: E402
from tfcontroller.kube.resources import (  # noqa: E402
    CRDS,
    GITREPOSITORIES,
    MANIFESTSETS,
    NAMESPACES,
    TERRAFORMS,
    Resource,
)

TARGET_MS = 300.0
NAMESPACES_USED = 10
API = "tfcontroller.io/v1alpha1"
NOW = "2026-01-01T00:00:00Z"
SHA = "0123456789abcdef0123456789abcdef01234567"


def condition(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message or reason,
            "lastTransitionTime": NOW, "observedGeneration": 1}


def state_of(i: int) -> str:
    """The spread of states: most Ready, a few of each other kind (pending, drifted, failing, suspended)."""
    return {0: "pending", 1: "drifted", 2: "failing", 3: "suspended"}.get(i % 10, "ready")


def terraform_status(i: int, state: str) -> dict[str, Any]:
    revision = f"main@sha1:{SHA}"
    plan_id = f"plan-main-{SHA[:10]}-{i:08x}"
    conds = [condition("Ready", "True", "ApplySucceeded", f"Applied {revision}")]
    status: dict[str, Any] = {"observedGeneration": 1, "lastAppliedRevision": revision,
                              "lastAttemptedRevision": revision, "lastPlannedRevision": revision,
                              "lastAppliedPlan": plan_id, "availableOutputs": ["bucket_name", "queue_url"]}
    if state == "pending":
        conds = [condition("Ready", "False", "PlanPending", f"Plan {plan_id} waits for approval")]
        status["plan"] = {"pending": plan_id, "add": 1, "change": 2, "destroy": 0, "createdAt": NOW,
                          "isDrift": False, "isDestroy": False}
    elif state == "drifted":
        conds.append(condition("Drifted", "True", "DriftDetected", "2 resources drifted"))
        status["drift"] = {"lastCheckedAt": NOW, "lastDetectedAt": NOW,
                           "resources": [{"address": "aws_s3_bucket.this", "attributes": ["tags"]}]}
    elif state == "failing":
        conds = [condition("Ready", "False", "PlanFailed", "terraform plan failed: Error: invalid value")]
    status["conditions"] = conds
    return status


def simple_status(state: str, ready_reason: str, failed_reason: str) -> dict[str, Any]:
    ok = condition("Ready", "True", ready_reason)
    bad = condition("Ready", "False", failed_reason)
    return {"observedGeneration": 1, "conditions": [bad if state == "failing" else ok],
            "lastAppliedRevision": f"main@sha1:{SHA}"}


def create_with_status(kube: KubeClient, resource: Resource, obj: dict[str, Any], status: dict[str, Any]) -> None:
    meta = obj["metadata"]
    kube.create(resource, obj, meta["namespace"])
    kube.patch_status(resource, meta["name"], meta["namespace"], status)


def populate(kube: KubeClient, n: int, offset: int) -> None:
    """Objects number offset..n-1 (so that N=1000 adds to the first 100), spread over the namespaces."""
    for i in range(offset, n):
        ns, state, kind = f"bench-{i % NAMESPACES_USED}", state_of(i // 4), i % 4
        meta = {"name": f"obj-{i:05d}", "namespace": ns}
        spec_suspend = {"suspend": True} if state == "suspended" else {}
        if kind == 0:
            create_with_status(kube, GITREPOSITORIES, {
                "apiVersion": API, "kind": "GitRepository", "metadata": meta,
                "spec": {"url": "https://git.example.com/gitops.git", "ref": {"branch": "main"}, "interval": "1m",
                         **spec_suspend}},
                {**simple_status(state, "Succeeded", "GitOperationFailed"),
                 "artifact": {"revision": f"main@sha1:{SHA}", "digest": "sha256:" + "0" * 64, "path": "x",
                              "url": "http://x", "size": 1, "lastUpdateTime": NOW}})
        elif kind in (1, 2):
            create_with_status(kube, TERRAFORMS, {
                "apiVersion": API, "kind": "Terraform", "metadata": meta,
                "spec": {"sourceRef": {"kind": "GitRepository", "name": f"obj-{i - kind:05d}"}, "path": "./tf",
                         "interval": "10m", "approvePlan": "" if state == "pending" else "auto", **spec_suspend}},
                terraform_status(i, state))
        else:
            create_with_status(kube, MANIFESTSETS, {
                "apiVersion": API, "kind": "ManifestSet", "metadata": meta,
                "spec": {"sourceRef": {"kind": "GitRepository", "name": f"obj-{i - 3:05d}"}, "path": "./app",
                         "interval": "10m", "dependsOn": [{"kind": "Terraform", "name": f"obj-{i - 2:05d}"}],
                         **spec_suspend}},
                {**simple_status(state, "ReconciliationSucceeded", "HealthCheckFailed"),
                 "inventory": [{"id": f"{ns}_app-{i}_apps_Deployment", "version": "v1"}]})


def install(kube: KubeClient) -> None:
    import yaml

    for path in sorted((Path(__file__).resolve().parents[1] / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                try:
                    kube.create(CRDS, doc)
                except AlreadyExists:
                    pass
    for i in range(NAMESPACES_USED):
        kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{i}"}})
    deadline = time.monotonic() + 20
    while True:
        try:
            kube.list(TERRAFORMS, "bench-0")
            return
        except Exception:  # noqa: BLE001 - the CRD is not served yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    """Milliseconds of `runs` calls after one warm-up call."""
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


def row(label: str, samples: list[float]) -> str:
    med, top = statistics.median(samples), p95(samples)
    return f"{label:<44} {med:9.1f} {top:9.1f} {med / TARGET_MS:8.2f} {top / TARGET_MS:8.2f}"


def plan_view_with(changes: int, plan_id: str) -> dict[str, Any]:
    """A readable plan (the document of tfcontroller/terraform/plan_view.py) with `changes` updates of three
    attributes each."""
    return {"planId": plan_id, "revision": f"main@sha1:{SHA}", "createdAt": NOW, "isDrift": False,
            "isDestroy": False, "terraformVersion": "1.11.4",
            "counts": {"add": 0, "change": changes, "destroy": 0, "replace": 0},
            "changes": [{"address": f"aws_s3_bucket.b[{i}]", "type": "aws_s3_bucket", "action": "update",
                         "actions": ["update"], "actionReason": None,
                         "attributes": [{"path": "tags.env", "before": "dev", "after": "prod", "sensitive": False,
                                         "unknown": False},
                                        {"path": "tags.owner", "before": "(sensitive)", "after": "(sensitive)",
                                         "sensitive": True, "unknown": False},
                                        {"path": "arn", "before": f"arn:aws:s3:::b{i}",
                                         "after": "(known after apply)", "sensitive": False, "unknown": True}]}
                        for i in range(changes)],
            "drift": [], "outputs": [{"name": "bucket_arn", "action": "update", "sensitive": False,
                                      "before": "a", "after": "(known after apply)"}],
            "variables": ["region", "password"], "omitted": 0}


def big_plan_terraform(kube: KubeClient, changes: int) -> tuple[str, str]:
    """A pending Terraform `bench-0/big-plan` whose readable plan has `changes` changes."""
    from tfcontroller.terraform.plan_view_store import save_plan_view

    ns, name = "bench-0", "big-plan"
    plan_id = f"plan-main-{SHA[:10]}-bigplan0"
    obj = kube.create(TERRAFORMS, {
        "apiVersion": API, "kind": "Terraform", "metadata": {"name": name, "namespace": ns},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "obj-00000"}, "path": "./tf", "interval": "10m",
                 "approvePlan": ""}}, ns)
    status = terraform_status(0, "pending")
    status["plan"].update({"pending": plan_id, "add": 0, "change": changes})
    kube.patch_status(TERRAFORMS, name, ns, status)
    save_plan_view(kube, obj, "default", plan_id, plan_view_with(changes, plan_id))
    return ns, name


def dashboard_client(kubeconfig: str) -> Any:
    """A Flask test client of the dashboard in local mode (built as `tfcontroller dashboard` builds it),
    logged in through its one-time token as the kubeconfig's user."""
    import secrets

    from tfcontroller.dashboard.app import create_app
    from tfcontroller.dashboard.session import random_key
    from tfcontroller.dashboard.settings import LOCAL, DashboardSettings

    token = secrets.token_urlsafe(32)
    settings = DashboardSettings(mode=LOCAL, client=KubeClient.load(kubeconfig), secret_key=random_key(),
                                 login_token=token)
    client = create_app(settings).test_client()
    login = client.get(f"/?token={token}")
    if login.status_code != 303:
        raise SystemExit(f"could not log in to the dashboard: {login.status_code} {login.get_data(as_text=True)[:300]}")
    return client


def list_kinds(kube: KubeClient) -> None:
    for resource in (GITREPOSITORIES, TERRAFORMS, MANIFESTSETS):
        kube.list_all(resource, None)


def get_ok(client: Any, path: str) -> Callable[[], Any]:
    def fetch() -> Any:
        resp = client.get(path)
        if resp.status_code != 200:
            raise SystemExit(f"GET {path}: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        return resp

    return fetch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--plan-changes", type=int, default=200)
    args = parser.parse_args(argv)
    sizes = sorted(args.sizes)

    with tempfile.TemporaryDirectory(prefix="tfc-bench-") as tmp:
        cluster, kubeconfig = start_dev_cluster(Path(tmp))
        try:
            return measure(kubeconfig, sizes, args)
        finally:
            cluster.terminate()
            cluster.wait(10)


def measure(kubeconfig: str, sizes: list[int], args: argparse.Namespace) -> int:
    kube = KubeClient.load(kubeconfig)
    try:
        install(kube)
        client = dashboard_client(kubeconfig)
        print(f"{'page':<44} {'median ms':>9} {'p95 ms':>9} {'med/300':>8} {'p95/300':>8}")
        done, medians = 0, {}
        for n in sizes:
            start = time.monotonic()
            populate(kube, n, done)
            done = n
            fetch = get_ok(client, "/")
            rows = fetch().get_data(as_text=True).count('<tr class="object ')
            samples = timed(fetch, args.runs)
            medians[n] = statistics.median(samples)
            print(row(f"overview, {n} objects ({rows} rows)", samples)
                  + f"   (filled in {time.monotonic() - start:.0f}s)")
            # What of that is the API server's: the overview's three LISTs alone, with the same client.
            print(row(f"  of which the 3 LISTs, {n} objects", timed(lambda: list_kinds(kube), args.runs)))
            filtered = timed(get_ok(client, "/?namespace=bench-0&state=pending"), args.runs)
            print(row(f"overview, {n} objects, filtered", filtered))
        ns, name = big_plan_terraform(kube, args.plan_changes)
        page = get_ok(client, f"/terraform/{ns}/{name}")
        lines = page().get_data(as_text=True).count("diff-line")
        print(row(f"terraform page, {args.plan_changes}-change plan ({lines} lines)", timed(page, args.runs)))
    finally:
        kube.close()
    return 0 if medians[sizes[-1]] <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
