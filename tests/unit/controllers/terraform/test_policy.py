"""The rules of design.md §4 as pure decisions: when to re-plan, which approval applies, the state-loss guard."""

from tfcontroller.controllers.terraform import policy
from tfcontroller.controllers.terraform.policy import (
    decide_approval,
    decide_plan,
    dependency_problem,
    digest_scope,
    inputs_digest,
    output_names,
    path_variables,
    ref_and_commit,
    state_lost,
)

BASE = dict(
    module_digest="sha256:m", variables={"a": 1}, env_names_digest="e", backend={"secretSuffix": "x"},
    workspace="default", destroy=False, terraform_version="1.11.4",
)


def test_digest_changes_with_each_input_and_only_them() -> None:
    d0 = inputs_digest(**BASE)
    assert d0 == inputs_digest(**BASE)
    for key, value in (("module_digest", "sha256:n"), ("variables", {"a": 2}), ("workspace", "w"),
                       ("destroy", True), ("terraform_version", "1.12.0"), ("backend", {"secretSuffix": "y"})):
        assert inputs_digest(**{**BASE, key: value}) != d0, key
    assert d0.startswith("sha256:") and len(d0) == 7 + 64


def test_pending_plan_survives_unrelated_changes() -> None:
    status = {"plan": {"pending": "plan-main-abc-123"}, "inputsDigest": "D", "lastAppliedInputsDigest": "OLD"}
    assert not decide_plan(status, "D", replan_requested=False, drift_due=True, lock_blocked_last_try=False).plan
    assert decide_plan(status, "D2", replan_requested=False, drift_due=False, lock_blocked_last_try=False).plan
    assert decide_plan(status, "D", replan_requested=True, drift_due=False, lock_blocked_last_try=False).plan


def test_applied_inputs_need_no_plan_unless_drift_due() -> None:
    status = {"lastAppliedInputsDigest": "D"}
    assert not decide_plan(status, "D", replan_requested=False, drift_due=False, lock_blocked_last_try=False).plan
    drift = decide_plan(status, "D", replan_requested=False, drift_due=True, lock_blocked_last_try=False)
    assert drift.plan and drift.is_drift_check
    first = decide_plan({}, "D", replan_requested=False, drift_due=False, lock_blocked_last_try=False)
    assert first.plan and first.reason == "not applied yet"
    changed = decide_plan(status, "E", replan_requested=False, drift_due=False, lock_blocked_last_try=False)
    assert changed.plan and changed.reason == "inputs changed since the last apply"
    assert decide_plan(status, "D", replan_requested=False, drift_due=False, lock_blocked_last_try=True).plan


def test_only_the_pending_plan_is_approved() -> None:
    assert decide_approval("auto", None, "p1").apply
    assert decide_approval("", "p1", "p1").apply
    assert decide_approval("p1", None, "p1").apply
    refused = decide_approval("", "p0", "p1")
    assert not refused.apply and "p0" in refused.refused and "p1" in refused.refused
    assert not decide_approval("", None, "p1").apply
    assert not decide_approval("auto", None, None).apply


def test_state_loss_guard() -> None:
    """Rule §4.5 as the plan step applies it (policy.state_lost; creates_everything: terraform/plan.py)."""
    assert state_lost(applied_resources=3, state_exists=False, state_empty=True, creates_everything=True)
    assert state_lost(applied_resources=3, state_exists=True, state_empty=True, creates_everything=True)
    assert not state_lost(applied_resources=0, state_exists=False, state_empty=True, creates_everything=True)
    assert not state_lost(applied_resources=3, state_exists=True, state_empty=False, creates_everything=True)
    assert not state_lost(applied_resources=3, state_exists=False, state_empty=True, creates_everything=False)


def test_digest_scope_says_why_the_digest_covers_the_whole_artifact() -> None:
    assert digest_scope(()) == {"scope": "Module", "message": ""}
    why = 'stacks/app/main.tf:3: file("${path.module}/${var.name}"): the path depends on var.name'
    scope = digest_scope([why, "other"])
    assert scope["scope"] == "Artifact"
    assert why in scope["message"] and "(and 1 more)" in scope["message"] and "every commit" in scope["message"]
    assert len(digest_scope(["x" * 5000])["message"]) <= 1000


def test_path_variables_use_only_public_literal_strings() -> None:
    resolved = {"env": "prod", "from_secret": "s3cr3t", "typed": 3, "secret_decl": "x", "shadowed": "a",
                "from_cm": "cm"}
    env = {"TF_VAR_shadowed": "b", "TF_VAR_extra": "e", "AWS_REGION": "x"}
    literals = {"env": "prod", "typed": 3, "secret_decl": "x", "shadowed": "a", "from_secret": "other"}
    declared = {"env", "typed", "shadowed", "from_secret", "from_cm"}  # secret_decl is declared sensitive
    provided, known = path_variables(resolved, env, literals, declared)
    assert provided == {"env", "from_secret", "typed", "secret_decl", "shadowed", "from_cm", "extra"}
    assert known == {"env": "prod"}


