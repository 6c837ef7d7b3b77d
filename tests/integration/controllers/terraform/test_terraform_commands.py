"""The commands the controller prints are run as printed, with the real `kubectl`, against the dev cluster
(tfcontroller.api.commands). Every command is run twice with a different value, from a kubectl context
whose namespace is another one: a hint without `-n` or without `--overwrite` fails here (the approve hint
did, from the second plan on). The approve hint is taken from the PlanPending condition and Event of two
successive plans and must apply each: the `kubectl annotate` form for the first, the `tfcontroller
approve` form for the second (both are in the one hint, `api.commands.approve_hint`)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.terraform_helpers import NS, SIMPLE_TF, Harness, condition, ready_reason
from tfcontroller.api import commands
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import (
    ANNOTATION_APPROVE_PLAN,
    ANNOTATION_FORCE_UNLOCK,
    ANNOTATION_REPLAN,
    ANNOTATION_TAKE_OVER_STATE,
)
from tfcontroller.dev.cluster import DevCluster

HINT = re.compile(r"approve with `(?P<cli>tfcontroller [^`]+)` or `(?P<kubectl>kubectl [^`]+)`$")


def _kubeconfig_elsewhere(dev_cluster: DevCluster, tmp_path: Path) -> str:
    """A copy of the dev cluster's kubeconfig whose current context points at another namespace."""
    path = tmp_path / "kubeconfig-elsewhere"
    path.write_text(Path(dev_cluster.kubeconfig).read_text())
    subprocess.run(["kubectl", "config", "set-context", "--current", "--namespace=elsewhere",
                    "--kubeconfig", str(path)], check=True, capture_output=True, timeout=60)
    return str(path)


def _run_printed(command: str, kubeconfig: str) -> None:
    argv = shlex.split(command)
    assert argv[0] in ("kubectl", "tfcontroller"), command
    if argv[0] == "tfcontroller":  # this checkout's CLI, as `tfcontroller` on PATH would be
        argv = [sys.executable, "-m", "tfcontroller", *argv[1:]]
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"


FORMATTERS: list[tuple[str, Callable[[str, str, str], str], str]] = [
    ("approve", commands.approve_command, ANNOTATION_APPROVE_PLAN),
    ("force-unlock", commands.force_unlock_command, ANNOTATION_FORCE_UNLOCK),
    ("take-over-state", commands.take_over_state_command, ANNOTATION_TAKE_OVER_STATE),
    ("replan", commands.replan_command, ANNOTATION_REPLAN),
]


@pytest.mark.parametrize(("what", "formatter", "annotation"), FORMATTERS, ids=[f[0] for f in FORMATTERS])
def test_every_printed_command_runs_twice_from_another_namespace(
        harness: Harness, dev_cluster: DevCluster, tmp_path: Path, what: str,
        formatter: Callable[[str, str, str], str], annotation: str) -> None:
    harness.create("cmd", approvePlan="")
    kubeconfig = _kubeconfig_elsewhere(dev_cluster, tmp_path)
    for value in ("plan-main-0123456789-aaaaaaaa", "plan-main-0123456789-bbbbbbbb"):
        _run_printed(formatter(NS, "cmd", value), kubeconfig)
        assert harness.get("cmd")["metadata"]["annotations"][annotation] == value, what


def test_printed_approve_hint_applies_two_successive_plans(harness: Harness, dev_cluster: DevCluster,
                                                           git_file_remote, tmp_path: Path) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.create("app", approvePlan="", vars=[{"name": "greeting", "value": "one"}])
    kubeconfig = _kubeconfig_elsewhere(dev_cluster, tmp_path)

    for greeting in ("one", "two"):
        if greeting == "two":
            harness.patch("app", {"spec": {"vars": [{"name": "greeting", "value": "two"}]}})
        obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending",
                                      what=f"plan for {greeting}")
        plan_id = obj["status"]["plan"]["pending"]
        message = condition(obj, c.READY).message
        assert message.endswith(commands.approve_hint(NS, "app", plan_id)), message
        found = HINT.search(message)
        assert found is not None, message
        assert found["kubectl"] == commands.approve_command(NS, "app", plan_id)
        assert found["cli"] == commands.cli_approve_command(NS, "app", plan_id)
        events = [e["message"] for e in harness.events("app") if e["reason"] == "PlanPending"]
        assert any(e.endswith(commands.approve_hint(NS, "app", plan_id)) for e in events), events
        printed = found["kubectl"] if greeting == "one" else found["cli"]

        _run_printed(printed, kubeconfig)
        harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded",
                                what=f"apply of {greeting}")
        assert harness.state("app")["outputs"]["greeting"]["value"] == greeting
