"""Pod mode (`--runner=pod`, issue 15) against the dev cluster and its node: every Terraform command of the
controller runs in a runner Pod of the object's namespace, as that namespace's runner ServiceAccount.

- plan + apply to Ready, the runner Pods labelled and owned as the contract says, and removed after;
- a tenant escape: a module probing the controller's environment (other processes' /proc/*/environ), its
  kubeconfig, and namespace B's Secrets and state (read, list, create, patch, with the only credential it
  has, its Pod's) gets nothing; the probe's own answer is written with that same credential, so it is not
  blind;
- a runner whose Role may not read a `varsFrom` Secret fails with a condition naming it;
- a missing ServiceAccount is `RunnerPodRejected`, Stalled, naming `tfcontroller tenant add`;
- a runner Pod over its memory limit is `RunnerOOMKilled`, the lock released, and retried;
- a Pod of the namespace that is not the run's own cannot pose as the runner (the run API refuses it).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.polling import wait_for
from tests.support.terraform_helpers import NS, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.api.history import Approver, history_of
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.kube.resources import NAMESPACES, PODS, SECRETS, Resource
from tfcontroller.terraform import runner_pod as manifests

ROLES = Resource("rbac.authorization.k8s.io/v1", "Role", "roles")
MARK = "TFC_TEST_CONTROLLER_ENV"
OTHER_NS = "team-b"
OTHER_VALUE = "team-b-secret-value"

PROBE_TF = """
variable "greeting" { type = string }
variable "controller_kubeconfig" { type = string }
resource "terraform_data" "probe" {
  input = var.greeting
  provisioner "local-exec" {
    command = <<-EOT
      n=0; for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ 2>/dev/null | grep -q '^MARK=' && n=$((n+1)); done
      test -e '${var.controller_kubeconfig}' && k=visible || k=absent
      b=$(kubectl get secret other -n team-b -o jsonpath='{.data.secret}' 2>/dev/null | base64 -d)
      st=$(kubectl get secret tfstate-default-other -n team-b -o jsonpath='{.data.tfstate}' 2>/dev/null)
      ls=$(kubectl get secrets -n team-b -o name 2>/dev/null | wc -l)
      kubectl create secret generic planted -n team-b --from-literal=x=y >/dev/null 2>&1 && w=written || w=refused
      kubectl patch secret tfstate-default-other -n team-b -p '{"data":{"tfstate":"e30="}}' >/dev/null 2>&1 && p=written || p=refused
      printf '{"env": "%s", "kubeconfig": "%s", "team_b": "%s", "state_b": "%s", "list_b": "%s", "create_b": "%s", "patch_b": "%s"}' \
        "$n" "$k" "$b" "$st" "$ls" "$w" "$p" > "$HOME/probe.json"
      kubectl create configmap probe-result -n default --from-file=probe.json="$HOME/probe.json"
    EOT
  }
}
output "greeting" { value = terraform_data.probe.output }
""".replace("MARK", MARK)

SIMPLE_TF = """
variable "greeting" {
  type    = string
  default = "hello"
}
resource "terraform_data" "this" { input = var.greeting }
output "greeting" { value = terraform_data.this.output }
"""

CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")


@pytest.fixture
def pods(kube: KubeClient, dev_cluster: DevCluster, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode="pod")
    try:
        yield h
    finally:
        h.close()


def _runner_pods(kube: KubeClient, name: str) -> list[dict[str, Any]]:
    items, _ = kube.list_all(PODS, NS, label_selector=manifests.selector(name))
    return items


def _status(obj: dict[str, Any], type_: str) -> str:
    found = condition(obj, type_)
    return found.status if found is not None else ""


def _publish(h: Harness, git_file_remote: Any, files: dict[str, str]) -> None:
    remote = git_file_remote("infra")
    h.publish("src", remote.bare, remote.commit(files))


def test_plan_and_apply_in_runner_pods(pods: Harness, kube: KubeClient, git_file_remote: Any,
                                       caplog: pytest.LogCaptureFixture) -> None:
    _publish(pods, git_file_remote, {"tf/main.tf": SIMPLE_TF})
    pods.create("app", path="./tf", vars=[{"name": "greeting", "value": "bonjour"}],
                writeOutputsToSecret={"name": "app-outputs"})
    seen: dict[str, dict[str, Any]] = {}

    def watch_pods() -> None:
        for pod in _runner_pods(kube, "app"):
            seen[pod["metadata"]["name"]] = pod

    with caplog.at_level(logging.INFO, logger="tfcontroller.terraform.pod_runner"):
        obj = pods.reconcile_until("app", lambda o: (watch_pods(), ready_reason(o) == "True/ApplySucceeded")[1],
                                   timeout=180, what="apply in runner pods")
    runs = [r.getMessage().split()[1:3] for r in caplog.records if r.getMessage().startswith("runner pod=")]
    marker = runs[0][0].removeprefix("pod=tfrun-").rsplit("-", 1)[0]
    assert runs == [[f"pod=tfrun-{marker}-1", "operation=plan"], [f"pod=tfrun-{marker}-2", "operation=apply"]], runs
    assert (pods.secret("app-outputs") or {}).get("greeting") == "bonjour"
    assert obj["status"].get("runs") is None  # the run's record is gone with the run
    wait_for(lambda: _runner_pods(kube, "app") == [], timeout=30, what="runner pods removed")
    assert wait_for(lambda: not [s for s in kube.list_all(SECRETS, NS)[0]
                                 if s["metadata"]["name"].startswith(manifests.PREFIX)], timeout=30,
                    what="per-run secrets removed")
    for pod in seen.values():  # the contract of a runner Pod, as created
        labels = pod["metadata"]["labels"]
        assert labels[manifests.LABEL_TERRAFORM] == "app" and labels[manifests.LABEL_MANAGED_BY] == "tfcontroller"
        assert labels[manifests.LABEL_OPERATION] in ("plan", "apply")
        assert pod["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
        assert pod["spec"]["serviceAccountName"] == "tfcontroller-runner"


def test_tenant_escape_finds_nothing(pods: Harness, kube: KubeClient, dev_cluster: DevCluster,
                                     git_file_remote: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MARK, "1")  # the controller's (this process's) environment carries the mark
    if kube.get_or_none(NAMESPACES, OTHER_NS) is None:
        kube.create(NAMESPACES, {"metadata": {"name": OTHER_NS}})
    kube.create(SECRETS, {"metadata": {"name": "other"}, "stringData": {"secret": OTHER_VALUE}}, OTHER_NS)
    # namespace B's state (as Terraform's kubernetes backend stores it): not to be read nor written from A
    kube.create(SECRETS, {"metadata": {"name": "tfstate-default-other", "labels": {"tfstate": "true"}},
                          "stringData": {"tfstate": "team-b-state"}}, OTHER_NS)
    # the runner may write its probe's answer where the test reads it
    kube.patch(ROLES, "tfcontroller-runner", {"rules": [
        *kube.get(ROLES, "tfcontroller-runner", NS)["rules"],
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]}, NS)
    _publish(pods, git_file_remote, {"tf/main.tf": PROBE_TF})
    pods.create("probe", path="./tf", vars=[{"name": "greeting", "value": "hi"},
                                            {"name": "controller_kubeconfig", "value": dev_cluster.kubeconfig}])
    pods.reconcile_until("probe", lambda o: ready_reason(o) == "True/ApplySucceeded", timeout=180, what="probe")
    found = json.loads(kube.get(CONFIGMAPS, "probe-result", NS)["data"]["probe.json"])
    assert found == {"env": "0", "kubeconfig": "absent", "team_b": "", "state_b": "", "list_b": "0",
                     "create_b": "refused", "patch_b": "refused"}, found
    assert kube.get_or_none(SECRETS, "planted", OTHER_NS) is None
    assert os.path.exists(dev_cluster.kubeconfig)  # the probe is not blind: the file is there, outside the Pod


def test_varsfrom_secret_the_runner_may_not_read(pods: Harness, kube: KubeClient, git_file_remote: Any) -> None:
    kube.create(SECRETS, {"metadata": {"name": "greeting"}, "stringData": {"greeting": "x"}}, NS)
    role = kube.get(ROLES, "tfcontroller-runner", NS)
    narrowed = [dict(r, resourceNames=["tfstate-default-denied"]) if "secrets" in r["resources"] else r
                for r in role["rules"]]
    narrowed = [r if "secrets" not in r["resources"] else {**r, "verbs": ["get"]} for r in narrowed] + [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "create", "update", "patch"]}]
    kube.patch(ROLES, "tfcontroller-runner", {"rules": narrowed}, NS)
    _publish(pods, git_file_remote, {"tf/main.tf": SIMPLE_TF})
    pods.create("denied", path="./tf", varsFrom=[{"kind": "Secret", "name": "greeting"}])
    obj = pods.reconcile_until("denied", lambda o: ready_reason(o) == "False/VarsGenerationFailed", timeout=180,
                               what="VarsGenerationFailed")
    message = condition(obj, c.READY).message  # type: ignore[union-attr]
    assert "Secret default/greeting" in message and "tfcontroller-runner" in message


def test_missing_service_account_is_a_clear_condition(pods: Harness, kube: KubeClient, git_file_remote: Any) -> None:
    _publish(pods, git_file_remote, {"tf/main.tf": SIMPLE_TF})
    pods.create("nosa", path="./tf", runnerPod={"serviceAccountName": "nobody-here"})
    obj = pods.reconcile_until("nosa", lambda o: ready_reason(o) == "False/RunnerPodRejected", timeout=120,
                               what="RunnerPodRejected")
    message = condition(obj, c.READY).message  # type: ignore[union-attr]
    assert "default/nobody-here" in message and "tfcontroller tenant add default --apply" in message
    assert _status(obj, c.STALLED) == c.TRUE
    assert _runner_pods(kube, "nosa") == [] and obj["status"].get("lock") is None


@pytest.mark.parametrize("keep_failed", [False, True])
def test_oom_killed_runner_is_reported_and_retried(kube: KubeClient, dev_cluster: DevCluster, tmp_path: Path,
                                                   git_file_remote: Any, keep_failed: bool) -> None:
    """A runner Pod over its memory limit: RunnerOOMKilled naming the limit, retried (not Stalled), no lock;
    its per-run Secret (the request, sealed values) is deleted, the Pod too unless --keep-failed-runners."""
    pods = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode="pod", keep_failed_runners=keep_failed)
    try:
        _publish(pods, git_file_remote, {"tf/main.tf": SIMPLE_TF})
        pods.create("oom", path="./tf", runnerPod={"resources": {"limits": {"memory": "8Mi"}}})
        obj = pods.reconcile_until("oom", lambda o: ready_reason(o) == "False/RunnerOOMKilled", timeout=120,
                                   what="RunnerOOMKilled")
        message = condition(obj, c.READY).message  # type: ignore[union-attr]
        assert "spec.runnerPod.resources.limits.memory" in message
        assert _status(obj, c.STALLED) != c.TRUE  # retried with backoff
        assert obj["status"].get("lock") is None
        assert not [s for s in kube.list_all(SECRETS, NS)[0] if s["metadata"]["name"].startswith(manifests.PREFIX)]
        kept = _runner_pods(kube, "oom")
        assert (len(kept) == 1 and kept[0]["status"]["phase"] == "Failed") if keep_failed else kept == [], kept
        # raising the limit lets the retry succeed
        pods.patch("oom", {"spec": {"runnerPod": {"resources": {"limits": {"memory": "2Gi"}}}}})
        pods.reconcile_until("oom", lambda o: ready_reason(o) == "True/ApplySucceeded", timeout=180, what="apply")
    finally:
        pods.close()


def test_another_pod_cannot_pose_as_the_runner(pods: Harness, kube: KubeClient) -> None:
    """A Pod of the same namespace and ServiceAccount, with a token of the runner audience bound to
    itself, is refused when it claims a run that is not its own Pod's."""
    api = pods.reconciler.run_api()
    run_id = "0123456789abcdef"
    api.expect(run_id, namespace=NS, pod_name=manifests.run_object_name(run_id, 1))
    api.offer_plan(run_id, b"the plan")
    script = (
        "import json,os,ssl,sys,urllib.request,urllib.error\n"
        "ctx=ssl.create_default_context(cadata=os.environ['CA'])\n"
        "tok=open('/var/run/tfcontroller/token/token').read().strip()\n"
        "req=urllib.request.Request(os.environ['URL']+'/v1/runs/'+os.environ['RUN']+'/plan',"
        "headers={'Authorization':'Bearer '+tok})\n"
        "try:\n  r=urllib.request.urlopen(req,context=ctx,timeout=20); s=r.status\n"
        "except urllib.error.HTTPError as e: s=e.code\n"
        "open('/dev/termination-log','w').write(f'status {s}')\n")
    kube.create(PODS, {"metadata": {"name": "imposter", "labels": {manifests.LABEL_RUN_ID: run_id}},
                       "spec": {"restartPolicy": "Never", "serviceAccountName": "tfcontroller-runner",
                                "containers": [{"name": "c", "image": "tfcontroller:dev", "command": ["python3", "-c", script],
                                                "env": [{"name": "CA", "value": api.ca_pem},
                                                        {"name": "URL", "value": api.url},
                                                        {"name": "RUN", "value": run_id}],
                                                "volumeMounts": [{"name": "t", "mountPath": "/var/run/tfcontroller/token"}]}],
                                "volumes": [{"name": "t", "projected": {"sources": [{"serviceAccountToken": {
                                    "audience": manifests.RUNNER_AUDIENCE, "path": "token"}}]}}]}}, NS)
    pod = wait_for(lambda: (p := kube.get(PODS, "imposter", NS))["status"].get("phase") in ("Succeeded", "Failed")
                   and p, timeout=90, what="imposter pod to finish")
    [container] = pod["status"]["containerStatuses"]
    said = (container["state"].get("terminated") or {}).get("message", "")
    assert said == "status 403", pod["status"]
    assert api.delivered(run_id) is None
    # and with no token at all: 401
    try:
        urllib.request.urlopen(urllib.request.Request(f"{api.url}/v1/runs/{run_id}/plan"),
                               context=ssl.create_default_context(cadata=api.ca_pem), timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
    else:
        raise AssertionError("the run API answered without a token")
    try:
        kube.delete(PODS, "imposter", NS)
    except NotFound:
        pass


# The apply holds in its Pod until the test says so; each apply of `slow` leaves a ConfigMap behind, so the
# test counts applies from outside (the Pod reaches the API server, not the test's directory).
HOLD_TF = """
resource "terraform_data" "first" { input = "one" }
resource "terraform_data" "slow" {
  input = terraform_data.first.output
  provisioner "local-exec" {
    command = <<-EOT
      kubectl create configmap hold-started -n default --dry-run=client -o yaml | kubectl apply -f - >/dev/null
      until kubectl get configmap hold-release -n default >/dev/null 2>&1; do sleep 0.3; done
      kubectl create configmap "applied-$(date +%s%N)" -n default >/dev/null
    EOT
  }
}
output "first" { value = terraform_data.first.output }
"""


def _hold_tenant(kube: KubeClient) -> None:
    kube.patch(ROLES, "tfcontroller-runner", {"rules": [
        *kube.get(ROLES, "tfcontroller-runner", NS)["rules"],
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "patch", "list"]}]}, NS)


