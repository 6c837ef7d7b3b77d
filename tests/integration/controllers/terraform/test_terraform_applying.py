"""An approved plan being applied, with the real reconciler and real terraform (issue 13, point 2): while
the apply runs (held open by HOLD_TF's provisioner) the object says it is applying — Ready=Unknown and
Reconciling=True naming the plan, not "waits for approval" — and `tfcontroller approve` a second time says
the plan is already being applied and changes nothing; once applied, approving that plan again says it
was applied. Every Terraform runner log line of the run names the object (point 21), and a Terraform that
recovers from a failure records a Normal Event saying from what (point 6); waiting for its source is a
Normal Event, not a Warning (point 21)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Result
from tests.support.holds import HoldServer
from tests.support.polling import wait_for
from tests.support.terraform_helpers import HOLD_TF, SIMPLE_TF, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.api.commands import approve_hint
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN
from tfcontroller.cli.main import main
from tfcontroller.dev.cluster import DevCluster


def cli(dev_cluster: DevCluster, capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    capsys.readouterr()
    code = main([*argv, "--kubeconfig", str(dev_cluster.kubeconfig)])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


class Recorder(logging.Handler):
    """The records of one logger, kept apart from the root handlers (the CLI's `main` replaces those)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# Where a run's lines are logged: the Terraform runner (`terraform version` of the controller itself); in
# local mode the runner protocol's lines (`runner operation=...` and the runner's own output); in pod mode
# the pod runner's (`runner pod=... operation=...`, one per run, and its Pods' adoption). Each mode names
# the run's operation in the same words, `operation=<op>`.
RUNNER_LOGGERS = ("tfcontroller.terraform.runner", "tfcontroller.terraform.protocol_runner",
                  "tfcontroller.terraform.pod_runner")


@pytest.fixture
def runner_log() -> Any:
    recorder = Recorder()
    loggers = [logging.getLogger(name) for name in RUNNER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(recorder)
        logger.setLevel(logging.INFO)
    yield recorder
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(recorder)
        logger.setLevel(level)


@pytest.mark.runner_modes
def test_applying_plan_is_shown_and_a_second_approval_changes_nothing(
        harness: Harness, git_file_remote: Any, tmp_path: Path, dev_cluster: DevCluster,
        capsys: pytest.CaptureFixture[str], runner_log: Recorder, holds: HoldServer) -> None:
    hold = holds.new()
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": HOLD_TF}))
    harness.create("app", approvePlan="", vars=[{"name": "hold", "value": str(hold)}])
    held = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="a pending plan")
    plan_id = held["status"]["plan"]["pending"]

    # a refusal (another plan id) prints the one approval hint for the pending plan
    res = cli(dev_cluster, capsys, "approve", "app", "--plan", "plan-main-0000000000-00000000")
    assert res.code == 1 and approve_hint("default", "app", plan_id) in res.err, res
    res = cli(dev_cluster, capsys, "approve", "app")
    assert res.code == 0 and res.out.strip() == f"terraform.tfcontroller.io/app approved plan {plan_id}", res

    failed: list[BaseException] = []

    def apply() -> None:
        try:
            harness.reconcile("app")
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failed.append(exc)

    applier = threading.Thread(target=apply, name="apply-app")
    applier.start()
    try:
        wait_for(lambda: hold.started() or not applier.is_alive(), 120, "the apply to start")
        assert not failed and applier.is_alive(), failed
        # during the apply: Ready Unknown naming the plan, Reconciling, no approval hint
        obj = harness.get("app")
        ready, reconciling = condition(obj, c.READY), condition(obj, c.RECONCILING)
        assert ready is not None and ready.status == c.UNKNOWN and plan_id in ready.message, ready
        assert "Applying plan" in ready.message and "approve" not in ready.message
        assert reconciling is not None and reconciling.status == c.TRUE and plan_id in reconciling.message

        # a second approval (with or without --plan) says so and changes nothing
        version = obj["metadata"]["resourceVersion"]
        for argv in (("approve", "app"), ("approve", "app", "--plan", plan_id)):
            res = cli(dev_cluster, capsys, *argv)
            assert res.code == 0, res
            assert res.out.strip() == f"terraform.tfcontroller.io/app plan {plan_id} is already being applied"
        assert harness.get("app")["metadata"]["resourceVersion"] == version
    finally:
        hold.release()
        applier.join(120)
    assert not failed, failed
    obj = harness.get("app")
    assert ready_reason(obj) == "True/ApplySucceeded" and obj["status"]["lastAppliedPlan"] == plan_id
    assert hold.done() == 1

    # approving the applied plan again: said, nothing changed
    version = obj["metadata"]["resourceVersion"]
    res = cli(dev_cluster, capsys, "approve", "app", "--plan", plan_id)
    assert res.code == 0 and res.out.strip() == f"terraform.tfcontroller.io/app plan {plan_id} was already applied"
    assert harness.get("app")["metadata"]["resourceVersion"] == version
    assert obj["metadata"]["annotations"][ANNOTATION_APPROVE_PLAN] == plan_id

    # every runner line of the run names the object (`terraform version`, once per controller, is no run's)
    lines = [r for r in runner_log.records if "command=version" not in r.getMessage()]
    assert any("command=apply" in r.getMessage() or "operation=apply" in r.getMessage() for r in lines)
    assert all(getattr(r, "obj", None) == "default/app" for r in lines), \
        [(r.getMessage(), getattr(r, "obj", None)) for r in lines]


def test_recovery_from_a_failure_is_a_normal_event(harness: Harness, git_file_remote: Any) -> None:
    remote = git_file_remote("infra")
    broken = SIMPLE_TF.replace("input = var.greeting", "input = var.greeting +")
    harness.create("app")  # before its source: waiting, a Normal Event (as Flux records it), no Warning
    assert ready_reason(harness.reconcile("app")) == "False/SourceNotReady"
    assert [e["type"] for e in harness.events("app") if e["reason"] == "SourceNotReady"] == ["Normal"]
    harness.publish("src", remote.bare, remote.commit({"main.tf": broken}))
    failed = harness.reconcile_until("app", lambda o: (condition(o, c.READY) or c.Condition("", "", "")).status
                                     == c.FALSE, what="a failure")
    reason = condition(failed, c.READY).reason
    assert [e["type"] for e in harness.events("app") if e["reason"] == reason] == ["Warning"]

    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="the fixed apply")
    recovered = [e for e in harness.events("app") if e["type"] == "Normal"
                 and e["message"].startswith(f"Recovered from {reason} (")]
    assert len(recovered) == 1 and recovered[0]["reason"] == "ApplySucceeded", harness.events("app")
    # one Event for the fixed apply: the recovery quotes it, so the plain "Applied …" is not recorded too
    applied = [e for e in harness.events("app") if e["reason"] == "ApplySucceeded"]
    assert applied == recovered, harness.events("app")
