"""`approve NAME --in-file PATH`: the textual edit of spec.approvePlan (comments, key order, other documents
untouched; existing key replaced; flow-style refused) as pure unit tests, and the command end to end on a
temporary Git checkout against the dev cluster (file edited, git command printed and working); a plan
that needs no approval (`auto`) or that no approval applies (`planOnly`) leaves the file alone."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import OTHER_PLAN_ID, PLAN_ID, Run
from tfcontroller.cli.ops_yamledit import EditError, set_approve_plan
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import TERRAFORMS

FILE = """\
# Production bucket: plans wait for approval.
apiVersion: v1
kind: ConfigMap
metadata:
  name: bucket-settings   # read by varsFrom
data:
  region: eu-west-1
---
apiVersion: tfcontroller.io/v1alpha1
kind: Terraform
metadata:
  name: bucket
  namespace: default
spec:
    # the module
    sourceRef:
      name: infra
    path: ./terraform/s3-bucket
    interval: 10m
    vars:
      - name: tags
        value: {team: platform, "cost-center": 42}
---
apiVersion: tfcontroller.io/v1alpha1
kind: Terraform
metadata:
  name: queue
spec:
  sourceRef: {name: infra}
  interval: 5m
  approvePlan: ""   # manual
"""


def test_inserts_first_key_of_spec_with_its_indentation() -> None:
    edit = set_approve_plan(FILE, "bucket", PLAN_ID)
    assert edit.changed
    before, after = FILE.splitlines(), edit.text.splitlines()
    assert len(after) == len(before) + 1
    inserted = after.index("spec:") + 1
    assert after[inserted] == f"    approvePlan: {PLAN_ID}"
    assert after[:inserted] + after[inserted + 1:] == before  # nothing else moved or changed
    docs = list(yaml.safe_load_all(edit.text))
    assert docs[1]["spec"]["approvePlan"] == PLAN_ID
    assert docs[1]["spec"]["vars"][0]["value"] == {"team": "platform", "cost-center": 42}


def test_replaces_existing_value_and_keeps_comment() -> None:
    edit = set_approve_plan(FILE, "queue", PLAN_ID)
    assert f"  approvePlan: {PLAN_ID}   # manual" in edit.text.splitlines()
    assert edit.text.replace(f"approvePlan: {PLAN_ID}", 'approvePlan: ""') == FILE
    again = set_approve_plan(edit.text, "queue", PLAN_ID)
    assert not again.changed and again.text == edit.text


def test_refuses_missing_object_and_flow_style_spec() -> None:
    with pytest.raises(EditError, match="no Terraform named 'roles'"):
        set_approve_plan(FILE, "roles", PLAN_ID)
    with pytest.raises(EditError, match="no Terraform named 'bucket-settings'"):
        set_approve_plan(FILE, "bucket-settings", PLAN_ID)  # a ConfigMap is not a Terraform
    flow = "apiVersion: tfcontroller.io/v1alpha1\nkind: Terraform\nmetadata: {name: x}\nspec: {interval: 1m}\n"
    with pytest.raises(EditError, match="block mapping"):
        set_approve_plan(flow, "x", PLAN_ID)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def test_command_edits_checkout_and_prints_git_command(cli: Run, objects: dict[str, Any], tmp_path: Path) -> None:
    repo = tmp_path / "gitops"
    (repo / "infrastructure").mkdir(parents=True)
    target = repo / "infrastructure" / "bucket.yaml"
    target.write_text(FILE)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init")

    refused = cli("approve", "bucket", "--in-file", str(target), "--plan", OTHER_PLAN_ID)
    assert refused.code == 1 and target.read_text() == FILE

    res = cli("approve", "bucket", "--in-file", str(target))
    assert res.code == 0, res.err
    assert yaml.safe_load_all(target.read_text()).__next__()["kind"] == "ConfigMap"
    assert list(yaml.safe_load_all(target.read_text()))[1]["spec"]["approvePlan"] == PLAN_ID
    command = res.out.splitlines()[-1].strip()
    assert command.startswith("git -C ") and "infrastructure/bucket.yaml" in command
    subprocess.run(["bash", "-c", f"{command.replace('git -C', 'git -c user.name=t -c user.email=t@x -C', 1)}"],
                   check=True, capture_output=True)
    assert _git(repo, "status", "--porcelain") == ""
    assert PLAN_ID in _git(repo, "log", "-1", "--format=%s")


def test_a_plan_no_approval_is_needed_for_or_can_apply_leaves_the_file_alone(
        cli: Run, objects: dict[str, Any], kube: KubeClient, tmp_path: Path) -> None:
    """api/approvable.py: `auto` needs no approval — writing `approvePlan: <id>` would switch auto off, so
    the file is left as it is (exit 0, said why); a planOnly plan is never applied — refused (exit 1)."""
    target = tmp_path / "bucket.yaml"
    target.write_text(FILE)
    kube.patch_status(TERRAFORMS, "queue", "default", {"plan": {"pending": PLAN_ID, "add": 1}})
    res = cli("approve", "queue", "--in-file", str(target))
    assert res.code == 0, res.err
    assert "needs no approval: spec.approvePlan is auto" in res.out and target.read_text() == FILE
    version = kube.get(TERRAFORMS, "queue", "default")["metadata"]["resourceVersion"]
    assert cli("approve", "queue").code == 0  # nor is the annotation written
    assert kube.get(TERRAFORMS, "queue", "default")["metadata"]["resourceVersion"] == version

    kube.patch(TERRAFORMS, "bucket", {"spec": {"planOnly": True}}, "default")
    refused = cli("approve", "bucket", "--in-file", str(target))
    assert refused.code == 1 and "spec.planOnly" in refused.err and target.read_text() == FILE
