"""Issue 20 inputs with the real reconciler, real terraform, real git and the dev cluster, in both runner
modes: `spec.tfVarsFiles` (a `.tfvars` beside the module and a `.tfvars.json` one directory up, loaded in
order, spec.vars winning, both over the module's own terraform.tfvars and `*.auto.tfvars(.json)` files; a required variable set only by a file passes the missing-variables check; a
change of a file outside the module's directory plans again), `spec.vars[].valueFrom` (a Secret key the
module does not declare sensitive stays out of the readable plan, status, Events and logs; a ConfigMap
key decoded for a number; an optional missing key leaves the default), and `writeOutputsToSecret` labels,
annotations and `output:key` renaming (a label dropped from the spec leaves the Secret, what others put
there stays). Bad input: a listed file missing from the revision stalls `TfVarsFilesInvalid` before any
run; a missing Secret of a valueFrom is `VarsGenerationFailed` naming the field."""

from __future__ import annotations

import base64
import gzip
import json
import logging
from typing import Any

import pytest

from tests.support.terraform_helpers import NS, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_APPROVE_PLAN
from tfcontroller.kube.resources import CONFIGMAPS, SECRETS

TOKEN = "tok-20-from-a-secret-5e4d3c"  # a Secret's value the module takes as a plain (not sensitive) variable
MODULE = """
variable "region" { type = string }
variable "size" { type = number }
variable "env_name" { type = string }
variable "token" { type = string }
variable "port" { type = number }
variable "tier" {
  type    = string
  default = "standard"
}
resource "terraform_data" "app" {
  input = { region = var.region, size = var.size, env = var.env_name, token = var.token, port = var.port,
            tier = var.tier }
}
output "region" { value = var.region }
output "size" { value = var.size }
output "env_name" { value = var.env_name }
output "port" { value = var.port }
output "tier" { value = var.tier }
output "token" { value = "token-${var.token}" }
"""
BASE_TFVARS = 'region = "eu-base"\nsize = 3\nenv_name = "from-file"\n'
COMMON = {"region": "eu-common", "size": 1}
# The module's own variables files (review of issue 20, finding 8): Terraform loads them by itself, the
# automatic ones by name — `values.` and `zz.` sort after any `tfcontroller…` name — and the object's
# tfVarsFiles and vars must still win over every one of them.
MODULE_OWN = {"infra/app/terraform.tfvars": 'region = "mod-terraform-tfvars"\nsize = 100\n',
              "infra/app/a.auto.tfvars": 'region = "mod-a-auto"\n',
              "infra/app/values.auto.tfvars.json": json.dumps({"region": "mod-values-auto", "size": 101}),
              "infra/app/zz.auto.tfvars": 'region = "mod-zz-auto"\nsize = 102\n'}
FILES = {"infra/app/main.tf": MODULE, "infra/app/base.tfvars": BASE_TFVARS,
         "infra/common.tfvars.json": json.dumps(COMMON), **MODULE_OWN}
VIEW = "tfplanview-default-app"


def _stored_view(harness: Harness) -> str:
    secret = harness.kube.get(SECRETS, VIEW, NS)
    return gzip.decompress(base64.b64decode(secret["data"]["view"])).decode()


def _bad_inputs(harness: Harness) -> None:
    """A listed file the revision lacks stalls before any run; so does a path to a directory. A missing
    Secret of a valueFrom is named (retried: it may yet be created)."""
    harness.create("app", path="infra/app", approvePlan="", tfVarsFiles=["base.tfvars", "missing.tfvars"])
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/TfVarsFilesInvalid"
    assert condition(obj, c.STALLED) is not None
    message = condition(obj, c.READY).message
    assert "spec.tfVarsFiles[1]: 'missing.tfvars' (artifact path 'infra/app/missing.tfvars')" in message
    assert "fix the path (relative to spec.path 'infra/app')" in message
    assert not list(harness.reconciler.runs_dir.iterdir())  # no run directory: terraform never started

    harness.patch("app", {"spec": {"tfVarsFiles": ["base.tfvars", "../common.tfvars.json"], "vars": [
        {"name": "size", "value": 7},
        {"name": "token", "valueFrom": {"secretKeyRef": {"name": "app-token", "key": "token"}}},
        {"name": "port", "valueFrom": {"configMapKeyRef": {"name": "app-settings", "key": "port"}}},
        {"name": "tier", "valueFrom": {"configMapKeyRef": {"name": "app-settings", "key": "tier",
                                                           "optional": True}}},
    ]}})
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/VarsGenerationFailed"
    assert "spec.vars[1].valueFrom: Secret default/app-token not found" in condition(obj, c.READY).message
    harness.kube.upsert_secret(NS, "app-token", {"other": b"x"})
    obj = harness.reconcile("app")
    assert "spec.vars[1].valueFrom: key 'token' not found in Secret default/app-token" in \
        condition(obj, c.READY).message


