"""`tfcontroller get`, `approve` (annotation), `replan`, `suspend`/`resume`, `force-unlock` against the dev
cluster: table columns and -o yaml/json, namespaces and -A, refusals with one line and the documented exit
codes, and the annotations/fields the controller reads."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import yaml

from tests.support.cli import OTHER_PLAN_ID, PLAN_ID, Run, table_rows, terraform
from tfcontroller.dev.cluster import DevCluster
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.resources import GITREPOSITORIES, MANIFESTSETS, NAMESPACES, TERRAFORMS


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()]


def test_get_terraform_table(cli: Run, objects: dict[str, Any]) -> None:
    res = cli("get", "tf")
    assert res.code == 0, res.err
    assert _rows(res.out)[0] == ["NAME", "READY", "REASON", "REVISION", "PLAN", "AGE", "MESSAGE"]
    by_name = {r["NAME"]: r for r in table_rows(res.out)}
    assert (by_name["bucket"]["READY"], by_name["bucket"]["REASON"]) == ("False", "PlanPending")
    assert by_name["bucket"]["PLAN"] == PLAN_ID
    assert by_name["bucket"]["REVISION"] == ""  # attempted, never applied: no revision reads as applied
    assert by_name["bucket"]["MESSAGE"] == f"plan {PLAN_ID} waits for approval"
    assert [by_name["queue"][c] for c in ("READY", "REASON", "REVISION")] == [
        "True", "ApplySucceeded", "main@sha1:0123456789abcdef0123456789abcdef01234567"]
    assert by_name["queue"]["PLAN"] == ""  # no pending plan: the PLAN cell is empty
    assert by_name["queue"]["AGE"].endswith("s")  # age in seconds


def test_get_gitrepo_has_no_plan_column_and_shows_artifact(cli: Run, objects: dict[str, Any]) -> None:
    res = cli("get", "gitrepo", "infra")
    assert res.code == 0, res.err
    rows = _rows(res.out)
    assert rows[0] == ["NAME", "READY", "REASON", "REVISION", "AGE", "MESSAGE"]
    assert rows[1][:4] == ["infra", "True", "Succeeded", "main@sha1:0123456789abcdef0123456789abcdef01234567"]


def test_get_output_yaml_and_json(cli: Run, objects: dict[str, Any]) -> None:
    one = yaml.safe_load(cli("get", "terraform", "bucket", "-o", "yaml").out)
    assert one["kind"] == "Terraform" and one["status"]["plan"]["pending"] == PLAN_ID
    many = json.loads(cli("get", "terraforms", "-o", "json").out)
    assert many["kind"] == "List"
    assert sorted(i["metadata"]["name"] for i in many["items"]) == ["bucket", "queue"]


def test_get_namespaces_and_all_namespaces(cli: Run, kube: KubeClient, objects: dict[str, Any]) -> None:
    kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    kube.create(TERRAFORMS, terraform("roles", namespace="team"))
    assert [r[0] for r in _rows(cli("get", "tf", "-n", "team").out)[1:]] == ["roles"]
    rows = _rows(cli("get", "tf", "-A").out)
    assert rows[0][:2] == ["NAMESPACE", "NAME"]
    assert sorted((r[0], r[1]) for r in rows[1:]) == [("default", "bucket"), ("default", "queue"), ("team", "roles")]
    roles = _rows(cli("get", "tf", "-A").out)
    assert any(r[1] == "roles" and r[2] == "Unknown" for r in roles)  # no status yet
    empty = cli("get", "ms")
    assert empty.code == 0 and "No manifestsets found in namespace default" in empty.out


def test_get_not_found_and_unknown_kind(cli: Run, objects: dict[str, Any]) -> None:
    res = cli("get", "tf", "nope")
    assert res.code == 3
    assert res.err.strip() == 'error: Terraform "nope" not found in namespace "default"'
    res = cli("get", "pods")
    assert res.code == 2 and res.err.startswith("tfcontroller get: error: unknown kind 'pods'")


def test_approve_sets_annotation_for_the_pending_plan(cli: Run, kube: KubeClient, objects: dict[str, Any]) -> None:
    res = cli("approve", "bucket")
    assert res.code == 0, res.err
    assert PLAN_ID in res.out
    ann = kube.get(TERRAFORMS, "bucket", "default")["metadata"]["annotations"]
    assert ann["tfcontroller.io/approve-plan"] == PLAN_ID
    # issue 17: who approved, as the API server sees the kubeconfig's user, for exactly this plan
    assert json.loads(ann["tfcontroller.io/approved-by"]) == {
        "plan": PLAN_ID, "username": "dev-cluster-admin", "groups": ["system:masters", "system:authenticated"],
        "via": "cli"}
    assert cli("approve", "bucket", "--plan", PLAN_ID).code == 0


def test_approving_a_suspended_terraform_says_it_applies_after_resume(cli: Run, kube: KubeClient,
                                                                      objects: dict[str, Any]) -> None:
    """The approval of a suspended object stands (it binds to the plan), but nothing is applied until it
    is resumed: `approve` says so instead of promising an apply, and the repeated approval does too."""
    assert cli("suspend", "bucket").code == 0
    res = cli("approve", "bucket")
    assert res.code == 0, res.err
    assert res.out == f"terraform.tfcontroller.io/bucket approved plan {PLAN_ID}\n"
    assert res.err == ("note: terraform.tfcontroller.io/bucket is suspended: the plan is applied once it is resumed "
                       "(tfcontroller resume terraform bucket -n default)\n")
    assert kube.get(TERRAFORMS, "bucket", "default")["metadata"]["annotations"]["tfcontroller.io/approve-plan"] \
        == PLAN_ID
    again = cli("approve", "bucket")
    assert again.out == (f"terraform.tfcontroller.io/bucket plan {PLAN_ID} is already approved; it is applied once "
                         "the object is resumed\n")
    assert cli("resume", "bucket").code == 0
    resumed = cli("approve", "bucket")
    assert (resumed.out, resumed.err) == (
        f"terraform.tfcontroller.io/bucket plan {PLAN_ID} is already approved; the controller applies it\n", "")


def test_approve_refuses_other_plan_and_nothing_pending(cli: Run, kube: KubeClient, objects: dict[str, Any]) -> None:
    res = cli("approve", "bucket", "--plan", OTHER_PLAN_ID)
    assert res.code == 1
    assert res.err.count("\n") == 1 and "is not the pending plan" in res.err and PLAN_ID in res.err
    assert "tfcontroller.io/approve-plan" not in (kube.get(TERRAFORMS, "bucket", "default")["metadata"]
                                                  .get("annotations") or {})
    res = cli("approve", "queue")
    assert res.code == 1 and res.err.strip() == "error: Terraform default/queue has no pending plan: nothing to approve"
    assert cli("approve", "ghost").code == 3


def test_replan_force_unlock_annotations(cli: Run, kube: KubeClient, objects: dict[str, Any]) -> None:
    res = cli("replan", "bucket", "--no-wait")
    assert res.code == 0 and res.out == "terraform.tfcontroller.io/bucket replan requested\n", res.err
    first = kube.get(TERRAFORMS, "bucket", "default")["metadata"]["annotations"]["tfcontroller.io/replan"]
    assert cli("replan", "bucket", "--no-wait").code == 0
    second = kube.get(TERRAFORMS, "bucket", "default")["metadata"]["annotations"]["tfcontroller.io/replan"]
    assert first != second  # every request is a new value, so the controller sees a change
    assert cli("force-unlock", "bucket").code == 2  # --lock-id is required


def test_suspend_and_resume_any_kind(cli: Run, kube: KubeClient, objects: dict[str, Any]) -> None:
    res = cli("suspend", "bucket")
    assert res.code == 0 and res.out == "terraform.tfcontroller.io/bucket suspended\n"
    assert kube.get(TERRAFORMS, "bucket", "default")["spec"]["suspend"] is True
    again = cli("suspend", "terraform/bucket")  # a second suspend changes nothing and says so
    assert again.code == 0 and again.out == "terraform.tfcontroller.io/bucket already suspended\n"
    assert _rows(cli("get", "tf", "bucket").out)[1][2] == "Suspended"
    assert cli("resume", "terraform", "bucket").out == "terraform.tfcontroller.io/bucket resumed\n"
    assert kube.get(TERRAFORMS, "bucket", "default")["spec"]["suspend"] is False
    assert cli("resume", "bucket").out == "terraform.tfcontroller.io/bucket already resumed\n"
    assert cli("resume", "gitrepo/infra").out == "gitrepository.tfcontroller.io/infra already resumed\n"
    assert cli("suspend", "gitrepo/infra").out == "gitrepository.tfcontroller.io/infra suspended\n"
    assert kube.get(GITREPOSITORIES, "infra", "default")["spec"]["suspend"] is True
    res = cli("suspend", "ms", "missing")
    assert res.code == 3 and "ManifestSet" in res.err
    assert MANIFESTSETS.kind == "ManifestSet"


def test_context_namespace_and_subprocess_errors(dev_cluster: DevCluster, objects: dict[str, Any],
                                                 tmp_path: Any) -> None:
    """Run as operators do (a process, KUBECONFIG from the environment): no traceback, exit codes kept."""
    env = {"KUBECONFIG": str(dev_cluster.kubeconfig), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "tfcontroller", "get", "tf", "bucket"], capture_output=True,
                        text=True, env=env, timeout=60)
    assert ok.returncode == 0 and "bucket" in ok.stdout
    missing = subprocess.run([sys.executable, "-m", "tfcontroller", "approve", "nope"], capture_output=True,
                             text=True, env=env, timeout=60)
    assert missing.returncode == 3
    assert missing.stderr.strip() == 'error: Terraform "nope" not found in namespace "default"'


def test_missing_kubeconfig_is_one_line(cli: Run, tmp_path: Any) -> None:
    res = cli("get", "tf", "--kubeconfig", str(tmp_path / "absent"), kubeconfig=False)
    assert res.code == 1
    assert res.err == (f"error: kubeconfig {tmp_path / 'absent'} (from --kubeconfig) does not exist; pass the "
                       "path of a kubeconfig file\n")
