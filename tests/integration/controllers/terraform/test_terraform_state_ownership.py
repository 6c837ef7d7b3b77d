"""State names and ownership with real terraform on the dev cluster (design.md §4.8).

- A state belongs to one object (design.md §4.8): a second Terraform resolving to an owned state Secret
  (same suffix, or another workspace/suffix split of the same name) is Stalled `StateInUse` before it
  plans, and the owner's resources stay; the owner record is an annotation on the Secret that survives
  Terraform's own writes and a controller restart; after the owner is deleted the state is taken over
  only through the `take-over-state` annotation; a non-owner deleted with destroyResourcesOnDeletion
  destroys nothing; a state from before owners were recorded is adopted only by the one object that
  used it.
- Object names Terraform refuses as `secret_suffix` (`vpc-1`) work with the derived default suffix; an
  explicit suffix it refuses (admitted by an older CRD) is Stalled, starts nothing and is not requeued.
- A custom workspace leaves one state Secret and one Lease, in that workspace; an empty default-workspace
  state left by an earlier init is removed, a non-empty one is kept.
- A state large enough to continue in `-part-<n>` Secrets is read whole and stays owned.
"""

from __future__ import annotations

import base64
import gzip
import json

from tests.support.terraform_helpers import NS, Harness, condition, ready_reason
from tfcontroller.api import conditions as c
from tfcontroller.api.constants import ANNOTATION_REPLAN, ANNOTATION_STATE_OWNER, ANNOTATION_TAKE_OVER_STATE
from tfcontroller.api.statenames import default_secret_suffix
from tfcontroller.controllers.terraform import TerraformReconciler
from tfcontroller.kube.resources import CRDS, LEASES, SECRETS, TERRAFORMS
from tfcontroller.terraform.state import read_state

A_TF = 'resource "terraform_data" "a" {\n  input = "a"\n}\n'
B_TF = 'resource "terraform_data" "b" {\n  input = "b"\n}\n'
SHARED = "tfstate-default-shared"


def _applied(o: dict) -> bool:
    return ready_reason(o) in ("True/ApplySucceeded", "True/NoChanges")


def _resources(harness: Harness, secret: str) -> list[str]:
    obj = harness.kube.get(SECRETS, secret, NS)
    doc = json.loads(gzip.decompress(base64.b64decode(obj["data"]["tfstate"])))
    return sorted(f"{r['type']}.{r['name']}" for r in doc.get("resources") or [])


def _owner(harness: Harness, secret: str) -> str | None:
    obj = harness.kube.get(SECRETS, secret, NS)
    return (obj["metadata"].get("annotations") or {}).get(ANNOTATION_STATE_OWNER)


def _names(harness: Harness, resource) -> set[str]:
    return {o["metadata"]["name"] for o in harness.kube.list_all(resource, NS)[0]}


def test_second_object_on_a_state_is_refused_then_takes_over_explicitly(harness: Harness, git_file_remote) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"a/main.tf": A_TF, "b/main.tf": B_TF}))
    suffix = {"backendConfig": {"secretSuffix": "shared"}}
    harness.create("net-a", path="./a", **suffix)
    harness.reconcile_until("net-a", _applied, what="net-a applied")
    assert _resources(harness, SHARED) == ["terraform_data.a"]
    assert _owner(harness, SHARED) == "net-a"  # recorded, and kept through Terraform's writes

    harness.create("net-b", path="./b", destroyResourcesOnDeletion=True, **suffix)
    obj = harness.reconcile("net-b")
    assert ready_reason(obj) == "False/StateInUse"
    assert condition(obj, c.STALLED).reason == "StateInUse"
    assert "belongs to Terraform net-a" in condition(obj, c.READY).message
    assert not (obj["status"].get("plan") or {}).get("pending") and "lastPlannedRevision" not in obj["status"]
    assert _resources(harness, SHARED) == ["terraform_data.a"]  # the first is untouched

    # The record lives on the Secret: a new controller (restart) refuses the same way.
    harness.reconciler = TerraformReconciler(harness.kube, harness.options)
    harness.annotate("net-b", ANNOTATION_REPLAN, "1")
    result = harness.reconciler.reconcile(f"{NS}/net-b")
    assert result.requeue_after is None and result.error is None  # Stalled: not retried
    assert ready_reason(harness.get("net-b")) == "False/StateInUse"
    harness.annotate("net-a", ANNOTATION_REPLAN, "1")
    assert ready_reason(harness.reconcile("net-a")) == "True/NoChanges"

    # A non-owner deleted with destroyResourcesOnDeletion destroys nothing.
    harness.kube.delete(TERRAFORMS, "net-b", NS)
    harness.reconcile("net-b")
    assert harness.kube.get_or_none(TERRAFORMS, "net-b", NS) is None
    assert _resources(harness, SHARED) == ["terraform_data.a"] and _owner(harness, SHARED) == "net-a"

    # The owner goes (its state stays): a new object must take the state over explicitly.
    harness.kube.delete(TERRAFORMS, "net-a", NS)
    harness.reconcile("net-a")
    assert harness.kube.get_or_none(TERRAFORMS, "net-a", NS) is None
    harness.create("net-c", path="./b", **suffix)
    obj = harness.reconcile("net-c")
    assert ready_reason(obj) == "False/StateTakeOverRequired"
    message = condition(obj, c.READY).message
    assert "net-a, which no longer exists" in message and f"{ANNOTATION_TAKE_OVER_STATE}={SHARED}" in message
    assert _resources(harness, SHARED) == ["terraform_data.a"]
    harness.annotate("net-c", ANNOTATION_TAKE_OVER_STATE, SHARED)
    harness.reconcile_until("net-c", _applied, what="net-c applied after taking over")
    assert _resources(harness, SHARED) == ["terraform_data.b"] and _owner(harness, SHARED) == "net-c"
    assert "StateTakenOver" in {e["reason"] for e in harness.events("net-c")}


