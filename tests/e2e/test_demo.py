"""`make demo` as a newcomer meets it: the scripted tour passes, its approval step done in a browser (issue 17):
run with `--wait-for-approval`, the tour asks for the production plan's approval naming that plan's page on
the dashboard it serves; headless Chromium opens the printed `Dashboard:` link (the one-time login), the
overview lists the demo's objects each with the Ready status and reason the API has at that step (production
waiting for approval, counted), the production row leads to the plan's page, a click on "Approve plan <id>"
applies it, the page turns Ready live and its history names the approver via the dashboard, and the tour goes
on with that approval and names the same approver in its summary (screenshots under
test-output/<test id>/). Then every command the README and
docs/demo.md show (fenced shell blocks, `$ ` lines) and every command the demo prints runs as printed against
the running demo, and Ctrl-C ends it with "stopped", exit 0 and nothing left running (issue 13, points 16
and 18). The notifications (issue 19): the tour printed the PlanPending of the production plan (with its
approve command and its page on the demo's dashboard, the controller's --dashboard-url) and the drift's
DriftDetected and DriftResolved, each with a verified signature; none arrived unsigned or mis-signed; each
is saved under .demo/webhook; and no plan was announced twice (one message per plan and rule, re-reconciles
and the documented commands' new plan included).

The demo runs as `make demo DEMO_ARGS=--wait-for-approval` runs it (`python -m tfcontroller.dev.demo
--wait-for-approval`, without --exit) in a short work dir,
reusing the session's AWS emulator instead of starting a second LocalStack. The documents' commands are typed
at a directory laid out as the clone (its `.venv`, and `.demo` = the demo's work dir), in a shell whose PATH
has no `tfcontroller` (as after `make setup`), so the documented `source .venv/bin/activate` is what puts it
there. A command that is not run is listed in NOT_RUN with the reason; a command that needs the controller to
get somewhere first (a pending plan) has its condition in READY_BEFORE, as the documents say in words.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.browser import Browser
from tests.support.demo import Demo, demo_workdir, leftovers
from tests.support.doc_commands import Command, commands_in, printed_commands
from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tfcontroller.api import conditions as c
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, TERRAFORMS, Resource
from tfcontroller.kube.reviews import whoami

DOCS = ("README.md", "docs/demo.md")
DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
# Commands shown in the documents that this test does not type, and why.
NOT_RUN = {
    "make demo": "this test runs its recipe's command (python -m tfcontroller.dev.demo); make would first run "
                 "`make setup`, which reinstalls the shared virtualenv",
    "make demo DEMO_EXIT=1": "the same tour with --exit: its steps are asserted here from the Summary, and "
                             "tests/integration/dev/demo covers how the demo ends",
    "make demo DEMO_ARGS=--wait-for-approval": "this test runs the demo with --wait-for-approval and approves in "
                                                "the browser",
    "make test": "runs the whole test suite, this test included",
}
TOUR_DONE = "Ctrl-C here stops everything"  # the last line of the block printed after the Summary
# What the tour prints (--wait-for-approval) once the production plan waits: the plan and its dashboard page.
ASKED = re.compile(r'waiting for your approval of plan (?P<plan>\S+) \(up to \d+ min\): click "Approve plan (?P=plan)" '
                   r"on (?P<page>http://127\.0\.0\.1:\d+/terraform/default/app-stack-prod),")
KINDS = (("GitRepository", GITREPOSITORIES), ("Terraform", TERRAFORMS), ("ManifestSet", MANIFESTSETS))
# The demo's objects (bootstrapped, and clusters/dev-cluster from Git), each on the overview.
DEMO_OBJECTS = {("GitRepository", "default", "gitops"), ("ManifestSet", "default", "cluster"),
                ("Terraform", "default", "app-stack-dev"), ("Terraform", "default", "app-stack-prod"),
                ("ManifestSet", "default", "sample-app-development"), ("ManifestSet", "default", "sample-app-production")}


def bare(command: Command) -> str:
    """The command without its trailing comment, as NOT_RUN and READY_BEFORE name it."""
    return re.split(r"\s+#\s", command.text, maxsplit=1)[0].strip()


def shell_env() -> dict[str, str]:
    """A newcomer's shell after `make setup`: no `tfcontroller` on PATH, no KUBECONFIG, no virtualenv, no
    Git identity of their own. PYTHONPATH stays, so that the code of this checkout is what runs."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                  if p and not (Path(p) / "tfcontroller").exists())
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    return env


