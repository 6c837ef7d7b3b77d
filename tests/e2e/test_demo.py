"""`make demo` as a newcomer meets it: the scripted tour passes (its approval step names the plan's page on the
dashboard the demo serves, and the printed dashboard link opens the overview listing both stacks), then every command the README and
docs/demo.md show (fenced shell blocks, `$ ` lines) and every command the demo prints runs as printed against
the running demo, and Ctrl-C ends it with "stopped", exit 0 and nothing left running (issue 13, points 16
and 18). The notifications (issue 19): the tour printed the PlanPending of the production plan (with its
approve command and its page on the demo's dashboard, the controller's --dashboard-url) and the drift's
DriftDetected and DriftResolved, each with a verified signature; none arrived unsigned or mis-signed; each
is saved under .demo/webhook; and no plan was announced twice (one message per plan and rule, re-reconciles
and the documented commands' new plan included).

The demo runs as `make demo` runs it (`python -m tfcontroller.dev.demo`, without --exit) in a short work dir,
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
import requests

from tests.support.demo import Demo, demo_workdir, leftovers
from tests.support.doc_commands import Command, commands_in, printed_commands
from tests.support.paths import REPO_ROOT
from tests.support.polling import wait_for
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import TERRAFORMS, Resource

DOCS = ("README.md", "docs/demo.md")
DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
# Commands shown in the documents that this test does not type, and why.
NOT_RUN = {
    "make demo": "this test runs its recipe's command (python -m tfcontroller.dev.demo); make would first run "
                 "`make setup`, which reinstalls the shared virtualenv",
    "make demo DEMO_EXIT=1": "the same tour with --exit: its steps are asserted here from the Summary, and "
                             "tests/integration/dev/demo covers how the demo ends",
    "make test": "runs the whole test suite, this test included",
}
TOUR_DONE = "Ctrl-C here stops everything"  # the last line of the block printed after the Summary


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


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(2400)
def test_demo_tour_then_every_documented_command_then_ctrl_c(aws_emulator, clone_like, tmp_path: Path) -> None:
    root, workdir = clone_like
    documented = [c for doc in DOCS for c in commands_in((REPO_ROOT / doc).read_text(), doc)]
    assert {bare(c) for c in documented} >= set(NOT_RUN), "NOT_RUN names a command no document shows any more"
    env = shell_env()
    assert subprocess.run(["bash", "-c", "command -v tfcontroller"], env=env, capture_output=True).returncode != 0, (
        "tfcontroller is on the PATH of a fresh shell here, so the test cannot tell whether the documents say "
        "how to get it there")

    demo = Demo(workdir, env={"DEMO_AWS_ENDPOINT": aws_emulator.endpoint_url, "GIT_CONFIG_GLOBAL": os.devnull})
    demo.start()
    try:
        wait_for(lambda: "Summary:" in demo.output() and TOUR_DONE in demo.output().split("Summary:")[1]
                 or demo.proc.poll() is not None, timeout=1500, what="the tour to finish", interval=2.0)
        out = demo.output()
        (tmp_path / "demo.log").write_text(out)
        assert demo.proc.poll() is None, out[-6000:]
        summary = out[out.index("Summary:"):]
        assert summary.count("[ok]") == 5 and "[FAILED]" not in summary, out[-6000:]
        assert list((workdir / "mail").glob("*.eml")), "the drift report was not saved as .eml"
        assert re.search(r"in the browser, with its Approve button: http://127\.0\.0\.1:\d+/terraform/default/"
                         r"app-stack-prod", " ".join(out.split())), out[-6000:]
        link = re.search(r"Dashboard: (http://127\.0\.0\.1:\d+/\?token=\S+)", out)
        assert link, out[-6000:]
        assert_notifications_shown(out, link.group(1).split("/?", 1)[0])
        overview = requests.get(link.group(1), timeout=30)
        assert overview.status_code == 200, overview.text[:2000]
        assert all(f'data-name="{n}"' in overview.text for n in ("app-stack-dev", "app-stack-prod")), overview.text

        kube = KubeClient.load(str(workdir / "kubeconfig"))
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
            ready = {c["type"]: c for c in status.get("conditions") or []}.get("Ready") or {}
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
