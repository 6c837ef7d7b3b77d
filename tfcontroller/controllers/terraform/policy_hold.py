"""A denial sticks to its plan id (issue 18, review s20 gap 1). Pure.

Whether a PlanPolicy's `selector` picks a Terraform is decided by the Terraform's labels, and whoever may
patch a Terraform (a tenant with edit rights, the dashboard approver role, the Git author of its YAML) may
change them. Without this rule a denied plan could be taken out of the gate by removing a label and then
approved or applied by `auto`: overriding a policy would be "a comment anyone can type", which issue 18
forbids.

The rule: once a PlanPolicy has *denied* a plan id (recorded in `status.policyDenials`, which only the
controller writes: the status subresource), that plan id stays denied by that policy when the policy no
longer selects the object — labels changed, the PlanPolicy deleted, or its selector changed. The hold is
an ordinary `denied` row of `status.plan.policy` (so `api/policy_verdict.py`, the one rule of the
controller, `tfcontroller approve` and the dashboard, refuses it), and it is lifted exactly like a denial:
by a PolicyException for that plan id naming the policy, or by a new plan with other changes (another id).

A policy that still selects the object is evaluated as usual: its current version (a policy edit pushed to
Git, enforcement switched to warn) is the judge, as the PlanPolicy's authors decided. Only denials are
remembered, not errors: an unavailable policy judged nothing.

The record is bounded (`MAX_DENIALS` plan ids, oldest dropped) and survives re-plans (a re-plan with the
same changes gets the same id: api/constants.plan_id), drift re-checks and controller restarts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DENIALS_FIELD = "policyDenials"  # status.policyDenials
MAX_DENIALS = 20
_DENYING = ("denied", "waived")  # a waived row was a denial too: the exception that waived it may be spent


@dataclass(frozen=True)
class Hold:
    """A policy that denied this plan id and no longer selects the object."""

    policy: str  # <namespace>/<name>
    denied_at: str  # RFC 3339, when the denial was first recorded

    def message(self, plan_id: str) -> str:
        return (f"denied plan {plan_id} at {self.denied_at} and no longer selects this Terraform (its labels, "
                f"the PlanPolicy's selector, or the PlanPolicy itself changed); the denial holds for this plan "
                f"id: a PolicyException for plan {plan_id} naming {self.policy}, or a new plan with other "
                f"changes, lifts it")


def denials_of(status: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """`status.policyDenials`: [{"planId", "policies": [{"policy", "deniedAt"}]}], oldest first; malformed
    entries are skipped."""
    out = []
    for entry in (status or {}).get(DENIALS_FIELD) or []:
        if isinstance(entry, Mapping) and entry.get("planId"):
            rows = [dict(p) for p in entry.get("policies") or [] if isinstance(p, Mapping) and p.get("policy")]
            out.append({"planId": str(entry["planId"]), "policies": rows})
    return out


def denying_policies(recorded: Mapping[str, Any]) -> list[str]:
    """The policies of a `status.plan.policy` record that denied its plan (waived or not)."""
    return sorted({str(r["policy"]) for r in recorded.get("results") or []
                   if isinstance(r, Mapping) and r.get("policy") and r.get("result") in _DENYING})


def remember(denials: Sequence[Mapping[str, Any]], plan_id: str, policies: Iterable[str], at: str,
             limit: int = MAX_DENIALS) -> list[dict[str, Any]]:
    """`denials` with `policies` recorded as having denied `plan_id` at `at` (an earlier record of the same
    policy keeps its time). The plan id's entry moves to the end; beyond `limit` entries the oldest go."""
    new = sorted(set(policies))
    entries = [dict(e) for e in denials]
    mine = next((e for e in entries if e.get("planId") == plan_id), None)
    if not new:
        return entries
    known = {str(p.get("policy")): p for p in (mine or {}).get("policies") or []}
    merged = [*known.values(), *({"policy": p, "deniedAt": at} for p in new if p not in known)]
    rest = [e for e in entries if e.get("planId") != plan_id]
    entry = {"planId": plan_id, "policies": sorted(merged, key=lambda p: str(p.get("policy")))}
    return [*rest, entry][-limit:]


def holds(denials: Sequence[Mapping[str, Any]], plan_id: str, selected: Iterable[str]) -> list[Hold]:
    """The policies that denied `plan_id` and are not among `selected` (the keys of the PlanPolicies that
    select the object now, available or not), sorted."""
    chosen = set(selected)
    entry = next((e for e in denials if e.get("planId") == plan_id), None)
    if not plan_id or entry is None:
        return []
    rows = [Hold(str(p["policy"]), str(p.get("deniedAt") or "")) for p in entry.get("policies") or []
            if p.get("policy") and str(p["policy"]) not in chosen]
    return sorted(rows, key=lambda h: h.policy)
