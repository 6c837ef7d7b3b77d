"""`plan show`: a real plan made by terraform (builtin terraform_data, a sensitive variable), stored with
the controller's own plan store, keys and readable-plan store on the dev cluster, rendered readable
(from the readable form, no Terraform) and as --json (from the encrypted plan) with the secret masked;
colour only when asked; refusals when nothing is pending, the plan or its readable form is not stored.
Also the pure masking of a show -json document, and plans terraform cannot read. The whole path with the
real controller, no terraform on PATH and no access to the keys: tests/integration/controllers/terraform/
test_terraform_plan_view.py."""

from __future__ import annotations

import io
import json
import os
import subprocess
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.cli import OTHER_PLAN_ID, PLAN_ID, Run
from tfcontroller.cli.main import CLIError
from tfcontroller.cli.ops_plan import mask_show_json, show_json
from tfcontroller.crypto.keys import ensure_keys
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import NAMESPACES, SECRETS, TERRAFORMS
from tfcontroller.terraform.plan_store import save_plan
from tfcontroller.terraform.plan_view import build_plan_view
from tfcontroller.terraform.plan_view_store import save_plan_view

SECRET = "hunter2-very-secret"
MODULE = """
variable "password" {
  type      = string
  sensitive = true
}
resource "terraform_data" "bucket" {
  input = { name = "acme-prod-assets", password = var.password }
}
output "bucket_name" { value = terraform_data.bucket.input.name }
"""


