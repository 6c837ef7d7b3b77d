"""api/policyexception.py: an exception names a Terraform, one plan id, the policies it waives and a reason —
each missing or malformed one is a SpecError naming the field — and `waives` matches only that exact
Terraform (namespace and name), plan id and policy."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.errors import SpecError
from tfcontroller.api.policyexception import PolicyException, PolicyExceptionSpec, standing

PLAN = "plan-main-0123456789-abcdef01"


def exception(**spec: Any) -> dict[str, Any]:
    base = {"terraformRef": {"name": "orders"}, "planId": PLAN, "policies": ["protect-data"], "reason": "CHG-1"}
    base.update(spec)
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "PolicyException",
            "metadata": {"name": "x", "namespace": "team-a"}, "spec": {k: v for k, v in base.items() if v is not None}}


def test_policies_normalised_to_namespace_and_name() -> None:
    spec = PolicyExceptionSpec.of(exception(policies=["protect-data", "ops/no-public", "protect-data"],
                                            reason="  moved to Aurora  "))
    assert spec == PolicyExceptionSpec("orders", PLAN, ("team-a/protect-data", "ops/no-public"), "moved to Aurora")


@pytest.mark.parametrize(("spec", "field", "words"), [
    ({"terraformRef": None}, "spec.terraformRef", "Required value"),
    ({"terraformRef": {}}, "spec.terraformRef.name", "Required value"),
    ({"terraformRef": {"name": "Orders"}}, "spec.terraformRef.name", "invalid value"),
    ({"planId": None}, "spec.planId", "Required value"),
    ({"planId": "latest"}, "spec.planId", "must match"),
    ({"planId": PLAN + "0"}, "spec.planId", "must match"),
    ({"policies": None}, "spec.policies", "name at least one PlanPolicy"),
    ({"policies": []}, "spec.policies", "name at least one PlanPolicy"),
    ({"policies": [""]}, "spec.policies[0]", "non-empty string"),
    ({"policies": ["a/b/c"]}, "spec.policies[0]", "<namespace>/<name>"),
    ({"policies": ["Team/p"]}, "spec.policies[0]", "<namespace>/<name>"),
    ({"reason": None}, "spec.reason", "Required value"),
    ({"reason": "   "}, "spec.reason", "must say why"),
    ({"reason": "x" * 1025}, "spec.reason", "at most 1024"),
])
def test_bad_specs_name_the_field(spec: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        PolicyExceptionSpec.of(exception(**spec))
    assert info.value.field == field and words in info.value.message


def test_waives_only_that_terraform_plan_and_policy() -> None:
    ex = PolicyException.from_dict(exception(policies=["protect-data", "ops/no-public"]))
    exact = {"terraform_namespace": "team-a", "terraform_name": "orders", "plan_id": PLAN,
             "policy": "team-a/protect-data"}
    assert ex.waives(**exact)
    assert ex.waives(**dict(exact, policy="ops/no-public"))
    assert not ex.waives(**dict(exact, plan_id="plan-main-0123456789-abcdef02"))  # another plan id
    assert not ex.waives(**dict(exact, plan_id=""))
    assert not ex.waives(**dict(exact, terraform_name="orders2"))
    assert not ex.waives(**dict(exact, terraform_namespace="team-b"))  # same name, another namespace
    assert not ex.waives(**dict(exact, policy="team-a/tags"))
    assert not ex.waives(**dict(exact, policy="ops/protect-data"))  # a name means this namespace's policy


def test_standing_accepted_only_while_the_plan_is_pending() -> None:
    ex = PolicyException.from_dict(exception())

    def tf(**status: Any) -> dict[str, Any]:
        return {"metadata": {"name": "orders", "namespace": "team-a"}, "status": status}

    accepted, message = standing(ex, tf(plan={"pending": PLAN}))
    assert accepted and message == f"waives team-a/protect-data for pending plan {PLAN} of Terraform team-a/orders"
    other = "plan-main-0123456789-abcdef02"
    assert standing(ex, tf(plan={"pending": other})) == (
        False, f"plan {PLAN} of Terraform team-a/orders is not pending (the pending plan is {other}): "
               "the exception waives nothing")
    assert standing(ex, tf(plan={"pending": ""}, lastAppliedPlan=PLAN)) == (
        False, f"plan {PLAN} of Terraform team-a/orders was applied: the exception waives nothing more")
    assert "no plan is pending" in standing(ex, tf())[1]
    assert standing(ex, None) == (False, "Terraform team-a/orders not found: the exception waives nothing")