@pytest.fixture
def clone_like(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(a directory laid out as the clone, the demo's work dir behind its `.demo`)."""
    workdir = demo_workdir()  # short: provider plugin sockets live under it
    root = Path(f"{workdir}-root")
    root.mkdir(parents=True)
    (root / ".venv").symlink_to(REPO_ROOT / ".venv")
    (root / ".demo").symlink_to(workdir)
    yield root, workdir
    subprocess.run(["rm", "-rf", str(root), str(workdir), f"{workdir}.log"], check=False)


def run_as_printed(commands: list[Command], cwd: Path, env: dict[str, str],
                   ready_before: dict[str, Callable[[], object]]) -> list[str]:
    """Type each command in a fresh bash at `cwd` after the document's earlier `source`/`export`/`cd`
    lines (a reader's terminal keeps them); returns one failure text per command that failed."""
    failures, prelude = [], []
    for command in commands:
        if bare(command) in NOT_RUN:
            continue
        if bare(command) in ready_before:
            wait_for(ready_before[bare(command)], timeout=600, what=f"the demo to be ready for `{command.text}`",
                     interval=1.0)
        script = "\n".join(["set -e", *prelude, command.text])
        proc = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            failures.append(f"{command.source}: `{command.text}` exited {proc.returncode}:\n"
                            f"{(proc.stdout + proc.stderr)[-1500:]}")
        if command.stateful:
            prelude.append(command.text)
    return failures


def assert_notifications_shown(out: str, dashboard: str) -> None:
    """The tour printed each awaited notification whole, signed right, the plan's with its page."""
    tour = out[:out.index("Summary:")]
    for headline in ("PlanPending Terraform default/app-stack-prod", "DriftDetected Terraform default/app-stack-dev",
                     "DriftResolved Terraform default/app-stack-dev"):
        assert f"WEBHOOK  {headline} (signature verified)" in tour, out[-6000:]
    assert "SIGNATURE MISMATCH" not in out and "NOT SIGNED" not in out, out[-6000:]
    block = tour[tour.index("WEBHOOK  PlanPending Terraform default/app-stack-prod"):].split("\n[", 1)[0]
    assert re.search(r"approve: +tfcontroller approve app-stack-prod --plan \S+ -n default", block), block
    assert f"page:     {dashboard}/terraform/default/app-stack-prod" in block, block


def assert_one_message_per_plan(saved: Path) -> None:
    """Every notification the receiver accepted is saved; none twice (the same fingerprint), and a plan is
    announced for approval once, however often its object was reconciled."""
    docs = [json.loads(p.read_text()) for p in sorted(saved.glob("*.json"))]
    names = [p.name for p in sorted(saved.glob("*.json"))]
    pending = [(d["involvedObject"]["name"], d["plan"]["id"]) for d in docs if d["type"] == "PlanPending"]
    assert "app-stack-prod" in {name for name, _ in pending}, names
    assert len(pending) == len(set(pending)), f"a plan was announced twice: {pending}"
    fingerprints = [d["fingerprint"] for d in docs]
    assert len(fingerprints) == len(set(fingerprints)), f"a notification was delivered twice: {names}"


# ---------------------------------------------------------------- the dashboard, in a browser


def api_rows(kube: KubeClient) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(kind, namespace, name) → (Ready status, reason) of every object of the three kinds, as the API has them."""
    found = {}
    for kind, resource in KINDS:
        for obj in kube.list(resource).get("items") or []:
            ready = c.find((obj.get("status") or {}).get("conditions"), c.READY)
            found[(kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])] = (
                (ready.status, ready.reason) if ready is not None else ("Unknown", ""))
    return found


def overview_rows(browser: Browser) -> dict[tuple[str, str, str], tuple[str, str]]:
    """The same, as the overview's rows show them (data-ready, data-reason), read in one script: a live update
    may swap the table between two element reads."""
    found = browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('#objects tr.object')).map(r => "
        "[r.dataset.kind, r.dataset.namespace, r.dataset.name, r.dataset.ready, r.dataset.reason]);")
    return {(kind, ns, name): (ready, reason) for kind, ns, name, ready, reason in found}


def approved_in_history(browser: Browser, plan_id: str, username: str) -> bool:
    return bool(browser.driver.execute_script(
        "const [plan, user] = arguments; return Array.from(document.querySelectorAll("
        "'#history tr.history-entry[data-kind=apply]')).some(e => e.dataset.planId === plan && "
        "(e.querySelector('.approved-by') || {dataset: {}}).dataset.via === 'dashboard' && "
        "e.querySelector('.approved-by').dataset.username === user);", plan_id, username))


def approve_in_the_browser(browser: Browser, link: str, page: str, kube: KubeClient, plan_id: str) -> None:
    """As a person does with what the demo printed: the `Dashboard:` link logs the browser in on the overview,
    which lists the demo's objects with the API's Ready status and reason at this step (production waiting
    for approval, counted); the production row leads to the plan's page, whose Approve button names the plan
    the tour asked about; one click, and the page turns Ready live (no reload) and its history names the
    approver, via the dashboard. Screenshots under the test's output directory."""
    browser.get(link)
    browser.wait_css("#objects tr.object")
    browser.wait_until(lambda d: overview_rows(browser) == api_rows(kube), 30,
                       "every object's row with the API's Ready status and reason")
    rows = overview_rows(browser)
    assert set(rows) >= DEMO_OBJECTS, rows
    assert rows[("Terraform", "default", "app-stack-prod")] == ("False", "PlanPending"), rows
    assert browser.find("#count-pending").text.strip() == "1"
    assert browser.find("#count-failing").text.strip() == "0"
    browser.screenshot("overview-production-waiting")

    browser.find('#objects tr.object[data-kind="Terraform"][data-name="app-stack-prod"] a.object-link').click()
    browser.wait_until(lambda d: d.current_url == page, 30, "the production plan's page")
    assert browser.wait_css("#plan[data-plan-id]").get_attribute("data-plan-id") == plan_id
    assert browser.find("#approve").text.strip() == f"Approve plan {plan_id}"
    browser.screenshot("production-plan")
    browser.find("#approve").click()
    browser.wait_css(".flash")  # the redirect back to the page, saying what happened
    browser.wait_css('body[data-live="connected"]')
    before = int(browser.find("body").get_attribute("data-live-updates") or 0)
    # No get/refresh from here on: the live stream swaps the page in as the controller applies.
    browser.wait_until(lambda d: d.find_element("css selector", "#ready").get_attribute("data-status") == "True",
                       600, "the production page to turn Ready without a reload")
    assert int(browser.find("body").get_attribute("data-live-updates") or 0) > before
    username = whoami(kube).username
    browser.wait_until(lambda d: approved_in_history(browser, plan_id, username), 30,
                       f"the apply of {plan_id} approved by {username} via dashboard in the page's history")
    status = kube.get(TERRAFORMS, "app-stack-prod", "default").get("status") or {}
    assert status.get("lastAppliedPlan") == plan_id, status
    browser.screenshot("production-applied")



@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(2400)
def test_demo_tour_then_every_documented_command_then_ctrl_c(aws_emulator, clone_like, browser: Browser,
                                                             tmp_path: Path) -> None:
    root, workdir = clone_like
    documented = [c for doc in DOCS for c in commands_in((REPO_ROOT / doc).read_text(), doc)]
    assert {bare(c) for c in documented} >= set(NOT_RUN), "NOT_RUN names a command no document shows any more"
    env = shell_env()
    assert subprocess.run(["bash", "-c", "command -v tfcontroller"], env=env, capture_output=True).returncode != 0, (
        "tfcontroller is on the PATH of a fresh shell here, so the test cannot tell whether the documents say "
        "how to get it there")

    demo = Demo(workdir, args=["--wait-for-approval"],
                env={"DEMO_AWS_ENDPOINT": aws_emulator.endpoint_url, "GIT_CONFIG_GLOBAL": os.devnull})
    demo.start()
    try:
        # The tour stops at the production plan and asks for an approval, anywhere: given in the browser here.
        wait_for(lambda: ASKED.search(" ".join(demo.output().split())) or "Summary:" in demo.output()
                 or demo.proc.poll() is not None, timeout=1500, what="the tour to ask for the approval", interval=1.0)
        asked = ASKED.search(" ".join(demo.output().split()))
        assert asked, demo.output()[-6000:]
        link = re.search(r"Dashboard: (http://127\.0\.0\.1:\d+/\?token=\S+)", demo.output())
        assert link, demo.output()[-6000:]
        kube = KubeClient.load(str(workdir / "kubeconfig"))
        approve_in_the_browser(browser, link.group(1), asked.group("page"), kube, asked.group("plan"))

        wait_for(lambda: "Summary:" in demo.output() and TOUR_DONE in demo.output().split("Summary:")[1]
                 or demo.proc.poll() is not None, timeout=1500, what="the tour to finish", interval=2.0)
        out = demo.output()
        (tmp_path / "demo.log").write_text(out)
        assert demo.proc.poll() is None, out[-6000:]
        summary = out[out.index("Summary:"):]
        assert summary.count("[ok]") == 5 and "[FAILED]" not in summary, out[-6000:]
        # The tour went on with the browser's approval and names who gave it, as the controller recorded it.
        assert f"approved by {whoami(kube).username} (dashboard) and applied" in " ".join(summary.split()), summary
        assert list((workdir / "mail").glob("*.eml")), "the drift report was not saved as .eml"
        assert_notifications_shown(out, link.group(1).split("/?", 1)[0])

        prod_before = (kube.get(TERRAFORMS, "app-stack-prod", "default").get("status") or {}).get("lastAppliedPlan")

        def prod_pending() -> object:
            return ((kube.get(TERRAFORMS, "app-stack-prod", "default").get("status") or {}).get("plan") or {}).get("pending")

        ready_before: dict[str, Callable[[], object]] = {
            "tfcontroller plan show app-stack-prod": prod_pending,
            "tfcontroller approve app-stack-prod": prod_pending,
        }
        failures = run_as_printed(documented, root, env, ready_before)
        printed = printed_commands(summary)
        assert any(c.text.startswith("source ") for c in printed), summary  # how to get tfcontroller on PATH
        failures += run_as_printed(printed, Path("/"), env, ready_before)
        assert not failures, "\n\n".join(failures)

        # What the documented change commands promise happened: the push deployed, the approval applied.
        def replicas() -> object:
            return kube.get(DEPLOYMENTS, "sample-app", "development")["spec"].get("replicas") == 2

        wait_for(replicas, timeout=300, what="two replicas of sample-app in development after the push", interval=1)

        def prod_applied_again() -> bool:
            status = kube.get(TERRAFORMS, "app-stack-prod", "default").get("status") or {}
            ready = {cond["type"]: cond for cond in status.get("conditions") or []}.get("Ready") or {}
            return status.get("lastAppliedPlan") not in (None, prod_before) and ready.get("status") == "True"

        wait_for(prod_applied_again, timeout=600, what="app-stack-prod to apply the approved plan", interval=1)
        assert_one_message_per_plan(workdir / "webhook")

        code = demo.interrupt(timeout=120)
        out = demo.output()
        (tmp_path / "demo.log").write_text(out)
        assert code == 0, out[-4000:]
        assert out.strip().splitlines()[-1].endswith("] stopped"), out[-2000:]
        wait_for(lambda: not leftovers(workdir), timeout=30, what="no process of the demo left", interval=0.5)
    finally:
        demo.cleanup()