@pytest.fixture(scope="module")
def planfile(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    work = tmp_path_factory.mktemp("module")
    (work / "main.tf").write_text(MODULE)
    (work / "cli.tfrc").write_text("")
    env = {"PATH": os.environ["PATH"], "HOME": str(work), "TF_CLI_CONFIG_FILE": str(work / "cli.tfrc"),
           "TF_IN_AUTOMATION": "1", "TF_VAR_password": SECRET}
    for args in (["init", "-input=false"], ["plan", "-input=false", "-out=plan.bin"]):
        subprocess.run(["terraform", *args], cwd=work, env=env, check=True, capture_output=True, timeout=120)
    return (work / "plan.bin").read_bytes()


@pytest.fixture(scope="module")
def view(planfile: bytes) -> dict[str, Any]:
    """The readable form the controller stores with this plan."""
    return build_plan_view(show_json(planfile), plan_id=PLAN_ID, revision="main@sha1:" + "0123456789" * 4,
                           created_at="2026-01-01T00:00:00Z", is_drift=False, is_destroy=False)


@pytest.fixture
def stored(kube: KubeClient, objects: dict[str, Any], planfile: bytes, view: dict[str, Any]) -> dict[str, Any]:
    kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tfcontroller-system"}})
    keys = ensure_keys(kube, "tfcontroller-system")
    save_plan(kube, objects["bucket"], "default", PLAN_ID, planfile, keys.keyring)
    save_plan_view(kube, objects["bucket"], "default", PLAN_ID, view)
    return objects["bucket"]


def test_plan_show_readable_and_masked(cli: Run, stored: dict[str, Any]) -> None:
    res = cli("plan", "show", "bucket")
    assert res.code == 0, res.err
    assert res.err == ""  # no log line of the Terraform runner it uses (issue 13, point 14)
    assert SECRET not in res.out and "\033[" not in res.out
    assert f"pending plan {PLAN_ID}" in res.out
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in res.out
    assert "+ terraform_data.bucket (create)" in res.out
    assert 'input.name = "acme-prod-assets"' in res.out
    assert "input.password = (sensitive)" in res.out
    assert f"tfcontroller approve bucket --plan {PLAN_ID}" in res.out
    colored = cli("plan", "show", "bucket", "--color", "always")
    assert "\033[32m  + terraform_data.bucket" in colored.out and SECRET not in colored.out


def test_plan_show_json_masked(cli: Run, stored: dict[str, Any]) -> None:
    res = cli("plan", "show", "bucket", "--json")
    assert res.code == 0, res.err
    assert SECRET not in res.out
    doc = json.loads(res.out)
    change = doc["resource_changes"][0]["change"]
    assert change["after"]["input"] == {"name": "acme-prod-assets", "password": "(sensitive)"}
    assert doc["variables"]["password"]["value"] == "(hidden)"


def test_plan_show_needs_no_terraform_and_json_reads_the_rendering_stored_with_the_plan(
        cli: Run, kube: KubeClient, stored: dict[str, Any], planfile: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The readable diff comes from the readable form: no Terraform runs (none is reachable here). `--json`
    reads the controller's `show -json` stored with the encrypted plan (no Terraform either), masked the
    same way; a plan stored without it (an earlier version) needs Terraform for --json, and says so."""
    keys = ensure_keys(kube, "tfcontroller-system")
    doc = show_json(planfile)
    save_plan(kube, stored, "default", PLAN_ID, planfile, keys.keyring, show=doc)
    monkeypatch.setenv("TFCONTROLLER_TERRAFORM_BINARY", "/nonexistent/terraform")  # would fail if run
    monkeypatch.setenv("PATH", "/nonexistent")
    res = cli("plan", "show", "bucket")
    assert res.code == 0 and res.err == "", res.err
    assert "+ terraform_data.bucket (create)" in res.out and "input.password = (sensitive)" in res.out
    assert SECRET not in res.out
    res = cli("plan", "show", "bucket", "--json")
    assert json.loads(res.out)["variables"]["password"]["value"] == "(hidden)" and SECRET not in res.out
    save_plan(kube, stored, "default", PLAN_ID, planfile, keys.keyring)
    res = cli("plan", "show", "bucket", "--json")
    assert res.code == 1 and res.err.startswith("error: rendering a plan needs terraform"), res.err
    assert cli("plan", "show", "bucket").code == 0  # the readable diff does not care


def test_plan_show_without_a_readable_form_says_what_to_do(cli: Run, kube: KubeClient, stored: dict[str, Any]) -> None:
    """A plan stored by an earlier controller version has no readable form: `plan show` names the two ways
    on (--json with the keys, or plan again), and exits 3 (not found)."""
    kube.delete(SECRETS, "tfplanview-default-bucket", "default")
    res = cli("plan", "show", "bucket")
    assert res.code == 3, res.err
    assert "tfplanview-default-bucket" in res.err and "is not stored" in res.err
    assert "tfcontroller plan show bucket --json -n default" in res.err and "tfcontroller replan bucket -n default" in res.err
    res = cli("plan", "show", "bucket", "--json")
    assert res.code == 0 and SECRET not in res.out


def test_plan_show_view_of_another_plan_is_not_shown(cli: Run, kube: KubeClient, stored: dict[str, Any],
                                                     view: dict[str, Any]) -> None:
    """The readable form is of another plan than the pending one (a new plan is being stored): refused,
    never shown as if it were the pending plan."""
    save_plan_view(kube, stored, "default", OTHER_PLAN_ID, {**view, "planId": OTHER_PLAN_ID})
    res = cli("plan", "show", "bucket")
    assert res.code == 3 and "is not stored" in res.err and OTHER_PLAN_ID not in res.out


def test_plan_show_refusals(cli: Run, kube: KubeClient, stored: dict[str, Any]) -> None:
    res = cli("plan", "show", "queue")
    assert res.code == 1 and res.err.strip() == "error: Terraform default/queue has no pending plan"
    kube.patch_status(TERRAFORMS, "bucket", "default", {"plan": {"pending": "plan-main-0123456789-00000000"}})
    res = cli("plan", "show", "bucket")
    assert res.code == 3 and "not stored" in res.err
    res = cli("plan", "show", "bucket", "--json", "--controller-namespace", "elsewhere")
    assert res.code == 3 and "--controller-namespace" in res.err


def test_mask_show_json_unit() -> None:
    doc = {
        "variables": {"token": {"value": "abc"}},
        "resource_changes": [{"address": "a.b", "change": {
            "actions": ["update"], "before": {"k": "old-secret", "n": 1}, "after": {"k": "new-secret", "n": 2},
            "before_sensitive": {"k": True}, "after_sensitive": {"k": True}, "after_unknown": {}}}],
        "output_changes": {"pw": {"actions": ["create"], "after": "s3cr3t", "after_sensitive": True}},
        "planned_values": {"outputs": {"pw": {"sensitive": True, "value": "s3cr3t"}},
                           "root_module": {"resources": [{"values": {"k": "new-secret"},
                                                          "sensitive_values": {"k": True}}]}},
        "prior_state": {"values": {"root_module": {"child_modules": [
            {"resources": [{"values": {"k": "old-secret"}, "sensitive_values": {"k": True}}]}]}}},
    }
    text = json.dumps(mask_show_json(doc))
    for secret in ("abc", "old-secret", "new-secret", "s3cr3t"):
        assert secret not in text
    masked = mask_show_json(doc)
    assert masked["resource_changes"][0]["change"]["after"] == {"k": "(sensitive)", "n": 2}
    assert doc["variables"]["token"]["value"] == "abc"  # the input is not modified




def _rezip(planfile: bytes, replace: dict[str, bytes]) -> bytes:
    """The plan archive with some members' bytes replaced (a plan terraform cannot read)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(planfile)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("make", [
    pytest.param(lambda plan: _zip({}), id="empty-archive"),
    pytest.param(lambda plan: _zip({"tfplan": b"not a plan"}), id="garbage-member"),
    pytest.param(lambda plan: _rezip(plan, {"tfplan": b"\x00" * 16}), id="real-plan-corrupted"),
])
def test_show_json_unreadable_plan_is_a_cli_error(planfile: bytes, make: Callable[[bytes], bytes]) -> None:
    """Whatever way terraform fails to read a stored plan, the operator gets one CLIError line (the
    `except` once named a type alias, which Python cannot catch, and crashed with a TypeError)."""
    with pytest.raises(CLIError, match="terraform could not read the stored plan"):
        show_json(make(planfile))


