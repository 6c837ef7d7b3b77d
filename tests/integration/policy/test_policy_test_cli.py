"""`tfcontroller policy test` as a subprocess on the `terraform show -json` of a real plan, made here with
real terraform (`terraform_data` only: no provider to download): a delete of a protected resource is
denied (exit 1), a warning passes (exit 0), a broken policy is a compile error naming file:line (exit 2),
and the sensitive variable's value never reaches the output even through a policy that prints its input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

SECRET = "tf-var-secret-4711"

MAIN_BEFORE = """
variable "db_password" {
  type      = string
  sensitive = true
}
resource "terraform_data" "protected" {
  input = { name = "keep-me" }
}
resource "terraform_data" "other" {
  input = { name = "other", owner = "team-a" }
}
"""

MAIN_AFTER = """
variable "db_password" {
  type      = string
  sensitive = true
}
resource "terraform_data" "other" {
  input = { name = "other", owner = "team-a", password = var.db_password }
}
resource "terraform_data" "untagged" {
  input = { name = "untagged" }
}
"""

PROTECT = """package terraform.protect

deny contains msg if {
  some rc in input.resource_changes
  rc.type == "terraform_data"
  rc.name == "protected"
  "delete" in rc.change.actions
  msg := sprintf("%s would be deleted in %s", [rc.address, input.tfcontroller.namespace])
}
"""

OWNER = """package terraform.owner

warn contains msg if {
  some rc in input.resource_changes
  "create" in rc.change.actions
  not rc.change.after.input.owner
  msg := sprintf("%s has no owner", [rc.address])
}

warn contains msg if {
  msg := json.marshal(input)
}
"""


def _tf(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(workdir), "TF_IN_AUTOMATION": "1",
           "TF_VAR_db_password": SECRET, "TF_CLI_CONFIG_FILE": os.devnull}
    return subprocess.run(["terraform", *args], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300, check=True)


@pytest.fixture(scope="module")
def plan_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real plan that deletes terraform_data.protected, updates one resource and creates another."""
    work = tmp_path_factory.mktemp("tf")
    (work / "main.tf").write_text(MAIN_BEFORE)
    _tf(work, "init", "-input=false", "-no-color")
    _tf(work, "apply", "-input=false", "-auto-approve", "-no-color")
    (work / "main.tf").write_text(MAIN_AFTER)
    _tf(work, "plan", "-input=false", "-no-color", "-out=plan.out")
    doc = _tf(work, "show", "-json", "plan.out").stdout
    assert SECRET in doc  # terraform prints the sensitive variable in clear: the CLI must mask it
    path = work / "plan.json"
    path.write_text(doc)
    return path


def _policy_test(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "tfcontroller", "policy", "test", *args], env=env,
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_delete_of_a_protected_resource_is_denied(plan_json: Path, tmp_path: Path) -> None:
    policies = _write(tmp_path / "policies", {"protect.rego": PROTECT, "owner/owner.rego": OWNER,
                                              "protect_test.rego": "this is not even rego"})
    res = _policy_test(str(policies), "--plan", str(plan_json), "--namespace", "team-a", "-o", "json")
    assert res.returncode == 1, res.stderr
    report = json.loads(res.stdout)
    (result,) = report["results"]
    assert report["result"] == "denied" and result["denies"] == ["terraform_data.protected would be deleted in team-a"]
    assert "terraform_data.untagged has no owner" in result["warnings"]
    assert SECRET not in res.stdout + res.stderr
    # the whole input a policy sees, as it sees it: masked
    (whole,) = [json.loads(w) for w in result["warnings"] if w.startswith("{")]
    assert whole["variables"]["db_password"]["value"] == "(hidden)"
    assert whole["tfcontroller"]["namespace"] == "team-a"
    text = _policy_test(str(policies), "--plan", str(plan_json))
    assert text.returncode == 1 and "FAIL - local/policies - terraform_data.protected would be deleted" in text.stdout


def test_warnings_alone_pass(plan_json: Path, tmp_path: Path) -> None:
    policies = _write(tmp_path / "warn", {"owner.rego": OWNER})
    res = _policy_test(str(policies), "--plan", str(plan_json))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "WARN - local/warn - terraform_data.untagged has no owner" in res.stdout
    # enforcement warn turns the protected delete into a warning
    policies = _write(tmp_path / "protect", {"protect.rego": PROTECT})
    res = _policy_test(str(policies), "--plan", str(plan_json), "--enforcement", "warn")
    assert res.returncode == 0 and "WARN - local/protect - terraform_data.protected would be deleted" in res.stdout


def test_a_broken_policy_is_a_compile_error_with_file_and_line(plan_json: Path, tmp_path: Path) -> None:
    policies = _write(tmp_path / "broken", {"a.rego": PROTECT, "sub/b.rego": "package b\n\ndeny[msg] {\n  msg := 1\n}\n"})
    res = _policy_test(str(policies), "--plan", str(plan_json))
    assert res.returncode == 2
    assert f"{policies}/sub/b.rego:3:1: rule 'deny[…]' is Rego v0" in res.stderr


def test_usage_errors(plan_json: Path, tmp_path: Path) -> None:
    policies = _write(tmp_path / "ok", {"protect.rego": PROTECT})
    assert _policy_test(str(tmp_path / "missing"), "--plan", str(plan_json)).returncode == 2
    not_a_plan = _write(tmp_path, {"x.json": "{\"a\": 1}"}) / "x.json"
    res = _policy_test(str(policies), "--plan", str(not_a_plan))
    assert res.returncode == 2 and "terraform show -json" in res.stderr
