"""ManifestSet relations as pure functions: dependency readiness (Ready for the current generation, a
Terraform's outputs Secret present) and the index values that map a changed GitRepository, Terraform,
ManifestSet or Secret to the ManifestSets to reconcile."""

from tfcontroller.controllers.manifestset.deps import (
    dependency_problem,
    index_depends_on,
    index_source_ref,
    index_substitute_from,
    key_of,
)
from tfcontroller.controllers.manifestset.policy import desired_digest, service_account_user

MS = {"metadata": {"name": "app", "namespace": "team"},
      "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"},
               "dependsOn": [{"kind": "Terraform", "name": "infra"},
                             {"kind": "ManifestSet", "name": "base", "namespace": "platform"}],
               "substituteFrom": [{"kind": "Secret", "name": "infra-outputs"}]}}


def tf(ready: str, generation: int = 2, observed: int = 2) -> dict:
    return {"metadata": {"name": "infra", "namespace": "team", "generation": generation},
            "spec": {"writeOutputsToSecret": {"name": "infra-outputs"}},
            "status": {"observedGeneration": observed,
                       "conditions": [{"type": "Ready", "status": ready, "reason": "R", "message": "m"}]}}


def test_index_values_match_watched_object_keys() -> None:
    assert index_source_ref(MS) == ["GitRepository/team/repo"]
    assert index_depends_on(MS) == ["Terraform/team/infra", "ManifestSet/platform/base"]
    assert index_substitute_from(MS) == ["Secret/team/infra-outputs"]
    assert key_of("Terraform", tf("True")) == "Terraform/team/infra"
    assert index_depends_on({"metadata": {"name": "x"}, "spec": None}) == []


def test_dependency_readiness() -> None:
    assert dependency_problem("Terraform", "team/infra", None, None) == "Terraform team/infra not found"
    assert "not ready (R: m)" in (dependency_problem("Terraform", "team/infra", tf("False"), True) or "")
    assert "generation 3" in (dependency_problem("Terraform", "team/infra", tf("True", 3, 2), True) or "")
    assert "outputs Secret infra-outputs" in (dependency_problem("Terraform", "team/infra", tf("True"), False) or "")
    assert dependency_problem("Terraform", "team/infra", tf("True"), True) is None
    assert dependency_problem("ManifestSet", "team/base", tf("True"), None) is None


def test_service_account_user_and_digest() -> None:
    assert service_account_user("team", "deployer") == "system:serviceaccount:team:deployer"
    a = [{"kind": "ConfigMap", "data": {"k": "secret-value"}}]
    assert desired_digest(a) == desired_digest([{"data": {"k": "secret-value"}, "kind": "ConfigMap"}])
    assert "secret-value" not in desired_digest(a)


# ---- issue 16: who a ManifestSet applies as, and what a refusal says (policy.py)

def test_applying_service_account_prefers_the_spec_then_the_flag_then_none() -> None:
    from tfcontroller.controllers.manifestset.policy import applying_service_account

    assert applying_service_account("deployer", "tfcontroller-manifests") == "deployer"
    assert applying_service_account(None, "tfcontroller-manifests") == "tfcontroller-manifests"
    assert applying_service_account("", "tfcontroller-manifests") == "tfcontroller-manifests"
    assert applying_service_account(None, None) is None


def test_a_cross_namespace_dependency_is_judged_by_its_status_only() -> None:
    from tfcontroller.controllers.manifestset.policy import outputs_written

    written = {"status": {"conditions": [{"type": "OutputsWritten", "status": "True"}]}}
    assert outputs_written(written) is True
    assert outputs_written({"status": {"conditions": [{"type": "OutputsWritten", "status": "False"}]}}) is False
    assert outputs_written({}) is False


def test_refusal_and_partial_apply_messages() -> None:
    from tfcontroller.controllers.manifestset.policy import access_refused_message, applied_before
    from tfcontroller.manifests.apply import Change

    msg = access_refused_message("system:serviceaccount:team-a:ms", ["ClusterRoleBinding/x (from a.yaml): ..."])
    assert "system:serviceaccount:team-a:ms" in msg and "ClusterRoleBinding/x" in msg
    assert "nothing was applied and nothing pruned" in msg
    assert applied_before([]) == "nothing was applied in this run"
    assert applied_before([Change("ConfigMap/team-a/c", "created")]) == \
        "applied before the failure: ConfigMap/team-a/c created"