@pytest.mark.runner_modes
def test_tfvars_files_value_from_and_outputs_secret_metadata(harness: Harness, git_file_remote: Any,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    kube = harness.kube
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit(FILES))
    _bad_inputs(harness)

    kube.upsert_secret(NS, "app-token", {"token": TOKEN.encode()})
    kube.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "app-settings", "namespace": NS}, "data": {"port": "8443"}})
    harness.patch("app", {"spec": {"writeOutputsToSecret": {
        "name": "app-outputs", "outputs": ["region:aws_region", "size", "env_name", "port", "tier", "token"],
        "labels": {"team": "payments", "tier": "gold"}, "annotations": {"example.com/owner": "team payments"}}}})
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "False/PlanPending", what="a pending plan")
    assert TOKEN not in _stored_view(harness)  # from a Secret: masked although the module calls it plain

    harness.annotate("app", ANNOTATION_APPROVE_PLAN, obj["status"]["plan"]["pending"])
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    outputs = {k: v["value"] for k, v in harness.state("app")["outputs"].items()}
    # the later file wins over the earlier, spec.vars over both, and both over every file of the module's own
    # (MODULE_OWN); env_name is set by a file only
    assert outputs == {"region": "eu-common", "size": 7, "env_name": "from-file", "port": 8443,
                       "tier": "standard", "token": f"token-{TOKEN}"}
    secret = kube.get(SECRETS, "app-outputs", NS)
    assert harness.secret("app-outputs") == {"aws_region": "eu-common", "size": "7", "env_name": "from-file",
                                             "port": "8443", "tier": "standard", "token": f"token-{TOKEN}"}
    assert secret["metadata"]["labels"]["team"] == "payments" and secret["metadata"]["labels"]["tier"] == "gold"
    assert secret["metadata"]["labels"]["tfcontroller.io/terraform"] == "app"
    assert secret["metadata"]["annotations"]["example.com/owner"] == "team payments"
    visible = json.dumps(obj["status"]) + json.dumps(harness.events("app")) + caplog.text
    assert TOKEN not in visible

    # A new commit that changes only the file outside the module's directory plans (and applies) again.
    digest = obj["status"]["inputsDigest"]
    harness.annotate("app", ANNOTATION_APPROVE_PLAN, None)
    harness.patch("app", {"spec": {"approvePlan": "auto"}})
    harness.publish("src", remote.bare, remote.commit({"infra/common.tfvars.json": json.dumps(
        {**COMMON, "region": "eu-moved"})}))
    obj = harness.reconcile_until("app", lambda o: harness.secret("app-outputs").get("aws_region") == "eu-moved"
                                  and ready_reason(o) == "True/ApplySucceeded", what="re-plan on a tfvars change")
    assert obj["status"]["inputsDigest"] != digest

    # A label dropped from the spec leaves the Secret; one somebody else added stays; a rename moves the key.
    kube.patch(SECRETS, "app-outputs", {"metadata": {"labels": {"backup": "daily"}}}, NS)
    harness.patch("app", {"spec": {"writeOutputsToSecret": {  # a merge patch: null removes
        "name": "app-outputs", "outputs": ["region", "port:https_port"], "labels": {"tier": None},
        "annotations": None}}})
    harness.reconcile_until("app", lambda o: harness.secret("app-outputs") == {"region": "eu-moved",
                                                                                 "https_port": "8443"},
                            what="renamed outputs")
    meta = kube.get(SECRETS, "app-outputs", NS)["metadata"]
    assert meta["labels"].get("team") == "payments" and "tier" not in meta["labels"]
    assert meta["labels"].get("backup") == "daily"
    assert "example.com/owner" not in (meta.get("annotations") or {})
