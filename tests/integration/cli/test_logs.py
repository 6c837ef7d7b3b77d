"""`tfcontroller logs` against the dev cluster and its node: runner Pods made here with the pod-mode
contract's labels, each running `sh -c` that prints lines and, where a test needs it to be still running
or still Pending, waits on a loopback HTTP server (tests/support/holds.py) — never a sleep.

Covered: the newest run by default, `--run`, `--all` with a header per Pod, `--tail`; `--follow` prints
lines as the runner writes them and returns when the Pod ends; a Pending Pod (an init container held) is
waited for; no Pod → where the output is instead; a wrong name or namespace → not found (exit 3); a
caller without `get pods/log` or `list pods` → an error naming the verb and resource.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Run, terraform
from tests.support.holds import Hold, HoldServer
from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.dev.cluster.kubeconfig import write_kubeconfig
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import PODS, SERVICEACCOUNTS, TERRAFORMS, Resource

ROLES = Resource("rbac.authorization.k8s.io/v1", "Role", "roles")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")


def runner_pod(name: str, run_id: str, script: str, *, operation: str = "plan", plan_id: str = "",
               terraform_name: str = "app", init_script: str | None = None) -> dict[str, Any]:
    """A Pod as pod mode makes one (labels, one container `runner`), running `sh -c script`."""
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [
        {"name": "runner", "image": "tfcontroller:dev", "command": ["sh", "-c", script]}]}
    if init_script is not None:
        spec["initContainers"] = [{"name": "wait", "image": "tfcontroller:dev", "command": ["sh", "-c", init_script]}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {
        "app.kubernetes.io/managed-by": "tfcontroller", "tfcontroller.io/terraform": terraform_name,
        "tfcontroller.io/run-id": run_id, "tfcontroller.io/plan-id": plan_id,
        "tfcontroller.io/operation": operation}}, "spec": spec}


def phase(kube: KubeClient, name: str) -> str:
    return str((kube.get(PODS, name, "default").get("status") or {}).get("phase") or "")


def finished(kube: KubeClient, *names: str) -> None:
    for name in names:
        wait_for(lambda name=name: phase(kube, name) == "Succeeded", timeout=60, what=f"pod {name} to succeed")


def next_second(kube: KubeClient, name: str) -> None:
    """Wait until the clock is past the second Pod `name` was created in: creation times have a second's
    resolution, and a test of "the newest run" needs its runs in distinct seconds."""
    created = str(kube.get(PODS, name, "default")["metadata"]["creationTimestamp"])
    wait_for(lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") > created, timeout=5,
             what="the next second")


@pytest.fixture
def app(kube: KubeClient) -> str:
    kube.create(TERRAFORMS, terraform("app"))
    return "app"


@pytest.fixture
def three_runs(kube: KubeClient, app: str) -> None:
    """Run `old` (one plan Pod), then run `new` (a plan Pod and an apply Pod), all finished."""
    kube.create(PODS, runner_pod("tfrun-old-1", "old", "echo old-plan-1; echo old-plan-2"), "default")
    finished(kube, "tfrun-old-1")
    next_second(kube, "tfrun-old-1")
    kube.create(PODS, runner_pod("tfrun-new-1", "new", "echo new-plan"), "default")
    kube.create(PODS, runner_pod("tfrun-new-2", "new", "echo new-apply-1; echo new-apply-2", operation="apply",
                                 plan_id="plan-main-1"), "default")
    kube.create(PODS, runner_pod("tfrun-other-1", "other", "echo not-mine", terraform_name="another"), "default")
    finished(kube, "tfrun-new-1", "tfrun-new-2", "tfrun-other-1")


def test_the_newest_run_by_default_with_a_header_per_pod(cli: Run, three_runs: None) -> None:
    got = cli("logs", "app")
    assert got.code == 0, got.err
    assert got.out.splitlines() == ["== run new (plan) pod tfrun-new-1 ==", "new-plan",
                                    "== run new (apply, plan plan-main-1) pod tfrun-new-2 ==",
                                    "new-apply-1", "new-apply-2"]


def test_run_picks_one_and_all_prints_every_run_oldest_first(cli: Run, three_runs: None) -> None:
    got = cli("logs", "app", "--run", "old")
    assert (got.code, got.out.splitlines()) == (0, ["old-plan-1", "old-plan-2"]), got.err  # one Pod: no header
    every = cli("logs", "app", "--all", "--tail", "1")
    assert every.code == 0, every.err
    assert every.out.splitlines() == ["== run old (plan) pod tfrun-old-1 ==", "old-plan-2",
                                      "== run new (plan) pod tfrun-new-1 ==", "new-plan",
                                      "== run new (apply, plan plan-main-1) pod tfrun-new-2 ==", "new-apply-2"]
    missing = cli("logs", "app", "--run", "nope")
    assert missing.code == 1 and "no runner Pod of run nope" in missing.err and "runs with Pods: old, new" in missing.err


class Follower:
    """`tfcontroller logs ... -f` as a user runs it (a process), its stdout and stderr read as they come."""

    def __init__(self, cluster: DevCluster, *argv: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tfcontroller", "logs", *argv, "--kubeconfig",
                                      str(cluster.kubeconfig)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=REPO_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.out: list[str] = []
        self.err: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
                        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True)]
        for t in self.threads:
            t.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def finish(self) -> int:
        code = self.proc.wait(timeout=120)
        for t in self.threads:
            t.join(timeout=10)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def hold() -> Iterator[Hold]:
    server = HoldServer()
    try:
        yield server.new()
    finally:
        server.close()


def held(hold: Hold) -> str:
    """Shell that says it holds, then waits until the test releases it (tests/support/holds.py)."""
    return f"curl -sf {hold.url}/started; until curl -sf {hold.url}/release; do sleep 0.2; done"


def test_follow_prints_lines_as_they_come_and_returns_when_the_pod_ends(
        dev_cluster: DevCluster, kube: KubeClient, app: str, hold: Hold) -> None:
    kube.create(PODS, runner_pod("tfrun-live-1", "live", f"echo first; {held(hold)}; echo second"),
                "default")
    follower = Follower(dev_cluster, "app", "-f")
    try:
        wait_for(hold.started, timeout=60, what="the runner to hold")
        wait_for(lambda: "first" in follower.out, timeout=60, what="the first line while the runner holds")
        assert follower.proc.poll() is None and "second" not in follower.out
        hold.release()
        assert follower.finish() == 0, follower.err
        assert follower.out == ["first", "second"]
        assert phase(kube, "tfrun-live-1") == "Succeeded"
    finally:
        follower.stop()


def test_follow_waits_for_a_pending_pod_to_start(dev_cluster: DevCluster, kube: KubeClient, app: str,
                                                hold: Hold) -> None:
    kube.create(PODS, runner_pod("tfrun-slow-1", "slow", "echo started-at-last", init_script=held(hold)),
                "default")
    wait_for(hold.started, timeout=60, what="the init container to hold the Pod in Pending")
    follower = Follower(dev_cluster, "app", "--follow")
    try:
        wait_for(lambda: any("waiting for its runner to start" in e for e in follower.err), timeout=60,
                 what="the note that the command waits")
        assert phase(kube, "tfrun-slow-1") == "Pending" and follower.out == [] and follower.proc.poll() is None
        hold.release()
        assert follower.finish() == 0, follower.err
        assert follower.out == ["started-at-last"]
    finally:
        follower.stop()


def test_a_pending_pod_without_follow_says_how_to_wait(cli: Run, kube: KubeClient, app: str, hold: Hold) -> None:
    kube.create(PODS, runner_pod("tfrun-p-1", "p", "echo x", init_script=held(hold)), "default")
    wait_for(hold.started, timeout=60, what="the init container to hold the Pod in Pending")
    got = cli("logs", "app")
    assert got.code == 1 and "waiting to start" in got.err and "--follow waits for it" in got.err, got


def test_no_runner_pods_says_where_the_output_is(cli: Run, app: str) -> None:
    got = cli("logs", "app")
    assert got.code == 1 and got.out == ""
    assert 'no runner Pod of terraform "app" in namespace "default"' in got.err
    assert "object=default/app" in got.err and "--keep-failed-runners" in got.err


def test_a_wrong_name_or_namespace_is_not_found(cli: Run, app: str) -> None:
    for argv, where in ((["logs", "nope"], 'Terraform "nope" not found in namespace "default"'),
                        (["logs", "app", "-n", "elsewhere"], 'Terraform "app" not found in namespace "elsewhere"')):
        got = cli(*argv)
        assert got.code == 3 and where in got.err, got


@pytest.mark.parametrize(("rules", "refused"), [
    ([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}], 'cannot get resource "pods/log"'),
    ([], 'cannot list resource "pods"'),
], ids=["without-pods-log", "without-list-pods"])
def test_an_rbac_refusal_names_the_verb_and_resource(cli: Run, dev_cluster: DevCluster, kube: KubeClient,
                                                    three_runs: None, tmp_path: Path, rules: list[dict[str, Any]],
                                                    refused: str) -> None:
    kube.create(SERVICEACCOUNTS, {"metadata": {"name": "viewer"}}, "default")
    kube.create(ROLES, {"metadata": {"name": "viewer"}, "rules": [
        {"apiGroups": ["tfcontroller.io"], "resources": ["terraforms"], "verbs": ["get"]}, *rules]}, "default")
    kube.create(ROLEBINDINGS, {"metadata": {"name": "viewer"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "viewer"},
        "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": "default"}]}, "default")
    token, _ = dev_cluster.tokens.issue("default", "viewer", expiration_seconds=600)
    config = tmp_path / "viewer.kubeconfig"
    write_kubeconfig(config, dev_cluster.url, token, dev_cluster.ca_pem)
    got = cli("logs", "app", "--kubeconfig", str(config), kubeconfig=False)
    assert got.code == 1 and "new-plan" not in got.out, got
    assert refused in got.err and "(Forbidden)" in got.err, got.err
    assert "needs `list` on pods and `get` on pods/log" in got.err
