"""Lifecycle of Terraform objects: dependsOn ordering (waiting for the dependency's Ready and outputs),
deletion blocked while another Terraform depends on the object, deletion with destroyResourcesOnDeletion
(destroy plan applied, state Secret removed only after it), `destroy: true`, the state-loss guard
(Stalled StateMissing, nothing applied), a plan above 1 MiB stored in chunked Secrets and applied from
them, and malicious artifacts (path traversal, a symlink leaving the tree) refused with a clear condition."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from tests.support.terraform_helpers import NS, SIMPLE_TF, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN, ANNOTATION_REPLAN
from tfcontroller.api.history import history_of
from tfcontroller.kube.resources import SECRETS, TERRAFORMS


@pytest.mark.runner_modes
def test_depends_on_deletion_blocked_and_destroy_on_deletion(harness: Harness, git_file_remote) -> None:
    kube = harness.kube
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"net/main.tf": SIMPLE_TF, "app/main.tf": SIMPLE_TF}))
    harness.create("net", path="./net", writeOutputsToSecret={"name": "net-out"})
    harness.create("app", path="./app", dependsOn=[{"name": "net"}], destroyResourcesOnDeletion=True)

    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/DependencyNotReady"
    assert "net" in condition(obj, c.READY).message
    assert harness.state("app") is None
    harness.reconcile_until("net", lambda o: ready_reason(o) == "True/ApplySucceeded", what="net applied")
    assert harness.secret("net-out") == {"greeting": "hello"}
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="app applied")

    # net cannot go while app depends on it.
    kube.delete(TERRAFORMS, "net", NS)
    obj = harness.reconcile("net")
    assert ready_reason(obj) == "False/DeletionBlockedByDependents"
    assert "default/app" in condition(obj, c.READY).message

    # app is destroyed on deletion: resources gone, then its state, then the object.
    kube.delete(TERRAFORMS, "app", NS)
    harness.reconciler.reconcile(f"{NS}/app")
    assert kube.get_or_none(TERRAFORMS, "app", NS) is None
    assert harness.state("app") is None
    assert "DestroySucceeded" in {e["reason"] for e in harness.events("app")}

    # now net goes; without destroyResourcesOnDeletion its state (and resources) stay.
    harness.reconciler.reconcile(f"{NS}/net")
    assert kube.get_or_none(TERRAFORMS, "net", NS) is None
    assert [r["type"] for r in harness.state("net")["resources"]] == ["terraform_data"]


@pytest.mark.runner_modes
def test_state_loss_guard_and_destroy_true(harness: Harness, git_file_remote) -> None:
    kube = harness.kube
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.create("app")
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")

    kube.delete(SECRETS, "tfstate-default-app", NS)
    harness.annotate("app", ANNOTATION_REPLAN, "1")
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/StateMissing"
    assert condition(obj, c.STALLED).reason == "StateMissing"
    assert "tfstate-default-app" in condition(obj, c.READY).message
    assert not (harness.state("app") or {}).get("resources")  # nothing was applied
    newest = history_of(obj["status"])[0]  # issue 17: the plan the guard stopped is a failed run
    assert (newest.kind, newest.outcome, newest.reason) == ("plan", "Failed", "StateMissing")

    # Recreate the resources knowingly: forget the applied count, as the message says.
    obj = harness.get("app")
    kube.patch_status(TERRAFORMS, "app", NS, {"lastAppliedResourceCount": None})
    harness.annotate("app", ANNOTATION_REPLAN, "2")
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="re-create")
    assert len(harness.state("app")["resources"]) == 1

    # destroy: true plans a destroy and, with auto approval, applies it; the guard does not fire after.
    harness.patch("app", {"spec": {"destroy": True}})
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/DestroySucceeded", what="destroy")
    assert harness.state("app")["resources"] == []
    destroy, plan = history_of(obj["status"])[:2]
    assert (destroy.kind, destroy.outcome, destroy.reason, destroy.destroy) == ("destroy", "Succeeded",
                                                                               "DestroySucceeded", 1)
    assert (plan.kind, plan.plan_id) == ("plan", destroy.plan_id)
    harness.patch("app", {"spec": {"destroy": False}})
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="create again")


def test_plan_over_one_mib_round_trips_through_chunked_secrets(harness: Harness, git_file_remote) -> None:
    kube = harness.kube
    remote = git_file_remote("infra")
    blob = os.urandom(1200 * 1024)
    module = 'resource "terraform_data" "big" {\n  input = filebase64("${path.module}/blob.bin")\n}\n'
    harness.publish("src", remote.bare, remote.commit({"main.tf": module, "blob.bin": blob}))
    harness.create("big", approvePlan="")
    obj = harness.reconcile_until("big", lambda o: ready_reason(o) == "False/PlanPending", what="pending plan")
    plan_id = obj["status"]["plan"]["pending"]
    main = kube.get(SECRETS, "tfplan-default-big", NS)
    extra = int(main["metadata"]["annotations"]["tfcontroller.io/plan-chunks"])
    assert extra >= 1
    sizes = [len(kube.read_secret_data(NS, "tfplan-default-big")["plan"])]
    for i in range(extra):
        chunk = kube.get(SECRETS, f"tfplan-default-big-{i}", NS)
        assert chunk["metadata"]["annotations"]["tfcontroller.io/plan-id"] == plan_id
        sizes.append(len(kube.read_secret_data(NS, f"tfplan-default-big-{i}")["plan"]))
    assert sum(sizes) > 1024 * 1024 and max(sizes) <= 900 * 1024

    harness.annotate("big", ANNOTATION_APPROVE_PLAN, plan_id)  # a new reconcile: the plan comes from the Secrets
    obj = harness.reconcile_until("big", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    assert obj["status"]["lastAppliedPlan"] == plan_id
    assert kube.get_or_none(SECRETS, "tfplan-default-big-0", NS) is None


def _evil_tarball(path, members: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_malicious_artifacts_are_refused(harness: Harness, git_file_remote, tmp_path) -> None:
    evil = tmp_path / "evil.tar.gz"
    _evil_tarball(evil, {"main.tf": SIMPLE_TF, "../escape.tf": "# out"})
    harness.publish_tarball("src", evil, "main@sha1:" + "a" * 40)
    harness.create("app")
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/ArtifactRejected"
    assert condition(obj, c.STALLED) is not None
    assert "../escape.tf" in condition(obj, c.READY).message
    assert not (harness.tmp / "work" / "escape.tf").exists()

    remote = git_file_remote("links")
    commit = remote.commit({"main.tf": SIMPLE_TF}, symlinks={"passwd.tf": "../../../../../../etc/passwd"})
    harness.publish("links", remote.bare, commit)
    harness.create("linked", source="links")
    obj = harness.reconcile("linked")
    assert ready_reason(obj) == "False/ArtifactRejected"
    assert "passwd.tf" in condition(obj, c.READY).message