def test_ref_and_commit_name_the_plan() -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert ref_and_commit(f"main@sha1:{commit}") == ("main", commit)
    assert ref_and_commit(f"refs/tags/v1.2@sha1:{commit}") == ("v1.2", commit)
    ref, digest = ref_and_commit("not a revision")
    assert ref == "rev" and len(digest) == 40


def _dep(generation: int = 2, observed: int = 2, ready: str = "True", reason: str = "ApplySucceeded",
         outputs: bool = False, written: bool = False) -> dict:
    conds = [{"type": "Ready", "status": ready, "reason": reason, "message": ""}]
    if written:
        conds.append({"type": "OutputsWritten", "status": "True", "reason": "OutputsWritten", "message": ""})
    return {"metadata": {"generation": generation},
            "spec": {"writeOutputsToSecret": {"name": "out"}} if outputs else {},
            "status": {"observedGeneration": observed, "conditions": conds}}


def test_dependency_problem_each_rule() -> None:
    assert dependency_problem(None) == "not found"
    assert dependency_problem(_dep(generation=3)) == "is not ready (generation 3 not reconciled yet)"
    assert dependency_problem(_dep(ready="False", reason="PlanPending")) == "is not ready (PlanPending)"
    assert dependency_problem(_dep(outputs=True)) == "has not written its outputs"
    assert dependency_problem(_dep(outputs=True, written=True)) == ""
    assert dependency_problem(_dep()) == ""


def test_output_names_come_from_the_outputs_message_only() -> None:
    stream = [{"type": "apply_complete"}, {"type": "outputs", "outputs": {"b": {"value": "x"}, "a": {}}}]
    assert output_names(stream) == ["a", "b"]
    assert output_names([{"type": "apply_complete"}]) is None


def test_sensitive_output_names_from_the_state_or_the_apply_stream() -> None:
    """Only names of outputs marked `sensitive: true` (the state's and the apply message's shape); an
    output without the mark, or with a non-boolean one, is not sensitive; no value is returned."""
    outputs = {"pw": {"sensitive": True, "value": "hunter2"}, "name": {"sensitive": False, "value": "n"},
               "arn": {"value": "a"}, "odd": {"sensitive": "yes"}, "broken": "x"}
    assert policy.sensitive_output_names(outputs) == ["pw"]
    assert policy.sensitive_output_names(None) == []
    stream = [{"type": "outputs", "outputs": {"b": {"sensitive": True}, "a": {"sensitive": False}}}]
    assert policy.applied_sensitive_output_names(stream) == ["b"]
    assert policy.applied_sensitive_output_names([{"type": "apply_complete"}]) is None


# ---- moved from test_terraform_helpers_pure.py (the state-loss rule on counts, approvals, expected resources)


def test_state_lost_needs_applied_resources_and_a_missing_state() -> None:
    assert policy.state_lost(applied_resources=2, state_exists=False, state_empty=True, creates_everything=True)
    assert policy.state_lost(applied_resources=2, state_exists=True, state_empty=True, creates_everything=True)
    assert not policy.state_lost(applied_resources=0, state_exists=False, state_empty=True, creates_everything=True)
    assert not policy.state_lost(applied_resources=2, state_exists=True, state_empty=False, creates_everything=True)
    assert not policy.state_lost(applied_resources=2, state_exists=False, state_empty=True, creates_everything=False)


def test_offered_approvals_ignore_history() -> None:
    assert policy.offered_approvals("plan-a", "plan-b", {"plan-a"}) == ("", "plan-b")
    assert policy.offered_approvals("auto", "plan-a", {"plan-a"}) == ("auto", None)
    assert policy.offered_approvals("plan-c", None, set()) == ("plan-c", None)


def test_expected_resources() -> None:
    """(When a drift check is due, jittered: tests/unit/controllers/terraform/drift/test_schedule.py.)"""
    assert policy.expected_resources(3, 1, 1) == 3 and policy.expected_resources(1, 0, 2) == 0


def test_inputs_unchanged_message_says_why_nothing_is_planned() -> None:
    """A reconcile that skips the plan (rule §4.1) says since when the inputs are unchanged and how to plan
    anyway (issue 13, point 3); a newer source revision that did not touch the inputs is named too."""
    cmd = "tfcontroller replan app -n team"
    assert policy.inputs_unchanged_message("main@sha1:aaa", "main@sha1:aaa", cmd) == (
        "Inputs unchanged since main@sha1:aaa: nothing to plan; use `tfcontroller replan app -n team` to plan anyway")
    assert policy.inputs_unchanged_message("main@sha1:aaa", "main@sha1:bbb", cmd).startswith(
        "Inputs unchanged since main@sha1:aaa (source now at main@sha1:bbb): nothing to plan;")
    assert policy.inputs_unchanged_message("", "main@sha1:bbb", cmd).startswith("Inputs unchanged since main@sha1:bbb:")

