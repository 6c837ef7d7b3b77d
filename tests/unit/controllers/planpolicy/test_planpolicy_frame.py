"""The PlanPolicy controller's steps through the shared frame, as a table (inline rego: no cluster, the real
Rego engine compiles): before (spec) → want Ready/Stalled and status fields; and the index values that map a
changed GitRepository or Terraform to the PlanPolicies and PolicyExceptions to reconcile."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, cast

import pytest

from tests.support.kstatus import assert_kstatus
from tfcontroller.api import conditions as c
from tfcontroller.controllers.planpolicy import index_source_ref
from tfcontroller.controllers.planpolicy import steps as s
from tfcontroller.controllers.planpolicy.context import RunContext
from tfcontroller.controllers.planpolicy.exceptions import index_terraform_ref
from tfcontroller.kube.client import KubeClient
from tfcontroller.runtime.policies import PolicyLoader
from tfcontroller.runtime.reconciler import run_frame

GOOD = "package main\n\nimport rego.v1\n\ndeny contains msg if {\n  input.x\n  msg := \"x\"\n}\n"
BROKEN = "package main\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := \"x\"\n"


def policy(spec: dict[str, Any], namespace: str = "team-a", generation: int = 3) -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "PlanPolicy",
            "metadata": {"name": "p", "namespace": namespace, "generation": generation}, "spec": spec}


def run(obj: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    loader = PolicyLoader(cast(KubeClient, None), tmp_path)  # inline rego never reads the cluster
    deps = s.Deps(loader, controller_namespace="tfcontroller-system")
    patched: list[dict[str, Any]] = []
    run_frame(RunContext("team-a", "p"), obj, [functools.partial(step, deps) for step in s.STEPS],
              lambda before, after: patched.append(after))
    assert len(patched) == 1  # one status patch per reconcile
    assert_kstatus(obj)
    return obj


@pytest.mark.parametrize(("spec", "ready", "reason", "stalled", "message"), [
    ({"rego": GOOD}, "True", "PolicyCompiled", False, "1 file compiled at revision inline@sha256:"),
    ({"rego": BROKEN}, "False", "CompileFailed", True, "policy does not compile: inline.rego:"),
    ({"rego": GOOD, "path": "x"}, "False", "SpecValidationFailed", True, "spec.path: only with sourceRef"),
    ({"rego": GOOD, "namespaceSelector": {}}, "False", "SpecValidationFailed", True,
     "spec.namespaceSelector: only a PlanPolicy in the controller's namespace (tfcontroller-system)"),
    ({"rego": GOOD, "enforcement": "block"}, "False", "SpecValidationFailed", True, "spec.enforcement: unsupported"),
])
def test_steps_table(tmp_path: Path, spec: dict[str, Any], ready: str, reason: str, stalled: bool,
                     message: str) -> None:
    obj = run(policy(spec), tmp_path)
    conditions = obj["status"]["conditions"]
    cond = c.find(conditions, c.READY)
    assert cond is not None and (cond.status, cond.reason) == (ready, reason), cond
    assert cond.message.startswith(message), cond.message
    assert (c.find(conditions, c.STALLED) is not None) == stalled
    assert obj["status"]["observedGeneration"] == 3
    if ready == "True":
        assert obj["status"]["files"] == ["inline.rego"] and obj["status"]["digest"].startswith("sha256:")
    else:
        assert "digest" not in obj["status"]


def test_a_failure_keeps_the_last_good_load(tmp_path: Path) -> None:
    obj = run(policy({"rego": GOOD}), tmp_path)
    good = {k: obj["status"][k] for k in ("revision", "digest", "files")}
    obj["spec"]["rego"] = BROKEN
    obj = run(obj, tmp_path)
    assert {k: obj["status"][k] for k in good} == good


def test_a_namespace_selector_is_fine_in_the_controller_namespace(tmp_path: Path) -> None:
    obj = run(policy({"rego": GOOD, "namespaceSelector": {"matchLabels": {"a": "b"}}}, "tfcontroller-system"),
              tmp_path)
    assert c.is_true(obj["status"]["conditions"], c.READY)


def test_index_values_match_the_watched_objects_keys() -> None:
    assert index_source_ref(policy({"sourceRef": {"name": "repo"}})) == ["GitRepository/team-a/repo"]
    assert index_source_ref(policy({"sourceRef": {"name": "repo", "namespace": "ops"}})) == ["GitRepository/ops/repo"]
    assert index_source_ref(policy({"rego": GOOD})) == []
    assert index_source_ref({"metadata": {"name": "x"}, "spec": None}) == []
    pex = {"metadata": {"name": "e", "namespace": "team-a"}, "spec": {"terraformRef": {"name": "orders"}}}
    assert index_terraform_ref(pex) == ["team-a/orders"]
    assert index_terraform_ref({"metadata": {"name": "e"}, "spec": {"terraformRef": {}}}) == []
