"""Terraform reconciler end to end with real terraform, the dev cluster and a file:// git remote:
automatic apply (state Secret, status, events), no re-plan without input changes (a commit elsewhere),
and a new plan when the module changes."""

from __future__ import annotations

import pytest

from tests.support.terraform_helpers import SIMPLE_TF, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.kube.resources import SECRETS


@pytest.mark.runner_modes
def test_auto_apply_then_no_replan_on_unrelated_commit(harness: Harness, git_file_remote) -> None:
    remote = git_file_remote("infra")
    commit = remote.commit({"tf/main.tf": SIMPLE_TF, "README.md": "hi"})
    harness.publish("src", remote.bare, commit)
    harness.create("app", path="./tf", vars=[{"name": "greeting", "value": "bonjour"}])

    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    status = obj["status"]
    assert status["lastAppliedRevision"] == f"main@sha1:{commit}"
    assert status["lastAppliedInputsDigest"] == status["inputsDigest"]
    assert status["lastAppliedPlan"].startswith(f"plan-main-{commit[:10]}-")
    assert status["plan"]["pending"] == ""
    assert status["availableOutputs"] == ["greeting"]
    assert status["sensitiveOutputs"] == []  # from the apply's outputs message, as the names
    assert "run" not in status and condition(obj, c.RECONCILING) is None
    state = harness.state("app")
    assert state is not None and [r["type"] for r in state["resources"]] == ["terraform_data"]
    assert state["outputs"]["greeting"]["value"] == "bonjour"
    assert harness.kube.get_or_none(SECRETS, "tfplan-default-app", "default") is None  # applied: nothing pending
    assert "ApplySucceeded" in {e["reason"] for e in harness.events("app")}
    assert "finalizers" in obj["metadata"]

    # A commit elsewhere in the repository: same inputs digest, nothing planned, no terraform at all.
    other = remote.commit({"README.md": "changed"})
    harness.publish("src", remote.bare, other)
    serial = state["serial"]
    runs = harness.reconciler.runs_dir  # this controller's own (terraform/reaper.instance_dir)
    again = harness.reconcile("app")
    assert ready_reason(again) == "True/ApplySucceeded"
    assert again["status"]["lastAttemptedRevision"] == f"main@sha1:{other}"
    assert again["status"]["lastAppliedPlan"] == status["lastAppliedPlan"]
    assert harness.state("app")["serial"] == serial
    assert list(runs.iterdir()) == []

    # A change of the module re-plans and applies.
    changed = remote.commit({"tf/main.tf": SIMPLE_TF.replace('"hello"', '"hi"') + "\n# v2\n"})
    harness.publish("src", remote.bare, changed)
    obj = harness.reconcile_until("app", lambda o: o["status"].get("lastAppliedRevision") == f"main@sha1:{changed}",
                                  what="apply of the change")
    assert ready_reason(obj) in ("True/NoChanges", "True/ApplySucceeded")