def test_other_split_of_the_same_secret_name_is_refused(harness: Harness, git_file_remote) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"a/main.tf": A_TF, "b/main.tf": B_TF}))
    harness.create("one", path="./a", workspace="a-b", backendConfig={"secretSuffix": "c"})
    harness.reconcile_until("one", _applied, what="one applied")
    harness.create("two", path="./b", workspace="a", backendConfig={"secretSuffix": "b-c"})
    obj = harness.reconcile("two")
    assert ready_reason(obj) == "False/StateInUse"
    assert "tfstate-a-b-c belongs to Terraform one" in condition(obj, c.READY).message
    assert _resources(harness, "tfstate-a-b-c") == ["terraform_data.a"]


def test_state_from_before_owners_is_adopted_only_when_unambiguous(harness: Harness, git_file_remote) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"a/main.tf": A_TF, "b/main.tf": B_TF}))
    suffix = {"backendConfig": {"secretSuffix": "shared"}}
    harness.create("net-a", path="./a", **suffix)
    harness.reconcile_until("net-a", _applied, what="net-a applied")
    # As written before this change: no owner on the Secret.
    harness.kube.patch(SECRETS, SHARED, {"metadata": {"annotations": {ANNOTATION_STATE_OWNER: None}}}, NS)
    harness.create("net-b", path="./b", **suffix)
    obj = harness.reconcile("net-b")  # net-a has used it, net-b never has
    assert ready_reason(obj) == "False/StateInUse"
    assert "in use by Terraform net-a" in condition(obj, c.READY).message
    harness.annotate("net-a", ANNOTATION_REPLAN, "1")
    assert ready_reason(harness.reconcile("net-a")) == "True/NoChanges"
    assert _owner(harness, SHARED) == "net-a"
    assert "StateOwnerRecorded" in {e["reason"] for e in harness.events("net-a")}

    # A state nobody here has used (made by hand, or by a deleted object) is never adopted silently.
    harness.kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "tfstate-default-foreign", "namespace": NS,
        "labels": {"tfstate": "true", "tfstateWorkspace": "default", "tfstateSecretSuffix": "foreign"}}})
    harness.create("newcomer", path="./b", backendConfig={"secretSuffix": "foreign"})
    obj = harness.reconcile("newcomer")
    assert ready_reason(obj) == "False/StateTakeOverRequired"
    assert "no Terraform object has used it" in condition(obj, c.READY).message


def test_names_terraform_refuses_as_suffix_work(harness: Harness, git_file_remote) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": A_TF}))
    for name in ("vpc-1", "sbx-390"):
        harness.create(name)
        harness.reconcile_until(name, _applied, what=f"{name} applied")
        secret = f"tfstate-default-{default_secret_suffix(name)}"
        assert secret != f"tfstate-default-{name}"
        assert _resources(harness, secret) == ["terraform_data.a"] and _owner(harness, secret) == name
    assert not {n for n in _names(harness, SECRETS) if n in ("tfstate-default-vpc-1", "tfstate-default-sbx-390")}


