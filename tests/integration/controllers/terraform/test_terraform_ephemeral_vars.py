"""An `ephemeral = true` variable (Terraform 1.10+: not stored in the saved plan) set from a Secret through
`vars[].valueFrom`, with the real reconciler, real terraform, real git and the dev cluster, in both runner
modes (review s19, finding 1): the plan is applied — the apply is given the object's variables files again —
and a destroy on deletion completes, so the object does not stay Terminating. The value never reaches the
state."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.terraform_helpers import NS, Harness, ready_reason
from tfcontroller.kube.resources import TERRAFORMS

PASSWORD = "eph-pw-9c8b7a-from-a-secret"
MODULE = """
variable "db_password" {
  type      = string
  ephemeral = true
}
variable "size" { type = number }
resource "terraform_data" "db" {
  input = var.size
  lifecycle {
    precondition {
      condition     = length(var.db_password) > 8
      error_message = "db_password must arrive"
    }
  }
}
output "size" { value = terraform_data.db.output }
"""


@pytest.mark.runner_modes
def test_an_ephemeral_variable_from_a_secret_applies_and_destroys(harness: Harness, git_file_remote: Any) -> None:
    kube = harness.kube
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"db/main.tf": MODULE, "db/zz.auto.tfvars": "size = 1\n"}))
    kube.upsert_secret(NS, "db", {"password": PASSWORD.encode()})
    harness.create("db", path="./db", destroyResourcesOnDeletion=True, vars=[
        {"name": "size", "value": 3},
        {"name": "db_password", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}])
    harness.reconcile_until("db", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    state = harness.state("db")
    assert state is not None and state["outputs"]["size"]["value"] == 3  # the object's value beat zz.auto
    assert PASSWORD not in str(state)

    kube.delete(TERRAFORMS, "db", NS)
    harness.reconciler.reconcile(f"{NS}/db")
    assert kube.get_or_none(TERRAFORMS, "db", NS) is None
    assert "DestroySucceeded" in {e["reason"] for e in harness.events("db")}
