"""Issue 20, running, with real Terraform on the dev cluster (terraform_data modules, no provider): a
replacement really re-creates the resource and is one-shot (spec.replace once per list, the annotation
once per value, recorded in history); targets limit what is planned and applied, with parallelism; a
planOnly stack is planned and never applied, not even when approved; remediation.retries stops a broken
apply after the limit (Stalled RetriesExhausted naming the error) and resumes on a reconcile request and on
a new commit that fixes it; an import-only and a move-only plan are changes, counted apart, and applied."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.terraform_helpers import SIMPLE_TF, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN, ANNOTATION_REPLACE, ANNOTATION_REQUESTED_AT
from tfcontroller.api.history import history_of
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient

pytestmark = pytest.mark.slow

TWO_TF = """
resource "terraform_data" "a" {
  input = "a"
}

resource "terraform_data" "b" {
  input = "b"
}
"""

FAILING_TF = """
resource "terraform_data" "this" {
  input = "x"

  provisioner "local-exec" {
    command = "echo the bucket name is taken >&2; exit 1"
  }
}
"""


@pytest.fixture
def h(kube: KubeClient, dev_cluster: DevCluster, tmp_path: Path, runner_mode: str) -> Iterator[Harness]:
    harness = Harness(kube, dev_cluster.kubeconfig, tmp_path, runner_mode=runner_mode)
    try:
        yield harness
    finally:
        harness.close()


def ids(h: Harness, name: str) -> dict[str, str]:
    """Resource address -> the id Terraform gave it (a new id: the resource was re-created)."""
    state = h.state(name) or {}
    return {f"{r['type']}.{r['name']}": r["instances"][0]["attributes"]["id"]
            for r in state.get("resources") or [] if r.get("mode") == "managed"}


def applied(o: dict[str, Any], plan: str = "") -> bool:
    last = (o.get("status") or {}).get("lastAppliedPlan")
    return ready_reason(o) == "True/ApplySucceeded" and bool(last) and last != plan


def test_replace_recreates_once_per_request(h: Harness, git_file_remote: Any) -> None:
    remote = git_file_remote("infra")
    h.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    h.create("app")
    obj = h.reconcile_until("app", applied, what="the first apply")
    first = ids(h, "app")["terraform_data.this"]

    h.patch("app", {"spec": {"replace": ["terraform_data.this"]}})
    obj = h.reconcile_until("app", lambda o: applied(o, obj["status"]["lastAppliedPlan"]), what="the replacement")
    second = ids(h, "app")["terraform_data.this"]
    assert second != first  # really re-created
    plan_entry = next(e for e in history_of(obj["status"]) if e.kind == "plan")
    assert plan_entry.replace == ("terraform_data.this",) and (plan_entry.add, plan_entry.destroy) == (1, 1)
    assert obj["status"]["lastHandledSpecReplace"] == ["terraform_data.this"]

    # one-shot: the field stays, a replan plans no replacement again
    h.annotate("app", "tfcontroller.io/replan", "1")
    obj = h.reconcile_until("app", lambda o: ready_reason(o) == "True/NoChanges", what="a replan without changes")
    assert ids(h, "app")["terraform_data.this"] == second

    # the annotation: once per value
    h.annotate("app", ANNOTATION_REPLACE, "terraform_data.this")
    # (the same replacement of the same values: the same plan id as the first one, so the state tells)
    obj = h.reconcile_until("app", lambda o: ids(h, "app")["terraform_data.this"] != second,
                            what="the annotated replacement")
    third = ids(h, "app")["terraform_data.this"]
    assert obj["status"]["lastHandledReplace"] == "terraform_data.this"
    obj = h.reconcile("app")
    assert ids(h, "app")["terraform_data.this"] == third and ready_reason(obj).startswith("True/")

    # the same address again in one step: a new token (review s19, finding 7); re-setting it replaces nothing
    h.annotate("app", ANNOTATION_REPLACE, "terraform_data.this@2")
    obj = h.reconcile_until("app", lambda o: ids(h, "app")["terraform_data.this"] != third,
                            what="the replacement asked for again with a new token")
    fourth = ids(h, "app")["terraform_data.this"]
    assert obj["status"]["lastHandledReplace"] == "terraform_data.this@2"
    h.annotate("app", ANNOTATION_REPLACE, " terraform_data.this @2")
    obj = h.reconcile("app")
    assert ids(h, "app")["terraform_data.this"] == fourth and ready_reason(obj).startswith("True/")

    # a bad address in the annotation stalls naming it, no plan is made
    h.annotate("app", ANNOTATION_REPLACE, "module.app")
    obj = h.reconcile("app")
    stalled = condition(obj, c.STALLED)
    assert stalled is not None and stalled.status == c.TRUE and ANNOTATION_REPLACE in stalled.message


@pytest.mark.runner_modes  # the options travel in the run request to the runner (a runner Pod in pod mode)
def test_targets_limit_the_plan_and_apply_with_parallelism(h: Harness, git_file_remote: Any) -> None:
    remote = git_file_remote("infra")
    h.publish("src", remote.bare, remote.commit({"main.tf": TWO_TF}))
    h.create("app", targets=["terraform_data.a"], parallelism=1)
    h.reconcile_until("app", applied, what="the targeted apply")
    assert set(ids(h, "app")) == {"terraform_data.a"}

    obj = h.patch("app", {"spec": {"targets": None}})  # targets are inputs: removing them plans the rest
    obj = h.reconcile_until("app", lambda o: set(ids(h, "app")) == {"terraform_data.a", "terraform_data.b"},
                            what="the untargeted apply")
    assert ready_reason(obj) == "True/ApplySucceeded"


def test_plan_only_never_applies(h: Harness, git_file_remote: Any) -> None:
    remote = git_file_remote("infra")
    h.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    h.create("watch", planOnly=True)
    obj = h.reconcile_until("watch", lambda o: ready_reason(o) == "True/PlanOnly", what="a reported plan")
    pending = obj["status"]["plan"]["pending"]
    assert pending and obj["status"]["plan"]["add"] == 1 and "spec.planOnly" in condition(obj, c.READY).message
    assert not ids(h, "watch")
    assert any(e.get("reason") == "PlanOnly" for e in h.events("watch"))
    assert not any(e.get("reason") == "PlanPending" for e in h.events("watch"))

    h.annotate("watch", ANNOTATION_APPROVE_PLAN, pending)  # even an approval applies nothing
    obj = h.reconcile("watch")
    assert ready_reason(obj) == "True/PlanOnly" and not ids(h, "watch")
    assert not obj["status"].get("lastAppliedPlan")


@pytest.mark.runner_modes  # a runner Pod reports the failure through the run protocol: counted the same
def test_retries_stop_after_the_limit_and_resume(h: Harness, git_file_remote: Any) -> None:
    remote = git_file_remote("infra")
    h.publish("src", remote.bare, remote.commit({"main.tf": FAILING_TF}))
    h.create("app", remediation={"retries": 1})
    obj = h.reconcile_until("app", lambda o: (o["status"].get("applyFailures") or {}).get("count") == 2,
                            what="two failed applies")
    obj = h.reconcile("app")  # the limit is reached: no third apply
    stalled = condition(obj, c.STALLED)
    assert stalled is not None and stalled.status == c.TRUE and stalled.reason == "RetriesExhausted"
    assert "2 applies in a row failed" in stalled.message and "the bucket name is taken" in stalled.message
    assert "tfcontroller reconcile terraform app -n " in stalled.message
    assert obj["status"]["applyFailures"]["count"] == 2
    obj = h.reconcile("app")
    assert obj["status"]["applyFailures"]["count"] == 2 and ready_reason(obj) == "False/RetriesExhausted"

    # a reconcile request: one more round of attempts
    h.annotate("app", ANNOTATION_REQUESTED_AT, "again")
    obj = h.reconcile("app")
    assert obj["status"]["applyFailures"]["count"] == 1 and obj["status"]["applyFailures"]["requestedAt"] == "again"

    # a new commit that fixes the module: planned and applied, the count cleared
    h.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    obj = h.reconcile_until("app", applied, what="the fixed apply")
    assert "applyFailures" not in obj["status"] and condition(obj, c.STALLED) is None


def test_import_and_move_only_plans_are_changes(h: Harness, git_file_remote: Any) -> None:
    remote = git_file_remote("infra")
    h.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    h.create("app")
    obj = h.reconcile_until("app", applied, what="the first apply")
    before = ids(h, "app")["terraform_data.this"]

    moved = SIMPLE_TF.replace('"this"', '"renamed"').replace("terraform_data.this", "terraform_data.renamed") + \
        "\nmoved {\n  from = terraform_data.this\n  to   = terraform_data.renamed\n}\n"
    h.publish("src", remote.bare, remote.commit({"main.tf": moved}))
    obj = h.reconcile_until("app", lambda o: applied(o, obj["status"]["lastAppliedPlan"]), what="the move")
    assert ids(h, "app") == {"terraform_data.renamed": before}  # moved, not re-created
    entry = next(e for e in history_of(obj["status"]) if e.kind == "plan")
    assert (entry.moves, entry.add, entry.destroy) == (1, 0, 0)
    assert "1 moved" in condition(obj, c.READY).message

    imported = moved + '\nresource "terraform_data" "adopted" {}\n\nimport {\n  to = terraform_data.adopted\n' \
        '  id = "existing-id"\n}\n'
    h.publish("src", remote.bare, remote.commit({"main.tf": imported}))
    h.patch("app", {"spec": {"approvePlan": ""}})
    obj = h.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="the import plan")
    plan = obj["status"]["plan"]
    assert (plan.get("import"), plan["add"], plan["change"], plan["destroy"]) == (1, 0, 0, 0)
    assert "1 to import" in condition(obj, c.READY).message
    h.annotate("app", ANNOTATION_APPROVE_PLAN, plan["pending"])
    h.reconcile_until("app", lambda o: ids(h, "app").get("terraform_data.adopted") == "existing-id",
                      what="the import applied")