def _empty_state_secret(name: str, suffix: str, resources: list[dict] | None = None) -> dict:
    state = {"version": 4, "terraform_version": "1.11.4", "serial": 1, "lineage": "x", "outputs": {},
             "resources": resources or [], "check_results": None}
    data = base64.b64encode(gzip.compress(json.dumps(state).encode())).decode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": name, "namespace": NS, "annotations": {"encoding": "gzip"},
        "labels": {"tfstate": "true", "tfstateWorkspace": "default", "tfstateSecretSuffix": suffix,
                   "app.kubernetes.io/managed-by": "terraform"}}, "data": {"tfstate": data}}


def test_custom_workspace_has_one_state_and_one_lock(harness: Harness, git_file_remote) -> None:
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": A_TF}))
    harness.create("app", workspace="myworkspace")
    harness.reconcile_until("app", _applied, what="app applied")
    assert {n for n in _names(harness, SECRETS) if n.startswith("tfstate-")} == {"tfstate-myworkspace-app"}
    assert {n for n in _names(harness, LEASES) if "tfstate" in n} == {"lock-tfstate-myworkspace-app"}
    assert _resources(harness, "tfstate-myworkspace-app") == ["terraform_data.a"]

    # Stray empty default-workspace states left by earlier inits are removed; one with resources is kept.
    harness.kube.create(SECRETS, _empty_state_secret("tfstate-default-app", "app"))
    harness.kube.create(LEASES, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {
        "name": "lock-tfstate-default-app", "namespace": NS, "labels": {"tfstate": "true"}}, "spec": {}})
    harness.create("kept", workspace="prod")
    harness.kube.create(SECRETS, _empty_state_secret("tfstate-default-kept", "kept", resources=[
        {"mode": "managed", "type": "terraform_data", "name": "x", "provider": "p", "instances": []}]))
    harness.annotate("app", ANNOTATION_REPLAN, "1")
    harness.reconcile_until("app", lambda o: ready_reason(o) == "True/NoChanges", what="app re-planned")
    harness.reconcile_until("kept", _applied, what="kept applied")
    names = _names(harness, SECRETS)
    assert "tfstate-default-app" not in names and "lock-tfstate-default-app" not in _names(harness, LEASES)
    assert "StrayStateRemoved" in {e["reason"] for e in harness.events("app")}
    assert "tfstate-default-kept" in names and "tfstate-prod-kept" in names


def test_suffix_terraform_refuses_is_stalled_not_retried(harness: Harness, git_file_remote) -> None:
    """An object admitted before the CRD refused `-<number>` suffixes (simulated by dropping the pattern
    from the installed CRD) is Stalled with the reason, starts no Terraform and is not requeued; so is
    the StateInUse refusal (above)."""
    crd = harness.kube.get(CRDS, "terraforms.tfcontroller.io")
    suffix_schema = (crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
                     ["backendConfig"]["properties"]["secretSuffix"])
    suffix_schema.pop("pattern")
    harness.kube.replace(CRDS, crd)
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": A_TF}))
    harness.create("old", backendConfig={"secretSuffix": "sbx-390"})
    result = harness.reconciler.reconcile(f"{NS}/old")
    assert result.requeue_after is None and result.error is None  # Stalled: nothing to retry
    obj = harness.get("old")
    assert condition(obj, c.STALLED).reason == "SpecValidationFailed"
    assert "'-<number>'" in condition(obj, c.READY).message and "sbx-390" in condition(obj, c.READY).message
    assert not {n for n in _names(harness, SECRETS) if n.startswith("tfstate-")}


# About 3.2 MB of hex in the state (input and output): more than one 1 MiB chunk once gzipped.
BIG_TF = """
locals {
  blob = join("", [for i in range(100) : join("", [for j in range(250) : sha256("${i}-${j}")])])
}

resource "terraform_data" "big" {
  input = local.blob
}

output "size" {
  value = length(terraform_data.big.output)
}
"""


def test_large_state_in_parts_is_read_whole_and_stays_owned(harness: Harness, git_file_remote) -> None:
    """Terraform 1.11 continues a large state in `<state Secret>-part-<n>` (found by the backend's labels):
    the controller reads all parts (outputs, resource count), and the owner record stays on the first."""
    remote = git_file_remote("infra")
    harness.publish("src", remote.bare, remote.commit({"main.tf": BIG_TF}))
    harness.create("big", writeOutputsToSecret={"name": "big-out"})
    harness.reconcile_until("big", _applied, 180, what="big applied")
    names = _names(harness, SECRETS)
    assert "tfstate-default-big-part-1" in names
    state = read_state(harness.kube, NS, "tfstate-default-big")
    assert state.resources == 1 and state.outputs["size"]["value"] == 100 * 250 * 64
    assert harness.secret("big-out") == {"size": str(100 * 250 * 64)}
    assert _owner(harness, "tfstate-default-big") == "big"