def test_plan_show_prints_policy_results_and_approve_refuses_a_denied_plan(cli: Run, kube: KubeClient,
                                                                          stored: dict[str, Any]) -> None:
    """Issue 18: the policy results and exceptions under the diff; a denied plan shows why it cannot be
    approved instead of the approve command, and `tfcontroller approve` refuses it with the messages."""
    denied = {"result": "denied", "policiesDigest": "sha256:1", "results": [
        {"policy": "default/protect", "enforcement": "deny", "result": "denied",
         "messages": ["terraform_data.bucket would be replaced: it is protected"]},
        {"policy": "default/tags", "enforcement": "warn", "result": "waived", "messages": ["no owner tag"],
         "exception": "tags-later"}]}
    kube.patch_status(TERRAFORMS, "bucket", "default", {"plan": {"pending": PLAN_ID, "policy": denied}})
    res = cli("plan", "show", "bucket")
    assert res.code == 0, res.err
    tail = res.out.split("Plan: 1 to add", 1)[1]
    assert "Policy check: denied" in tail
    assert "  denied: default/protect\n    - terraform_data.bucket would be replaced: it is protected" in tail
    assert "  waived: default/tags (PolicyException tags-later)\n    - no owner tag" in tail
    assert f"tfcontroller approve bucket --plan {PLAN_ID}" not in res.out
    assert f"Plan {PLAN_ID} is denied by policy" in res.out
    refused = cli("approve", "bucket", "--plan", PLAN_ID)
    assert refused.code != 0
    assert "default/protect: terraform_data.bucket would be replaced: it is protected" in refused.err
    annotations = kube.get(TERRAFORMS, "bucket", "default")["metadata"].get("annotations") or {}
    assert "tfcontroller.io/approve-plan" not in annotations
