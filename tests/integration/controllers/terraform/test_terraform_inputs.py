"""Inputs and outputs of a run: vars (any JSON), varsFrom (Secret keys, ConfigMap with JSON for a
non-string type), env and envFrom (seen by Terraform as TF_VAR_*), a sealed value opened only in
memory, missing variables reported by name before Terraform runs, a missing Secret/key named in
VarsGenerationFailed, the outputs Secret (maps/lists as JSON, owned), availableOutputs names only, and
sensitive values never in status, Events or logs. A sealed value replayed in another namespace is refused."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from tests.support.paths import REPO_ROOT
from tests.support.terraform_helpers import NS, SIMPLE_TF, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.crypto.keys import ensure_keys
from tfcontroller.crypto.sealed import seal
from tfcontroller.kube.resources import CONFIGMAPS, NAMESPACES, TERRAFORMS

MODULE = """
variable "plain" { type = string }
variable "number" { type = number }
variable "from_secret" { type = string }
variable "items" { type = list(string) }
variable "from_env" { type = string }
variable "from_envfrom" { type = string }
variable "sealed" {
  type      = string
  sensitive = true
}

resource "terraform_data" "this" {
  input = [var.plain, var.number, var.items, var.from_env, var.from_envfrom]
}

output "plain" { value = var.plain }
output "number" { value = var.number }
output "items" { value = var.items }
output "env" { value = "${var.from_env}/${var.from_envfrom}" }
output "secret" {
  value     = var.from_secret
  sensitive = true
}
output "sealed" {
  value     = var.sealed
  sensitive = true
}
"""

SECRET_VALUE = "s3cr3t-from-secret-value"
SEALED_VALUE = "s3aled-pa55word-value"


@pytest.mark.runner_modes
def test_vars_env_outputs_and_sensitive_values(harness: Harness, git_file_remote,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    kube = harness.kube
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": MODULE}))
    cert = ensure_keys(kube, NS).sealing_cert_pem
    sealed = seal(cert, NS, "app", SEALED_VALUE)

    # Missing variables are reported by name before Terraform runs.
    harness.create("app", vars=[{"name": "plain", "value": "p"}])
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/MissingVariables"
    assert condition(obj, c.STALLED) is not None
    message = condition(obj, c.READY).message
    for name in ("from_envfrom", "from_secret", "items", "number", "sealed"):
        assert name in message
    assert not list(harness.reconciler.runs_dir.iterdir())  # no run directory: terraform never started

    # A missing Secret is named (and a missing key once the Secret exists).
    harness.patch("app", {"spec": {
        "vars": [{"name": "plain", "value": "p"}, {"name": "number", "value": 42},
                 {"name": "sealed", "sealedValue": sealed}],
        "varsFrom": [{"kind": "Secret", "name": "app-secret", "keys": ["from_secret"]},
                     {"kind": "ConfigMap", "name": "app-config"}],
        "env": [{"name": "TF_VAR_from_env", "value": "e1"}],
        "envFrom": [{"kind": "ConfigMap", "name": "app-env"}],
        "writeOutputsToSecret": {"name": "app-outputs"},
    }})
    obj = harness.reconcile("app")
    assert ready_reason(obj) == "False/VarsGenerationFailed"
    assert "Secret default/app-secret not found" in condition(obj, c.READY).message
    kube.upsert_secret(NS, "app-secret", {"other": b"x"})
    obj = harness.reconcile("app")
    assert "key 'from_secret' not found in Secret default/app-secret" in condition(obj, c.READY).message

    kube.upsert_secret(NS, "app-secret", {"from_secret": SECRET_VALUE.encode()})
    kube.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config", "namespace": NS},
                             "data": {"items": '["a", "b"]'}})
    kube.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-env", "namespace": NS},
                             "data": {"TF_VAR_from_envfrom": "e2"}})
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    assert condition(obj, c.OUTPUTS_WRITTEN).status == "True"
    assert obj["status"]["availableOutputs"] == ["env", "items", "number", "plain", "sealed", "secret"]

    outputs = harness.secret("app-outputs")
    assert outputs == {"plain": "p", "number": "42", "items": '["a","b"]', "env": "e1/e2",
                       "secret": SECRET_VALUE, "sealed": SEALED_VALUE}
    owner = kube.get(*_secret("app-outputs"))["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "Terraform" and owner["uid"] == obj["metadata"]["uid"]

    # Sensitive values stay in Secrets: not in status, Events or logs.
    visible = json.dumps(obj["status"]) + json.dumps(harness.events("app")) + caplog.text
    assert SECRET_VALUE not in visible and SEALED_VALUE not in visible
    assert "sealed" in obj["status"]["availableOutputs"]
    assert obj["status"]["sensitiveOutputs"] == ["sealed", "secret"]  # names only, from the state

    # The operator CLI shows plain values, marks the sensitive ones, reveals them only when asked.
    cli = [sys.executable, "-m", "tfcontroller", "outputs", "app", "-n", NS, "--kubeconfig", harness.kubeconfig,
           "-o", "json"]
    shown = json.loads(subprocess.run(cli, capture_output=True, text=True, check=True, cwd=REPO_ROOT,
                                      timeout=60).stdout)
    assert shown["plain"] == {"sensitive": False, "inSecret": True, "value": "p"}
    assert shown["secret"] == {"sensitive": True, "inSecret": True}
    revealed = json.loads(subprocess.run([*cli, "--show-sensitive"], capture_output=True, text=True, check=True,
                                         cwd=REPO_ROOT, timeout=60).stdout)
    assert revealed["sealed"]["value"] == SEALED_VALUE

    # A listed subset only.
    harness.patch("app", {"spec": {"writeOutputsToSecret": {"name": "app-outputs", "outputs": ["plain"]}}})
    harness.reconcile_until("app", lambda o: harness.secret("app-outputs") == {"plain": "p"}, what="subset")


def _secret(name: str) -> tuple:
    from tfcontroller.kube.resources import SECRETS

    return SECRETS, name, NS


@pytest.mark.runner_modes
def test_sealed_value_replayed_in_another_namespace_is_refused(harness: Harness, git_file_remote) -> None:
    kube = harness.kube
    harness.options.allow_cross_namespace_refs = True  # single-team: "other" uses default's source (issue 16)
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": MODULE}))
    sealed = seal(ensure_keys(kube, NS).sealing_cert_pem, NS, "app", SEALED_VALUE)
    kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    kube.create(TERRAFORMS, {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
        "metadata": {"name": "app", "namespace": "other"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "src", "namespace": NS}, "interval": "1h",
                 "approvePlan": "auto", "vars": [{"name": "sealed", "sealedValue": sealed}]}})
    harness.reconciler.reconcile("other/app")
    obj = kube.get(TERRAFORMS, "app", "other")
    assert ready_reason(obj) == "False/SealedValueInvalid"
    assert condition(obj, c.STALLED) is not None
    assert "other/app" in condition(obj, c.READY).message
    assert SEALED_VALUE not in json.dumps(obj["status"])


def test_values_for_undeclared_variables_are_reported_and_the_run_goes_on(harness: Harness,
                                                                          git_file_remote) -> None:
    """Issue 13.5: keys of varsFrom (a ConfigMap, a Secret) and vars that the module does not declare are
    ignored by Terraform ("Value for undeclared variable"): the run applies, a Warning Event and the
    Planned/Ready messages name the keys and where they came from (never a value); once the keys are
    gone the note goes too."""
    kube = harness.kube
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    kube.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": NS},
                             "data": {"greeting": "hej", "regoin": "eu-west-1"}})
    kube.upsert_secret(NS, "creds", {"api_token": b"not-a-value-to-show"})
    harness.create("app", vars=[{"name": "colour", "value": "blue"}],
                   varsFrom=[{"kind": "ConfigMap", "name": "settings"}, {"kind": "Secret", "name": "creds"}])
    obj = harness.reconcile_until("app", lambda o: ready_reason(o) == "True/ApplySucceeded", what="apply")
    assert harness.state("app")["outputs"]["greeting"]["value"] == "hej"  # the declared key is used
    for message in (condition(obj, c.READY).message, condition(obj, c.PLANNED).message):
        assert "'regoin' (from spec.varsFrom[0] (ConfigMap default/settings))" in message, message
        assert "'api_token' (from spec.varsFrom[1] (Secret default/creds))" in message
        assert "'colour' (from spec.vars)" in message
        assert "greeting" not in message.split("note:")[1] and "not-a-value-to-show" not in message
    warnings = [e for e in harness.events("app") if e["reason"] == "UndeclaredVariables"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning" and "'regoin'" in warnings[0]["message"]

    # the keys removed: planned again (other inputs), no note any more
    harness.patch("app", {"spec": {"vars": None, "varsFrom": [
        {"kind": "ConfigMap", "name": "settings", "keys": ["greeting"]}]}})
    obj = harness.reconcile_until("app", lambda o: "note:" not in condition(o, c.READY).message
                                  and ready_reason(o).startswith("True/"), what="no note")
    assert "declares no" not in condition(obj, c.PLANNED).message