def _applied(kube: KubeClient) -> int:
    return len([m for m in kube.list_all(CONFIGMAPS, NS)[0] if m["metadata"]["name"].startswith("applied-")])


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "term", "undelivered"])
def test_controller_killed_during_apply_the_pod_finishes_and_is_adopted(
        kube: KubeClient, dev_cluster: DevCluster, tmp_path: Path, git_file_remote: Any, how: str) -> None:
    """kill -9 (or a graceful stop: a rolling update) of the controller during an apply: the run completes
    in its Pod, the restarted controller receives and records its result, nothing is applied twice, no
    lock is left. `undelivered`: kill -9, and the runner gives up delivering before any controller listens
    again (TFCONTROLLER_RUN_DELIVERY_SECONDS); the next controller reads the outcome from the Pod's
    termination message and records it, outputs from the state."""
    from tests.support.terraform_helpers import kill_controller, start_controller_process

    listen = f"127.0.0.1:{_free_port()}"  # the same address for both: a Service's, in a real cluster
    h = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode="pod", run_api_listen=listen)
    try:
        _hold_tenant(kube)
        _publish(h, git_file_remote, {"tf/main.tf": HOLD_TF})
        patience = {"runnerPod": {"env": [{"name": "TFCONTROLLER_RUN_DELIVERY_SECONDS", "value": "1"}]}} \
            if how == "undelivered" else {}
        h.create("app", path="./tf", writeOutputsToSecret={"name": "app-outputs"}, **patience)
        proc = start_controller_process(h.kubeconfig, tmp_path / "proc-work", runner_mode="pod",
                                        run_api_listen=listen)
        try:
            wait_for(lambda: kube.get_or_none(CONFIGMAPS, "hold-started", NS) or proc.poll() is not None, 120,
                     "the apply to start in its Pod")
            run = h.get("app")["status"]["runs"][-1]
            assert run["operation"] == "apply" and run["pod"].startswith("tfrun-") and run["podUID"]
        finally:
            if how == "term":
                os.killpg(proc.pid, signal.SIGTERM)
                assert proc.wait(60) == 0
            if proc.poll() is None:
                kill_controller(proc, [])
        pod = kube.get(PODS, run["pod"], NS)
        assert pod["status"]["phase"] == "Running"  # the controller's death does not stop the run
        kube.create(CONFIGMAPS, {"metadata": {"name": "hold-release"}}, NS)
        if how == "undelivered":  # the runner ends before any controller listens: only its summary is left
            ended = wait_for(lambda: (p := kube.get(PODS, run["pod"], NS))["status"].get("phase") in
                             ("Succeeded", "Failed") and p, timeout=120, what="the runner pod to end undelivered")
            [container] = ended["status"]["containerStatuses"]
            said = container["state"]["terminated"].get("message", "")
            assert "outcome=succeeded" in said and "delivered=false" in said, said
        obj = h.reconcile_until("app", lambda o: ready_reason(o).startswith("True/")
                                and o["status"].get("lastAppliedPlan") == run["plan"], timeout=180,
                                what="the adopted apply recorded")
        assert _applied(kube) == 1  # applied once, by the Pod the first controller started
        assert "runs" not in obj["status"] and obj["status"].get("lock") is None
        adopted = [e for e in h.events("app") if e["reason"] == "ApplySucceeded" and run["pod"] in e["message"]]
        assert adopted
        assert ("termination message" in adopted[0]["message"]) == (how == "undelivered"), adopted
        assert not [e for e in h.events("app") if e["reason"] == "ApplyInterrupted"]
        # history (issue 17): the plan, stored by the killed controller's apply checkpoint, and the adopted
        # apply, once, under the run's id
        runs = [(e.kind, e.outcome, e.plan_id) for e in history_of(obj["status"]) if e.run_id == run["marker"]]
        assert runs == [("apply", "Succeeded", run["plan"]), ("plan", "Succeeded", run["plan"])], runs
        newest = history_of(obj["status"])[0]
        assert newest.approved_by == Approver(via="auto") and newest.add == 2  # the plan's counts
        assert sorted(r["name"] for r in h.state("app")["resources"]) == ["first", "slow"]
        assert obj["status"].get("lastAppliedResourceCount") == 2  # the state-loss guard's count, as step_apply's
        h.reconcile_until("app", lambda o: c.is_true(o["status"].get("conditions", []), c.OUTPUTS_WRITTEN),
                          timeout=60, what="outputs written")
        assert h.secret("app-outputs") == {"first": "one"}
        wait_for(lambda: _runner_pods(kube, "app") == [], timeout=60, what="runner pods removed")
    finally:
        h.close()


