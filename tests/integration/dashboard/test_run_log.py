"""The Terraform page's run log against the dev cluster and its node: runner Pods made with the pod-mode
contract's labels (tests/integration/cli/test_logs.py's `runner_pod`) print lines; the page shows the newest
run's Pods (the one `status.runs[]` names when a run is in flight), a header per Pod, at most the last
500 lines, escaped; without runner Pods the section is absent. And with the real pod-mode runner (issue 17
review, gap 5: the label contract between the runner and the page is exercised, not restated): a run of
the controller's own runner Pod shows its Terraform log on the page, and no value of the Secret its
variables come from — a failed run's kept Pod, and an apply in flight (the Pod `status.runs[]` names)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.fixtures.devcluster import install_crds
from tests.integration.cli.test_logs import finished, next_second, runner_pod
from tests.support.cli import terraform
from tests.support.holds import HoldServer
from tests.support.htmldom import parse
from tests.support.polling import wait_for
from tests.support.terraform_helpers import NS, Harness, ready_reason
from tfcontroller.api.constants import LABEL_TERRAFORM
from tfcontroller.dashboard.app import create_app
from tfcontroller.dashboard.settings import LOCAL, DashboardSettings
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import PODS, TERRAFORMS
from tfcontroller.operations.run_logs import in_flight_pods

TOKEN = "run-log-token"


@pytest.fixture
def browser(kube: KubeClient) -> Iterator[FlaskClient]:
    install_crds(kube)
    kube.create(TERRAFORMS, terraform("app"))
    client = create_app(DashboardSettings(mode=LOCAL, client=kube, secret_key=b"r" * 32,
                                          login_token=TOKEN)).test_client()
    assert client.get(f"/?token={TOKEN}").status_code == 303
    yield client


def run_log(browser: FlaskClient) -> tuple[list[str], str]:
    answer = browser.get("/terraform/default/app")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    pre = parse(html).find(id="run-log")
    return ([] if pre is None else "".join(c for c in pre.children if isinstance(c, str)).split("\n")), html


def test_the_newest_run_is_shown_capped_and_escaped(browser: FlaskClient, kube: KubeClient) -> None:
    assert run_log(browser)[0] == []  # no runner Pod: no section
    kube.create(PODS, runner_pod("tfrun-old-1", "old", "echo old-plan"), "default")
    finished(kube, "tfrun-old-1")
    next_second(kube, "tfrun-old-1")
    kube.create(PODS, runner_pod("tfrun-new-1", "new", "echo '<script>alert(1)</script>'"), "default")
    kube.create(PODS, runner_pod("tfrun-new-2", "new", "seq 1 600", operation="apply", plan_id="plan-main-1"),
                "default")
    finished(kube, "tfrun-new-1", "tfrun-new-2")
    lines, html = run_log(browser)
    assert "old-plan" not in lines
    assert len(lines) == 500 and lines[-1] == "600" and lines[0] == "101"  # the last 500 lines of the run
    assert "== run new (apply, plan plan-main-1) pod tfrun-new-2 ==" in html
    assert "<script>alert(1)" not in html


def test_the_run_in_flight_is_shown(browser: FlaskClient, kube: KubeClient) -> None:
    kube.create(PODS, runner_pod("tfrun-busy-1", "busy", "echo busy-plan"), "default")
    finished(kube, "tfrun-busy-1")
    next_second(kube, "tfrun-busy-1")
    kube.create(PODS, runner_pod("tfrun-later-1", "later", "echo later-plan"), "default")
    finished(kube, "tfrun-later-1")
    assert "later-plan" in run_log(browser)[0]
    kube.patch_status(TERRAFORMS, "app", "default", {"runs": [{"pod": "tfrun-busy-1", "operation": "plan"}]})
    assert run_log(browser)[0] == ["busy-plan"]


PASSWORD = "pod-log-secret-value-3f9c1e"
# A plan that fails at the module's precondition, on a sensitive variable read from a Secret: the failed
# run's Pod is kept (keep_failed_runners), so the page has a settled Pod to read (a successful run's Pod
# is deleted at once), and Terraform's diagnostics mention the variable — as sensitive, never its value.
FAILING_MODULE = """
variable "password" {
  type      = string
  sensitive = true
}
resource "terraform_data" "app" {
  input = { password = var.password }
  lifecycle {
    precondition {
      condition     = var.password == "never-this-one"
      error_message = "The module refuses this password (pod-log-check)."
    }
  }
}
"""


@pytest.fixture
def pod_harness(kube: KubeClient, tmp_path: Any, dev_cluster: Any) -> Iterator[Harness]:
    h = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode="pod", keep_failed_runners=True)
    try:
        yield h
    finally:
        h.close()


def test_a_real_runner_pods_log_is_shown_without_secret_values(pod_harness: Harness, git_file_remote: Any) -> None:
    h = pod_harness
    remote = git_file_remote("infra")
    h.publish("src", remote.bare, remote.commit({"main.tf": FAILING_MODULE}))
    h.kube.upsert_secret(NS, "app-inputs", {"password": PASSWORD.encode()})
    h.create("app", approvePlan="", varsFrom=[{"kind": "Secret", "name": "app-inputs"}])
    h.reconcile_until("app", lambda o: ready_reason(o) == "False/TerraformFailed", timeout=180,
                      what="the plan failing at the precondition")
    pods, _ = h.kube.list_all(PODS, NS, label_selector=f"{LABEL_TERRAFORM}=app")
    assert pods, "the failed run's Pod is kept"
    client = create_app(DashboardSettings(mode=LOCAL, client=h.kube, secret_key=b"q" * 32,
                                          login_token=TOKEN)).test_client()
    assert client.get(f"/?token={TOKEN}").status_code == 303
    answer = client.get(f"/terraform/{NS}/app")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    pre = parse(html).find(id="run-log")
    assert pre is not None, "no run log section for the runner Pod"
    log = pre.text()
    assert "terraform plan" in log and "pod-log-check" in log, log  # Terraform's own output, through the Pod
    assert any(p["metadata"]["name"] in html for p in pods)  # the header names the Pod read
    assert PASSWORD not in html


# An apply held open by its provisioner (tests/support/holds.py) until the test has read the page.
HELD_MODULE = """
variable "hold" {
  type = string
}
variable "password" {
  type      = string
  sensitive = true
}
resource "terraform_data" "this" {
  input = { password = var.password }
  provisioner "local-exec" {
    command = "curl -sf -m 5 ${var.hold}/started; until curl -sf -m 5 ${var.hold}/release; do sleep 0.1; done; curl -sf -m 5 ${var.hold}/done"
  }
}
"""


def test_the_apply_in_flight_shows_its_runner_pods_log(pod_harness: Harness, git_file_remote: Any,
                                                       holds: HoldServer) -> None:
    h = pod_harness
    hold = holds.new()
    remote = git_file_remote("infra")
    h.publish("src", remote.bare, remote.commit({"main.tf": HELD_MODULE}))
    h.kube.upsert_secret(NS, "app-inputs", {"password": PASSWORD.encode()})
    h.create("app", approvePlan="auto", vars=[{"name": "hold", "value": str(hold)}],
             varsFrom=[{"kind": "Secret", "name": "app-inputs"}])
    failed: list[BaseException] = []

    def run() -> None:
        try:
            h.reconcile("app")
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failed.append(exc)

    runner = threading.Thread(target=run, name="apply-app")
    runner.start()
    try:
        wait_for(lambda: hold.started() or not runner.is_alive(), 180, "the apply to start")
        assert not failed and runner.is_alive(), failed
        client = create_app(DashboardSettings(mode=LOCAL, client=h.kube, secret_key=b"f" * 32,
                                              login_token=TOKEN)).test_client()
        assert client.get(f"/?token={TOKEN}").status_code == 303
        in_flight = in_flight_pods(h.get("app")["status"])  # the runner's record of its Pod
        assert in_flight, h.get("app")["status"].get("runs")
        html = client.get(f"/terraform/{NS}/app").get_data(as_text=True)
        pre = parse(html).find(id="run-log")
        assert pre is not None, "no run log for the apply in flight"
        assert "terraform apply" in pre.text(), pre.text()
        assert any(f"pod {pod}" in html for pod in in_flight), (in_flight, html[-3000:])
        assert PASSWORD not in html
    finally:
        hold.release()
        runner.join(180)
    assert not failed, failed
    assert ready_reason(h.get("app")) == "True/ApplySucceeded"
