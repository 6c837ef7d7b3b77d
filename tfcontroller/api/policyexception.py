"""Typed view of a PolicyException (issue 18): the denies of named PlanPolicies waived for one plan id of one
Terraform, with a reason.

An exception is an RBAC permission, not a comment: creating one needs the ClusterRole
`tfcontroller-policy-exception-author`, which no tenant role includes (deploy/). What it waives is narrow on
purpose — `waives` is the one rule: the same namespace as the Terraform, that Terraform's name, exactly that
plan id (a new plan, even of the same commit, is gated again) and only the policies it names (`<ns>/<name>`,
or `<name>` for a PlanPolicy of the exception's own namespace).

`PolicyExceptionSpec.of(obj)` raises `SpecError` naming the field: a missing `terraformRef.name`, a `planId`
that is not a plan id, no `policies`, an empty `reason`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.constants import PLAN_ID_PATTERN, POLICYEXCEPTION_KIND
from tfcontroller.api.errors import SpecError
from tfcontroller.api.fields import DNS_LABEL, DNS_SUBDOMAIN, Fields
from tfcontroller.api.meta import ObjectMeta
from tfcontroller.api.planpolicy import policy_key
from tfcontroller.api.terraform_status import TerraformStatus

PLAN_ID = re.compile(PLAN_ID_PATTERN)
MAX_REASON = 1024

# Ready reasons of a PolicyException (informational: the gate decides by `waives`, not by the condition)
REASON_ACCEPTED = "Accepted"
REASON_EXPIRED = "Expired"


@dataclass(frozen=True)
class PolicyExceptionSpec:
    terraform: str  # the Terraform's name, in the exception's namespace
    plan_id: str
    policies: tuple[str, ...]  # `<namespace>/<name>`, normalised
    reason: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> PolicyExceptionSpec:
        return PolicyException.from_dict(obj).spec


@dataclass(frozen=True)
class PolicyException:
    meta: ObjectMeta
    spec: PolicyExceptionSpec
    status: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> PolicyException:
        if obj.get("kind", POLICYEXCEPTION_KIND) != POLICYEXCEPTION_KIND:
            raise SpecError("kind", f"expected {POLICYEXCEPTION_KIND}, got {obj.get('kind')!r}")
        meta = ObjectMeta.from_dict(obj)
        return cls(meta, parse_spec(Fields.at(obj.get("spec"), "spec"), meta), dict(obj.get("status") or {}))

    @property
    def name(self) -> str:
        return self.meta.name

    def waives(self, *, terraform_namespace: str, terraform_name: str, plan_id: str, policy: str) -> bool:
        """Whether this exception waives the denies of `policy` (`<ns>/<name>`) on that plan of that
        Terraform: everything must match exactly; an exception for another plan id waives nothing."""
        return (self.meta.namespace == terraform_namespace and self.spec.terraform == terraform_name
                and bool(plan_id) and self.spec.plan_id == plan_id and policy in self.spec.policies)


def parse_spec(f: Fields, meta: ObjectMeta) -> PolicyExceptionSpec:
    ref = f.obj("terraformRef", required=True)
    assert ref is not None
    terraform = ref.name("name", label=True) or ""
    plan_id = f.req_str("planId", pattern=PLAN_ID, max_len=63)
    policies = f.strings("policies")
    if not policies:
        raise SpecError(f.field("policies"), "Required value: name at least one PlanPolicy (<namespace>/<name> or <name>)")
    normalised = []
    for i, raw in enumerate(policies):
        ns, _, name = raw.rpartition("/")
        if (ns and not DNS_LABEL.match(ns)) or not DNS_SUBDOMAIN.match(name) or raw.count("/") > 1:
            raise SpecError(f"{f.field('policies')}[{i}]",
                            f"invalid policy {raw!r}: use <namespace>/<name> or <name> (this namespace)")
        normalised.append(policy_key(raw, meta.namespace))
    reason = f.req_str("reason", max_len=MAX_REASON).strip()
    if not reason:
        raise SpecError(f.field("reason"), "must say why the exception is granted")
    return PolicyExceptionSpec(terraform, plan_id, tuple(dict.fromkeys(normalised)), reason)


def standing(exception: PolicyException, terraform: Mapping[str, Any] | None) -> tuple[bool, str]:
    """(Accepted, message) of an exception against its Terraform, for its informational Ready condition:
    accepted while its plan id is the Terraform's pending plan; otherwise expired, saying why (the Terraform
    is gone, the plan was applied or discarded, another plan is pending). The gate decides by `waives`, on
    the plan it evaluates; this only tells the author whether the exception still has a plan to waive."""
    spec, ns = exception.spec, exception.meta.namespace
    what = f"plan {spec.plan_id} of Terraform {ns}/{spec.terraform}"
    if terraform is None:
        return False, f"Terraform {ns}/{spec.terraform} not found: the exception waives nothing"
    status = TerraformStatus.of(terraform.get("status"))
    if status.pending.id == spec.plan_id:
        return True, f"waives {', '.join(spec.policies)} for pending {what}"
    if spec.plan_id == status.last_applied_plan:
        return False, f"{what} was applied: the exception waives nothing more"
    pending = f"the pending plan is {status.pending.id}" if status.pending.id else "no plan is pending"
    return False, f"{what} is not pending ({pending}): the exception waives nothing"