HOLD_FAIL_TF = HOLD_TF.replace(
    '      kubectl create configmap "applied-',
    '      if kubectl get configmap hold-fail -n default >/dev/null 2>&1; then exit 3; fi\n'
    '      kubectl create configmap "applied-')


@pytest.mark.slow
def test_an_undelivered_failed_apply_is_reported_from_the_termination_message_and_planned_again(
        kube: KubeClient, dev_cluster: DevCluster, tmp_path: Path, git_file_remote: Any) -> None:
    """kill -9 of the controller during an apply that then fails, its result delivered to nobody: the next
    controller reads the failure from the Pod's termination message — Ready=False with the runner's reason —,
    drops that plan (never applied again) and plans again; the new plan is applied once."""
    from tests.support.terraform_helpers import kill_controller, start_controller_process

    listen = f"127.0.0.1:{_free_port()}"
    h = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode="pod", run_api_listen=listen)
    try:
        _hold_tenant(kube)
        _publish(h, git_file_remote, {"tf/main.tf": HOLD_FAIL_TF})
        h.create("app", path="./tf",
                 runnerPod={"env": [{"name": "TFCONTROLLER_RUN_DELIVERY_SECONDS", "value": "1"}]})
        proc = start_controller_process(h.kubeconfig, tmp_path / "proc-work", runner_mode="pod",
                                        run_api_listen=listen)
        try:
            wait_for(lambda: kube.get_or_none(CONFIGMAPS, "hold-started", NS) or proc.poll() is not None, 120,
                     "the apply to start in its Pod")
            run = h.get("app")["status"]["runs"][-1]
            assert run["operation"] == "apply" and run["plan"]
        finally:
            kill_controller(proc, [])
        kube.create(CONFIGMAPS, {"metadata": {"name": "hold-fail"}}, NS)
        kube.create(CONFIGMAPS, {"metadata": {"name": "hold-release"}}, NS)
        ended = wait_for(lambda: (p := kube.get(PODS, run["pod"], NS))["status"].get("phase") in
                         ("Succeeded", "Failed") and p, timeout=120, what="the runner pod to end undelivered")
        said = ended["status"]["containerStatuses"][0]["state"]["terminated"].get("message", "")
        assert "outcome=failed" in said and "delivered=false" in said, said
        reason = next(w.split("=", 1)[1] for w in said.split() if w.startswith("reason="))

        obj = h.reconcile("app")
        assert ready_reason(obj) == f"False/{reason}", obj["status"]
        assert obj["status"]["plan"].get("pending", "") == "" and obj["status"].get("lastAppliedPlan") != run["plan"]
        failed = [e for e in h.events("app") if e["reason"] == reason and "termination message" in e["message"]]
        assert failed and run["plan"] in failed[0]["message"], h.events("app")
        adopted = [(e.kind, e.outcome, e.reason) for e in history_of(obj["status"]) if e.run_id == run["marker"]]
        assert adopted[0] == ("apply", "Failed", reason), adopted  # issue 17: the adopted failure's entry

        kube.delete(CONFIGMAPS, "hold-fail", NS)
        obj = h.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", timeout=240,
                                what="a new plan applied")
        assert obj["status"]["lastAppliedPlan"] != run["plan"]  # the failed plan was never applied again
        assert _applied(kube) == 1
        assert "runs" not in obj["status"] and obj["status"].get("lock") is None
        assert not [e for e in h.events("app") if e["reason"] == "ApplyInterrupted"]
    finally:
        h.close()


