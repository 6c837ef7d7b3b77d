"""The Terraform page's run log against the dev cluster and its node: runner Pods made with the pod-mode
contract's labels (tests/integration/cli/test_logs.py's `runner_pod`) print lines; the page shows the newest
run's Pods (the one `status.runs[]` names when a run is in flight), a header per Pod, at most the last
500 lines, escaped; without runner Pods the section is absent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from tests.fixtures.devcluster import install_crds
from tests.integration.cli.test_logs import finished, next_second, runner_pod
from tests.support.cli import terraform
from tests.support.htmldom import parse
from tfcontroller.dashboard.app import create_app
from tfcontroller.dashboard.settings import LOCAL, DashboardSettings
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import PODS, TERRAFORMS

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
