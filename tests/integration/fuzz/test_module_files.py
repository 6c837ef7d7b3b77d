"""Module layouts the Terraform fuzz (issue 21) found mishandled, each as a kind:
- a module whose required variables come from its own automatic variables files (`terraform.tfvars`,
  `*.auto.tfvars(.json)`) stalled with MissingVariables before Terraform could run it: now Ready;
- a local module call that names no directory of the artifact (`../../../../etc`, `./missing`), and a
  `.tf.json` that is not JSON, failed every run with TerraformFailed (retried): now Stalled
  `ConfigurationInvalid` after the one run that found it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.terraform_helpers import Harness, condition

pytestmark = pytest.mark.slow

REQUIRED = 'variable "s" {\n  type = string\n}\nresource "terraform_data" "a" {\n  input = var.s\n}\n'


def settled(o: dict[str, Any]) -> bool:
    ready, stalled = condition(o, "Ready"), condition(o, "Stalled")
    return ready is not None and (ready.status == "True" or (stalled is not None and stalled.status == "True"))


def test_module_layouts_settle_with_the_right_reason(harness: Harness, git_file_remote) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({
        "tfvars/main.tf": REQUIRED, "tfvars/terraform.tfvars": 's = "a"\n',
        "auto/main.tf": REQUIRED, "auto/x.auto.tfvars.json": '{"s": "b"}',
        "up/main.tf": 'module "up" {\n  source = "../../../../etc"\n}\n',
        "missing/main.tf": 'module "m" {\n  source = "./nowhere"\n}\n',
        "json/main.tf.json": '{"resource": {"terraform_data": \n'}))
    cases = {"tfvars": ("True", "ApplySucceeded", ""), "auto": ("True", "ApplySucceeded", ""),
             "up": ("False", "ConfigurationInvalid", "Unreadable module directory"),
             "missing": ("False", "ConfigurationInvalid", "Unreadable module directory"),
             "json": ("False", "ConfigurationInvalid", "main.tf.json")}
    for name, (status, reason, text) in cases.items():
        harness.create(name, path=name)
        obj = harness.reconcile_until(name, settled, timeout=90, what=f"{name}: Ready or Stalled")
        ready = condition(obj, "Ready")
        assert ready is not None and (ready.status, ready.reason) == (status, reason), (name, ready)
        assert text in ready.message, (name, ready.message)