@pytest.mark.slow
def test_runner_killed_during_apply_lock_released_and_replanned(pods: Harness, kube: KubeClient,
                                                                git_file_remote: Any) -> None:
    """kill -9 of the runner (its Pod deleted with grace 0) during an apply: RunnerFailed, the lock it
    held released by the dead-run rule, the plan never applied again as is: planned again and applied."""
    import threading

    _hold_tenant(kube)
    _publish(pods, git_file_remote, {"tf/main.tf": HOLD_TF})
    pods.create("app", path="./tf")
    box: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: box.setdefault("obj", pods.reconcile("app")), daemon=True)
    worker.start()
    wait_for(lambda: kube.get_or_none(CONFIGMAPS, "hold-started", NS), 120, "the apply to start in its Pod")
    run = pods.get("app")["status"]["runs"][-1]
    assert run["operation"] == "apply"
    kube.request("DELETE", f"/api/v1/namespaces/{NS}/pods/{run['pod']}", body={"gracePeriodSeconds": 0})
    worker.join(120)
    assert ready_reason(box["obj"]) == "False/RunnerFailed", box["obj"]["status"]
    assert box["obj"]["status"]["runs"][-1]["marker"] == run["marker"]  # kept: its lock may be left
    kube.create(CONFIGMAPS, {"metadata": {"name": "hold-release"}}, NS)
    obj = pods.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", timeout=240,
                               what="applied after the runner was killed")
    assert _applied(kube) == 1  # the killed apply never reached it; the new plan's apply did, once
    assert "runs" not in obj["status"] and obj["status"].get("lock") is None
    assert sorted(r["name"] for r in pods.state("app")["resources"]) == ["first", "slow"]
    reasons = [e["reason"] for e in pods.events("app")]
    assert "ApplyInterrupted" in reasons and "StateLockReleased" in reasons, reasons


