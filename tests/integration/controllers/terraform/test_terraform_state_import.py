"""Moving an existing stack in (issue 20): a state applied by real `terraform` with a local backend,
imported with `tfcontroller state import` into a new object's kubernetes-backend state Secret, makes that
object's first plan show no changes (Terraform read the imported resources), keeps the state's lineage and
records the object as the state's owner (design.md §4.8); `state pull` prints it back. A second import is
refused while the state holds resources, and with `--force` naming a stale serial; `--force` with the
current serial replaces it with a higher serial. Files that are not a state, an unknown object and a
locked state are refused without touching the cluster's state.

Ownership (design.md §4.8): the import applies the controller's own rule, so every state Secret the
controller would refuse to plan on — owned by another live object, a legacy unannotated one another object
has used, one whose owner is gone, one nobody here has used — is refused with the very reason and message
of the controller's Stalled condition, and the Secret is left as it was; the take-over annotation lets it
through, as it does the controller. After an import the object is asked to plan again (replan +
requested-at), so an object already applied with the same inputs plans on the imported state at its next
reconcile instead of reporting "up to date"; a suspended object keeps that request until it is resumed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.terraform_helpers import NS, SIMPLE_TF, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import (
    ANNOTATION_APPROVE_PLAN,
    ANNOTATION_REPLAN,
    ANNOTATION_REQUESTED_AT,
    ANNOTATION_STATE_OWNER,
    ANNOTATION_TAKE_OVER_STATE,
)
from tfcontroller.cli.main import main
from tfcontroller.kube.resources import LEASES, SECRETS


def _local_state(tmp: Path, greeting: str = "hello") -> Path:
    """Apply SIMPLE_TF with Terraform's local backend, as a team's existing stack: its terraform.tfstate."""
    work = tmp / "existing"
    work.mkdir(parents=True)
    (work / "main.tf").write_text(SIMPLE_TF)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "TF_IN_AUTOMATION": "1"}
    for argv in (["terraform", "init", "-input=false"],
                 ["terraform", "apply", "-auto-approve", "-input=false", f"-var=greeting={greeting}"]):
        subprocess.run(argv, cwd=work, env=env, check=True, capture_output=True, timeout=300)
    return work / "terraform.tfstate"


def _cli(capsys: pytest.CaptureFixture[str], harness: Harness, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*argv, "--kubeconfig", str(harness.kubeconfig)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.runner_modes
def test_an_imported_local_state_plans_no_changes(harness: Harness, git_file_remote, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    state_file = _local_state(tmp_path)
    original = json.loads(state_file.read_text())
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.create("moved", writeOutputsToSecret={"name": "moved-outputs"})

    code, out, err = _cli(capsys, harness, "state", "import", "moved", "--from", str(state_file))
    assert code == 0, err
    assert "into Secret default/tfstate-default-moved" in out
    secret = harness.kube.get(SECRETS, "tfstate-default-moved", NS)
    assert secret["metadata"]["annotations"][ANNOTATION_STATE_OWNER] == "moved"
    assert secret["metadata"]["labels"]["tfstateSecretSuffix"] == "moved"

    obj = harness.reconcile_until("moved", lambda o: ready_reason(o).startswith("True/"), what="first plan")
    assert ready_reason(obj) == "True/NoChanges", obj["status"]
    state = harness.state("moved")
    assert state is not None and state["lineage"] == original["lineage"]
    assert [r["name"] for r in state["resources"]] == ["this"]
    assert harness.secret("moved-outputs") == {"greeting": "hello"}

    code, out, _ = _cli(capsys, harness, "state", "pull", "moved")
    assert code == 0 and json.loads(out)["lineage"] == original["lineage"]
    serial = json.loads(out)["serial"]

    again = _local_state(tmp_path / "again", greeting="other")
    code, _, err = _cli(capsys, harness, "state", "import", "moved", "--from", str(again))
    assert code == 1 and f"pass --force {serial}" in err
    code, _, err = _cli(capsys, harness, "state", "import", "moved", "--from", str(again), "--force", str(serial + 5))
    assert code == 1 and f"its serial is {serial}" in err
    code, _, err = _cli(capsys, harness, "state", "import", "moved", "--from", str(again), "--force", str(serial))
    assert code == 0, err
    assert "another lineage" in err
    replaced = harness.state("moved")
    assert replaced is not None and replaced["serial"] > serial
    assert replaced["resources"][0]["instances"][0]["attributes"]["input"]["value"] == "other"


@pytest.mark.parametrize(("content", "fragment"), [
    ("", "the file is empty"),
    ("{not json", "not JSON"),
    ('{"version": 3, "serial": 1, "lineage": "x"}', "version 3 is not supported"),
    ('{"version": 4, "serial": 1}', "no lineage"),
])
def test_a_file_that_is_not_a_state_is_refused(harness: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               content: str, fragment: str) -> None:
    bad = tmp_path / "bad.tfstate"
    bad.write_text(content)
    code, _, err = _cli(capsys, harness, "state", "import", "nothing", "--from", str(bad))
    assert code == 1 and fragment in err


def test_unknown_object_locked_state_and_other_owner_are_refused(harness: Harness, git_file_remote, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    state_file = _local_state(tmp_path)
    code, _, err = _cli(capsys, harness, "state", "import", "ghost", "--from", str(state_file))
    assert code == 3 and 'Terraform "ghost" not found' in err

    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.create("locked")
    harness.kube.create(LEASES, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                 "metadata": {"name": "lock-tfstate-default-locked", "namespace": NS,
                                              "annotations": {"app.terraform.io/lock-info": json.dumps(
                                                  {"ID": "abc-123", "Operation": "OperationTypeApply",
                                                   "Who": "runner@pod"})}},
                                 "spec": {"holderIdentity": "abc-123"}})
    code, _, err = _cli(capsys, harness, "state", "import", "locked", "--from", str(state_file))
    assert code == 1 and "the state is locked (abc-123" in err
    assert harness.kube.get_or_none(SECRETS, "tfstate-default-locked", NS) is None

    harness.create("second", backendConfig={"secretSuffix": "locked"})
    harness.kube.delete(LEASES, "lock-tfstate-default-locked", NS)
    assert _cli(capsys, harness, "state", "import", "locked", "--from", str(state_file))[0] == 0
    code, _, err = _cli(capsys, harness, "state", "import", "second", "--from", str(state_file))
    assert code == 1 and "belongs to Terraform locked" in err

    code, _, err = _cli(capsys, harness, "state", "pull", "second-none")
    assert code == 3

    harness.create("elsewhere", backendConfig={"customConfiguration": 'backend "s3" {\n  bucket = "b"\n}'})
    for argv in (["import", "elsewhere", "--from", str(state_file)], ["pull", "elsewhere"]):
        code, _, err = _cli(capsys, harness, "state", *argv)
        assert code == 1 and "keeps its state in its own backend" in err


def test_a_plan_pending_before_the_import_is_never_applied_to_the_imported_state(
        harness: Harness, git_file_remote, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The object planned against its empty state (create everything) before the state was imported; the
    approval of that plan must not create the resources a second time: Terraform finds the plan stale
    (another lineage) and the controller plans again, which shows no changes (design.md §4.2)."""
    state_file = _local_state(tmp_path)
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.create("early", approvePlan="")
    obj = harness.reconcile_until("early", lambda o: (o.get("status") or {}).get("plan", {}).get("pending"),
                                  what="a plan waiting for approval")
    plan_id = obj["status"]["plan"]["pending"]
    assert obj["status"]["plan"]["add"] == 1

    code, _, err = _cli(capsys, harness, "state", "import", "early", "--from", str(state_file))
    assert code == 0, err  # the state the first init wrote is empty: no --force needed

    harness.annotate("early", ANNOTATION_APPROVE_PLAN, plan_id)
    obj = harness.reconcile_until("early", lambda o: ready_reason(o) == "True/NoChanges", what="re-planned: no changes")
    assert obj["status"].get("lastAppliedPlan") != plan_id
    state = harness.state("early")
    assert state is not None and len(state["resources"]) == 1
    assert state["lineage"] == json.loads(state_file.read_text())["lineage"]