def test_undeclared_note_groups_keys_by_source_and_names_no_value() -> None:
    origins = {"regoin": "spec.varsFrom[0] (ConfigMap team/settings)", "colour": "spec.varsFrom[0] (ConfigMap "
               "team/settings)", "typo": "spec.vars", "pw": "spec.varsFrom[1] (Secret team/creds)"}
    note = policy.undeclared_note(["typo", "regoin", "colour", "pw"], origins)
    assert note == ("the module declares no variables 'typo' (from spec.vars); 'colour', 'regoin' (from "
                    "spec.varsFrom[0] (ConfigMap team/settings)); 'pw' (from spec.varsFrom[1] (Secret team/creds)); "
                    "their values are ignored: declare them in the module or remove the keys")
    one = policy.undeclared_note(["typo"], origins)
    assert one == ("the module declares no variable 'typo' (from spec.vars); its value is ignored: declare it in "
                   "the module or remove the key")
    assert policy.undeclared_note([], origins) == ""
    many = policy.undeclared_note([f"v{i}" for i in range(200)], {})
    assert len(many) <= 600 and many.endswith("…")


def test_tfvars_files_enter_the_digest_by_content_and_order_and_only_when_set() -> None:
    """Issue 20: spec.tfVarsFiles (path and content digest, in order: the later file wins) change the
    digest; an object without them keeps the digest it had before the field existed (no re-plan on
    upgrade)."""
    d0 = inputs_digest(**BASE)
    assert inputs_digest(**BASE, var_files=()) == d0
    files = [("infra/a.tfvars", "sha256:1"), ("infra/b.tfvars", "sha256:2")]
    d1 = inputs_digest(**BASE, var_files=files)
    assert d1 != d0
    assert inputs_digest(**BASE, var_files=list(reversed(files))) != d1
    assert inputs_digest(**BASE, var_files=[files[0], ("infra/b.tfvars", "sha256:3")]) != d1
    assert inputs_digest(**BASE, var_files=[files[0], ("infra/c.tfvars", "sha256:2")]) != d1
    assert inputs_digest(**BASE, var_files=files) == d1
def _pre_s19_digest(**kw: object) -> str:
    """The inputs digest as s19-int computed it (before the precedence marker): what an object applied
    under the old precedence has in `status.lastAppliedInputsDigest`."""
    import hashlib
    import json
    doc: dict[str, object] = {"module": kw["module_digest"], "vars": kw["variables"], "env": kw["env_names_digest"],
                              "backend": kw["backend"], "workspace": kw["workspace"], "destroy": kw["destroy"],
                              "terraform": kw["terraform_version"]}
    if kw.get("var_files"):
        doc["tfVarsFiles"] = [list(entry) for entry in kw["var_files"]]
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def test_the_precedence_change_replans_once_only_objects_that_set_variables() -> None:
    """Review s19, finding 5: the object's vars and tfVarsFiles now beat every automatic file of the module
    (they could lose to a `zz.auto.tfvars` before). An object that sets variables (vars/varsFrom) or lists
    files gets a new digest once, so it plans after the upgrade; the new digest is stable (once, not every
    reconcile). An object that sets nothing keeps its digest: its plan cannot change."""
    files = [("infra/a.tfvars", "sha256:1")]
    for kw in ({"sets_variables": True}, {"var_files": files}, {"sets_variables": True, "var_files": files}):
        old = _pre_s19_digest(**BASE, **kw)
        new = inputs_digest(**BASE, **kw)
        assert new != old, kw
        assert new == inputs_digest(**BASE, **kw), kw
    assert inputs_digest(**BASE) == _pre_s19_digest(**BASE)  # sets nothing: no re-plan
    assert inputs_digest(**BASE, sets_variables=False, var_files=()) == _pre_s19_digest(**BASE)
    assert inputs_digest(**BASE, sets_variables=True) != inputs_digest(**BASE)
    assert policy.VARIABLES_PRECEDENCE  # a value to change when the rule changes again


def test_run_files_enter_the_digest_only_when_set() -> None:
    """cliConfigSecretRef/fileMappings (issue 20): a changed file re-plans; an object without them keeps the
    digest it had before these fields existed (no re-plan of every object on upgrade)."""
    d0 = inputs_digest(**BASE)
    assert inputs_digest(**BASE, run_files_digest="") == d0
    with_files = inputs_digest(**BASE, run_files_digest="hmac-sha256:a")
    assert with_files != d0 and with_files != inputs_digest(**BASE, run_files_digest="hmac-sha256:b")