@pytest.mark.slow
def test_max_runners_caps_runner_pods_and_says_so(kube: KubeClient, dev_cluster: DevCluster, tmp_path: Path,
                                                   git_file_remote: Any) -> None:
    """--max-runners 1: while one object's apply holds the only runner slot, another object's run waits,
    saying so in its Ready message, and never has a Pod; both finish once the slot frees."""
    import threading

    h = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode="pod", max_runners=1)
    try:
        _hold_tenant(kube)
        _publish(h, git_file_remote, {"tf/main.tf": HOLD_TF})
        h.create("first", path="./tf")
        h.create("second", path="./tf")
        threads = [threading.Thread(target=h.reconcile, args=("first",), daemon=True)]
        threads[0].start()
        wait_for(lambda: kube.get_or_none(CONFIGMAPS, "hold-started", NS), 120, "the first apply to hold")
        threads.append(threading.Thread(target=h.reconcile, args=("second",), daemon=True))
        threads[1].start()
        waiting = wait_for(lambda: "--max-runners 1" in (_message(h.get("second")) or ""), 60,
                           "the second run to say it waits for a slot")
        assert waiting and _runner_pods(kube, "second") == [] and len(_runner_pods(kube, "first")) == 1
        kube.create(CONFIGMAPS, {"metadata": {"name": "hold-release"}}, NS)
        for thread in threads:
            thread.join(180)
        for name in ("first", "second"):
            h.reconcile_until(name, lambda o: ready_reason(o) == "True/ApplySucceeded", timeout=180, what=name)
    finally:
        h.close()