A_TF = 'resource "terraform_data" "a" {\n  input = "a"\n}\n'
B_TF = 'resource "terraform_data" "b" {\n  input = "b"\n}\n'
SHARED = "tfstate-default-shared"


def _controller_refusal(harness: Harness, name: str) -> tuple[str, str]:
    """What the controller says when it refuses to plan `name` on its state: (reason, message of the rule)."""
    obj = harness.reconcile(name)
    cond = condition(obj, c.READY)
    assert cond is not None and cond.status == "False", obj.get("status")
    prefix = "nothing was planned: "
    assert cond.message.startswith(prefix), cond.message
    return cond.reason, cond.message[len(prefix):]


def _refused_as_the_controller_would(harness: Harness, capsys: pytest.CaptureFixture[str], name: str,
                                     state_file: Path, reason: str, says: str) -> None:
    before = harness.kube.get_or_none(SECRETS, SHARED, NS)
    code, _, err = _cli(capsys, harness, "state", "import", name, "--from", str(state_file), "--force", "1")
    want_reason, message = _controller_refusal(harness, name)
    assert (want_reason, code) == (reason, 1) and says in message
    assert f"not imported: {reason}: {message}" in err, err
    after = harness.kube.get_or_none(SECRETS, SHARED, NS)
    assert (after or {}).get("data") == (before or {}).get("data")
    assert ((after or {}).get("metadata") or {}).get("annotations") == \
        ((before or {}).get("metadata") or {}).get("annotations")


