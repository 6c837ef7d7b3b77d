"""A `planOnly` Terraform (issue 20) on the dashboard and in `tfcontroller approve`, with the real controller
and real terraform (issue 17 review, gap 2): its plan is reported (Ready=True PlanOnly) and never applied,
so nothing asks a person to approve it — the overview does not count it pending, the page shows Approve
disabled with the reason, and an approval through the CLI (named or not) or a POST to the dashboard is
refused (409 / exit 1) with that reason and writes nothing. Setting planOnly false makes the same plan
one that waits for approval: the rule (api/approvable.py) follows the spec, not a stale flag."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.fixtures.dashboard import csrf_of
from tests.support.cli import Result
from tests.support.htmldom import Element, parse
from tests.support.terraform_helpers import NS, Harness, ready_reason
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN, ANNOTATION_APPROVED_BY
from tfcontroller.cli.main import main
from tfcontroller.dashboard.app import create_app
from tfcontroller.dashboard.settings import LOCAL, DashboardSettings
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.resources import TERRAFORMS
from tfcontroller.notify.observe import waits_for_human

MODULE = 'resource "terraform_data" "watched" {\n  input = "reported, never applied"\n}\n'
TOKEN = "plan-only-token"
REASON = "spec.planOnly: plan {plan} is reported, never applied"


@pytest.fixture
def browser(harness: Harness) -> Iterator[FlaskClient]:
    client = create_app(DashboardSettings(mode=LOCAL, client=harness.kube, secret_key=b"p" * 32,
                                          login_token=TOKEN)).test_client()
    assert client.get(f"/?token={TOKEN}").status_code == 303
    yield client


def page(browser: FlaskClient, path: str) -> tuple[Element, str]:
    answer = browser.get(path)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, html[:2000]
    return parse(html), html


def cli(dev_cluster: DevCluster, capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    capsys.readouterr()
    code = main([*argv, "-n", NS, "--kubeconfig", str(dev_cluster.kubeconfig)])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def overview_row(browser: FlaskClient, name: str) -> tuple[Element, str]:
    dom, _ = page(browser, "/")
    row = next(r for r in dom.find_all("tr", cls="object") if r.attrs.get("data-name") == name)
    return row, dom.one(id="count-pending").text()


def test_a_plan_only_plan_is_reported_not_offered_for_approval(
        harness: Harness, browser: FlaskClient, dev_cluster: DevCluster, git_file_remote: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": MODULE}))
    harness.create("watch", approvePlan="", planOnly=True)
    obj = harness.reconcile_until("watch", lambda o: ready_reason(o) == "True/PlanOnly", timeout=180,
                                  what="the plan-only plan reported")
    plan = obj["status"]["plan"]["pending"]
    reason = REASON.format(plan=plan)
    assert plan and not waits_for_human(obj)  # no PlanPending notification either

    row, pending_count = overview_row(browser, "watch")
    assert "pending" not in row.attrs["data-states"].split() and row.attrs["data-states"] == "ready"
    assert pending_count == "0"
    dom, _ = page(browser, f"/terraform/{NS}/watch")
    assert dom.one(id="plan").attrs["data-plan-id"] == plan
    approve = dom.one("button", id="approve")
    assert "disabled" in approve.attrs and reason in approve.attrs["title"]
    assert reason in dom.one(id="approve-why").text()
    assert any("approval: plan only (never applied)" in p.text() for p in dom.find_all("p", cls="facts"))

    version = harness.get("watch")["metadata"]["resourceVersion"]
    for argv in (("approve", "watch"), ("approve", "watch", "--plan", plan)):
        res = cli(dev_cluster, capsys, *argv)
        assert res.code == 1 and reason in res.err and "approved" not in res.out, res
    token = csrf_of(page(browser, f"/terraform/{NS}/watch")[1])
    answer = browser.post(f"/terraform/{NS}/watch/approve", data={"csrf_token": token, "plan": plan})
    assert answer.status_code == 409 and reason in answer.get_data(as_text=True)
    after = harness.get("watch")
    assert after["metadata"]["resourceVersion"] == version  # nothing written
    assert not {ANNOTATION_APPROVE_PLAN, ANNOTATION_APPROVED_BY} & set(after["metadata"].get("annotations") or {})

    # planOnly off: the same plan (planOnly is no input of it) now waits for a person, and is offered
    harness.kube.patch(TERRAFORMS, "watch", {"spec": {"planOnly": False}}, NS)
    obj = harness.reconcile_until("watch", lambda o: ready_reason(o) == "False/PlanPending", timeout=180,
                                  what="the plan held for approval")
    assert obj["status"]["plan"]["pending"] == plan and waits_for_human(obj)
    row, pending_count = overview_row(browser, "watch")
    assert "pending" in row.attrs["data-states"].split() and pending_count == "1"
    dom = page(browser, f"/terraform/{NS}/watch")[0]
    assert "disabled" not in dom.one("button", id="approve").attrs and dom.find(id="approve-why") is None
    assert any("approval: manual" in p.text() for p in dom.find_all("p", cls="facts"))