def _message(obj: dict[str, Any]) -> str | None:
    found = condition(obj, c.READY)
    return found.message if found is not None else None


@pytest.mark.parametrize("other_mode", ["inprocess"])
def test_a_plan_made_in_another_mode_is_planned_again_not_retried(
        kube: KubeClient, dev_cluster: DevCluster, tmp_path: Path, git_file_remote: Any, other_mode: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """Switching a controller to pod mode while a plan made in another mode is pending and approved: the
    run ends applied, by runner Pods, without a failure loop (a saved plan records how Terraform reached
    the state — here a kubeconfig file a Pod does not have; plan_store refuses such a plan to a controller
    whose runs reach the state another way: tests/integration/terraform/test_plan_store_backend.py)."""
    before = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode=other_mode)
    try:
        _publish(before, git_file_remote, {"tf/main.tf": SIMPLE_TF})
        before.create("app", path="./tf")  # applied in that mode: a state exists
        before.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", timeout=120, what="apply")
        before.patch("app", {"spec": {"approvePlan": "", "vars": [{"name": "greeting", "value": "changed"}]}})
        old = before.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", timeout=120,
                                     what="a plan made in-process")["status"]["plan"]["pending"]
    finally:
        before.close()
    after = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode="pod")  # the same artifacts, served
    try:
        from tfcontroller.kube.resources import GITREPOSITORIES

        artifact = kube.get(GITREPOSITORIES, "src", NS)["status"]["artifact"]
        after.publish_artifact("src", {**artifact, "url": after.store.url_for(artifact["path"])}, "file:///src")
        after.annotate("app", "tfcontroller.io/approve-plan", old)
        with caplog.at_level(logging.INFO, logger="tfcontroller.terraform.pod_runner"):
            obj = after.reconcile("app")
        # planned again in a Pod (the same content: the same plan id, so the approval holds), then applied
        assert ready_reason(obj) == "True/ApplySucceeded", obj["status"]
        runs = [r.getMessage().split()[2] for r in caplog.records if r.getMessage().startswith("runner pod=")]
        assert runs == ["operation=plan", "operation=apply"], runs
        assert not obj["status"].get("failures"), obj["status"]
    finally:
        after.close()