def test_import_refuses_every_state_the_controller_would_refuse(harness: Harness, git_file_remote, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    state_file = _local_state(tmp_path)
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"a/main.tf": A_TF, "b/main.tf": B_TF}))
    shared = {"backendConfig": {"secretSuffix": "shared"}}
    harness.create("net-b", path="./b", **shared)
    harness.reconcile_until("net-b", lambda o: ready_reason(o) == "True/ApplySucceeded", what="net-b applied")
    harness.create("net-a", path="./a", **shared)

    # owned by another live object
    _refused_as_the_controller_would(harness, capsys, "net-a", state_file, "StateInUse",
                                     f"state Secret {SHARED} belongs to Terraform net-b")
    # a legacy state (no owner recorded) that another object has used
    harness.kube.patch(SECRETS, SHARED, {"metadata": {"annotations": {ANNOTATION_STATE_OWNER: None}}}, NS)
    _refused_as_the_controller_would(harness, capsys, "net-a", state_file, "StateInUse",
                                     f"state Secret {SHARED} is in use by Terraform net-b")
    # owned by an object that no longer exists
    harness.kube.patch(SECRETS, SHARED, {"metadata": {"annotations": {ANNOTATION_STATE_OWNER: "gone"}}}, NS)
    _refused_as_the_controller_would(harness, capsys, "net-a", state_file, "StateTakeOverRequired",
                                     "belongs to Terraform gone, which no longer exists")
    # ... taken over explicitly, as the controller allows
    harness.annotate("net-a", ANNOTATION_TAKE_OVER_STATE, SHARED)
    serial = json.loads(_cli(capsys, harness, "state", "pull", "net-a")[1])["serial"]
    code, _, err = _cli(capsys, harness, "state", "import", "net-a", "--from", str(state_file), "--force", str(serial))
    assert code == 0, err
    assert f"note: took over state Secret {SHARED} from Terraform gone" in err
    assert harness.kube.get(SECRETS, SHARED, NS)["metadata"]["annotations"][ANNOTATION_STATE_OWNER] == "net-a"

    # a state nobody here has used (made by hand): never adopted silently
    harness.kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "tfstate-default-foreign", "namespace": NS,
        "labels": {"tfstate": "true", "tfstateWorkspace": "default", "tfstateSecretSuffix": "foreign"}}})
    harness.create("newcomer", path="./b", backendConfig={"secretSuffix": "foreign"})
    code, _, err = _cli(capsys, harness, "state", "import", "newcomer", "--from", str(state_file))
    reason, message = _controller_refusal(harness, "newcomer")
    assert (reason, code) == ("StateTakeOverRequired", 1) and f"not imported: {reason}: {message}" in err
    assert "no Terraform object has used it" in message
    assert ANNOTATION_STATE_OWNER not in (harness.kube.get(SECRETS, "tfstate-default-foreign", NS)["metadata"]
                                          .get("annotations") or {})

    # a fresh object (no Secret yet), suspended as docs/state.md suggests: imported; the plan request waits
    # for the resume
    harness.create("sleepy", path="./b", suspend=True)
    code, out, err = _cli(capsys, harness, "state", "import", "sleepy", "--from", str(state_file))
    assert code == 0, err
    assert "Terraform default/sleepy is suspended: it plans on the imported state once resumed" in out
    assert harness.kube.get(SECRETS, "tfstate-default-sleepy", NS)["metadata"]["annotations"][
        ANNOTATION_STATE_OWNER] == "sleepy"
    notes = harness.get("sleepy")["metadata"]["annotations"]
    assert notes[ANNOTATION_REPLAN] == notes[ANNOTATION_REQUESTED_AT]


def test_an_import_into_an_applied_object_plans_at_once(harness: Harness, git_file_remote, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Without the request an applied, up-to-date object would not plan until its next drift check; with
    it, the next reconcile plans on the imported state (the team's own resource: no changes)."""
    state_file = _local_state(tmp_path)
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": SIMPLE_TF}))
    harness.create("moved")
    obj = harness.reconcile_until("moved", lambda o: ready_reason(o) == "True/ApplySucceeded", what="applied")
    assert ready_reason(harness.reconcile("moved")) == "True/ApplySucceeded"  # up to date: nothing planned

    serial = json.loads(_cli(capsys, harness, "state", "pull", "moved")[1])["serial"]
    code, out, err = _cli(capsys, harness, "state", "import", "moved", "--from", str(state_file), "--force", str(serial))
    assert code == 0, err
    assert "Terraform default/moved: plan requested" in out
    notes = harness.get("moved")["metadata"]["annotations"]
    assert notes[ANNOTATION_REPLAN] == notes[ANNOTATION_REQUESTED_AT]

    obj = harness.reconcile_until("moved", lambda o: o["status"].get("lastHandledReplan") == notes[ANNOTATION_REPLAN],
                                  what="the requested plan")
    assert ready_reason(obj) == "True/NoChanges", obj["status"]
    state = harness.state("moved")
    assert state is not None and state["lineage"] == json.loads(state_file.read_text())["lineage"]
