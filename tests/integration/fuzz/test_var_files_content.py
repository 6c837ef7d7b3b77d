"""Variables files whose content can never load (issue 21, found by the Terraform fuzz): a broken
`.tfvars.json` failed every plan with a generic `TerraformFailed` (Terraform's JSON summaries, such as
`Missing value`, were not classified) and was re-planned every backoff. Now a `spec.tfVarsFiles` JSON file
that is not a JSON object stalls with `TfVarsFilesInvalid` before any run, naming the entry; what only
Terraform can judge (HCL syntax of a `.tfvars`, a module's own `*.auto.tfvars.json`) stalls after the one
run that found it (`VariablesInvalid`), never retried."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.terraform_helpers import SIMPLE_TF, Harness, condition

pytestmark = pytest.mark.slow


def stalled(o: dict[str, Any]) -> bool:
    s = condition(o, "Stalled")
    return s is not None and s.status == "True"


def test_broken_variables_files_stall_with_a_clear_reason(harness: Harness, git_file_remote) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({
        "main.tf": SIMPLE_TF, "broken.tfvars.json": '{"greeting": \n', "list.tfvars.json": '["a"]',
        "broken.tfvars": 'greeting = "unterminated\n', "auto/main.tf": SIMPLE_TF,
        "auto/x.auto.tfvars.json": '{"greeting": "a"} trailing'}))
    cases = {  # name: (spec, reason, text in the message)
        "json": ({"tfVarsFiles": ["broken.tfvars.json"]}, "TfVarsFilesInvalid", "spec.tfVarsFiles[0]"),
        "list": ({"tfVarsFiles": ["list.tfvars.json"]}, "TfVarsFilesInvalid", "JSON object"),
        "hcl": ({"tfVarsFiles": ["broken.tfvars"]}, "VariablesInvalid", "broken.tfvars"),
        "auto": ({"path": "auto"}, "VariablesInvalid", "x.auto.tfvars.json"),
    }
    for name, (spec, reason, text) in cases.items():
        harness.create(name, **spec)
        obj = harness.reconcile_until(name, stalled, timeout=90, what=f"{name}: Stalled")
        ready = condition(obj, "Ready")
        assert ready is not None and (ready.reason, text in ready.message) == (reason, True), (name, ready)
        assert not (harness.state(name) or {}).get("resources"), f"{name}: something was applied"