DESTROY_MARK_TF = """
resource "terraform_data" "this" {
  input = "kept until destroyed"
  provisioner "local-exec" {
    when    = destroy
    command = "kubectl create configmap destroyed-in-pod -n default --from-literal=by=$(hostname)"
  }
}
"""


def test_destroy_on_deletion_after_the_git_repository_is_gone(pods: Harness, kube: KubeClient,
                                                             git_file_remote: Any) -> None:
    """The GitRepository is deleted and its artifact server no longer has the artifact: a deletion with
    destroyResourcesOnDeletion still destroys in a runner Pod, with the controller's cached copy served on
    the run API to that run only (the runner checks its digest), then removes the state and the finalizer."""
    from tfcontroller.kube.resources import GITREPOSITORIES, TERRAFORMS

    _hold_tenant(kube)  # the module's destroy provisioner writes a ConfigMap as the runner
    if kube.get_or_none(CONFIGMAPS, "destroyed-in-pod", NS) is not None:
        kube.delete(CONFIGMAPS, "destroyed-in-pod", NS)
    _publish(pods, git_file_remote, {"tf/main.tf": DESTROY_MARK_TF})
    pods.create("gone", path="./tf", destroyResourcesOnDeletion=True)
    pods.reconcile_until("gone", lambda o: ready_reason(o) == "True/ApplySucceeded", timeout=180, what="applied")
    assert [r["type"] for r in pods.state("gone")["resources"]] == ["terraform_data"]

    kube.delete(GITREPOSITORIES, "src", NS)
    assert pods.artifact_server is not None
    pods.artifact_server.stop()  # nothing left to download from: only the controller's cache has it
    pods.artifact_server = None
    kube.delete(TERRAFORMS, "gone", NS)
    wait_for(lambda: (pods.reconcile("gone"), kube.get_or_none(TERRAFORMS, "gone", NS) is None)[1], timeout=180,
             what="destroyed and finalizer removed", interval=0.2)
    assert kube.get_or_none(CONFIGMAPS, "destroyed-in-pod", NS) is not None  # the destroy ran, in a Pod
    assert pods.state("gone") is None
    assert "DestroySucceeded" in {e["reason"] for e in pods.events("gone")}
    wait_for(lambda: _runner_pods(kube, "gone") == [], timeout=30, what="runner pods removed")


@pytest.mark.slow
def test_a_runner_pod_that_ends_unwatched_brings_its_object_back(kube: KubeClient, dev_cluster: DevCluster,
                                                                  tmp_path: Path, git_file_remote: Any,
                                                                  holds: Any) -> None:
    """The watch on runner Pods: an idle object (applied, next interval an hour away) records a run of an
    earlier controller whose Pod is still running and no worker waits for it. When that Pod ends, its
    event — not a poll nor the interval — brings the object back: the failure in its termination message is
    reported (Ready=False with the runner's reason)."""
    from tfcontroller.controllers.terraform.reconciler import TerraformReconciler
    from tfcontroller.kube.resources import TERRAFORMS
    from tfcontroller.runtime.manager import Manager, ManagerOptions

    h = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode="pod")
    manager = Manager(kube, ManagerOptions(namespace=NS, concurrent=2, retry_base=0.5, retry_cap=300.0))
    TerraformReconciler(kube, h.options).register(manager)
    try:
        _hold_tenant(kube)
        _publish(h, git_file_remote, {"tf/main.tf": SIMPLE_TF})
        h.create("idle", path="./tf")
        manager.start()
        assert manager.wait_synced(30)
        wait_for(lambda: ready_reason(kube.get(TERRAFORMS, "idle", NS)) == "True/ApplySucceeded", 180, "applied")
        wait_for(lambda: _runner_pods(kube, "idle") == [], timeout=60, what="its runner pods removed")

        run_id = "0a1b2c3d4e5f6071"
        pod_name = manifests.run_object_name(run_id, 2)
        summary = f"outcome=failed reason=RunnerTestFailure operation=apply run={run_id} plan=p-old delivered=false"
        hold = holds.new()
        script = ("import sys, time, urllib.request, urllib.error\n"
                  "def answer(path):\n"
                  "    try:\n"
                  "        return urllib.request.urlopen(sys.argv[1] + path, timeout=5).status\n"
                  "    except (urllib.error.URLError, OSError):\n"
                  "        return 0\n"
                  "answer('/started')\n"
                  "while answer('/release') != 200:\n"
                  "    time.sleep(0.2)\n"
                  f"open('/dev/termination-log', 'w').write({summary!r})\n"
                  "sys.exit(1)\n")
        pod = kube.create(PODS, {"metadata": {"name": pod_name, "labels": {
            manifests.LABEL_MANAGED_BY: manifests.MANAGED_BY, manifests.LABEL_TERRAFORM: "idle",
            manifests.LABEL_RUN_ID: run_id, manifests.LABEL_OPERATION: "apply"}},
            "spec": {"restartPolicy": "Never", "serviceAccountName": "tfcontroller-runner",
                     "containers": [{"name": manifests.CONTAINER, "image": "tfcontroller:dev",
                                     "command": ["python3", "-c", script, hold.url]}]}}, NS)
        wait_for(hold.started, 90, "the pod to run")
        record = {"instance": "an-earlier-controller", "pid": 1, "host": "elsewhere", "marker": run_id,
                  "startedAt": "2026-01-01T00:00:00Z", "operation": "apply", "plan": "p-old", "pod": pod_name,
                  "podUID": pod["metadata"]["uid"]}
        kube.patch_status(TERRAFORMS, "idle", NS, {"runs": [record]})  # a status change enqueues nothing
        hold.release()  # the Pod ends, writing its summary
        # the failure is reported (Ready=False, then retried: planned again, so the Event is what lasts)
        reported = wait_for(lambda: [e for e in h.events("idle") if e["reason"] == "RunnerTestFailure"], 120,
                            "the ended pod's failure reported by the watch")
        assert "termination message" in reported[0]["message"] and "p-old" in reported[0]["message"]
        wait_for(lambda: kube.get_or_none(PODS, pod_name, NS) is None, 30, "the taken pod removed")
        obj = wait_for(lambda: (o := kube.get(TERRAFORMS, "idle", NS)) and not o["status"].get("runs") and o, 120,
                       "the record taken")
        assert obj["status"].get("lastAppliedPlan") != "p-old"
    finally:
        manager.stop(grace=10)
        h.close()


LEAKY_TF = """
variable "token" { type = string }
resource "terraform_data" "leaky" {
  input = "x"
  provisioner "local-exec" {
    command = "echo 'the token is ${var.token}'; exit 1"
  }
}
"""
LEAKED_VALUE = "s3cr3t-from-a-secret-7731"


def test_kubectl_logs_of_a_kept_failed_runner_pod_are_scrubbed(kube: KubeClient, dev_cluster: DevCluster,
                                                                tmp_path: Path, git_file_remote: Any) -> None:
    """A module echoes a value read from a Secret and fails: the runner Pod is kept (--keep-failed-runners,
    without its per-run Secret), and `kubectl logs` of it shows the module's line with the value scrubbed."""
    from tests.support.manifestset_support import kubectl

    h = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode="pod", keep_failed_runners=True)
    try:
        kube.upsert_secret(NS, "leaky", {"token": LEAKED_VALUE.encode()})
        _publish(h, git_file_remote, {"tf/main.tf": LEAKY_TF})
        h.create("leaky", path="./tf", varsFrom=[{"kind": "Secret", "name": "leaky"}])
        h.reconcile_until("leaky", lambda o: ready_reason(o).startswith("False/")
                          and o["status"].get("plan", {}).get("pending"), timeout=180, what="the apply failed")
        kept = wait_for(lambda: [p for p in _runner_pods(kube, "leaky")
                                 if p["metadata"]["labels"][manifests.LABEL_OPERATION] == "apply"
                                 and p["status"].get("phase") in ("Succeeded", "Failed")], 60, "the kept apply pod")
        name = kept[0]["metadata"]["name"]
        assert kube.get_or_none(SECRETS, name, NS) is None  # kept without the run's variables
        logs = kubectl(dev_cluster.kubeconfig, "logs", name, "-n", NS, "-c", manifests.CONTAINER)
        assert logs.returncode == 0, logs.stderr
        assert "the token is" in logs.stdout, logs.stdout  # the line is there: the check is not blind
        assert LEAKED_VALUE not in logs.stdout and LEAKED_VALUE not in logs.stderr
    finally:
        h.close()
