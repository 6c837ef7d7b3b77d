"""When a recorded policy result still holds, and which exceptions concern a plan (issue 18). Pure.

Which PlanPolicies select a Terraform is `api/planpolicy.selects` (runtime/policies.py lists and loads
them); here: the *gate key*, what `status.plan.policy` depends on — the plan id, each selected policy's
digest (or why it is unavailable) and failure policy, and each PolicyException naming the object. An
equal key means the recorded result holds and nothing is evaluated; a new key (a policy edit pushed to
Git, a broken source, an exception created) evaluates the pending plan again, without re-planning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.history import history_of
from tfcontroller.api.times import parse_rfc3339


@dataclass(frozen=True)
class SelectedPolicy:
    """What the gate key needs of one selected PlanPolicy."""

    key: str  # <namespace>/<name>
    digest: str  # the loaded modules' digest ("" when unavailable)
    unavailable: str  # why it cannot be evaluated ("" when it can)
    fail_open: bool


def exception_key(exc: Mapping[str, Any]) -> str:
    meta = exc.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def exceptions_for(exceptions: Sequence[Mapping[str, Any]], tf_name: str) -> list[Mapping[str, Any]]:
    """The PolicyExceptions (of the Terraform's namespace) that name this Terraform, sorted by key. Whether
    one waives a policy of *this* plan is decided at evaluation (its planId must equal the plan's)."""
    named = [e for e in exceptions if str(((e.get("spec") or {}).get("terraformRef") or {}).get("name") or "") == tf_name]
    return sorted(named, key=exception_key)


def unspent(exceptions: Sequence[Mapping[str, Any]], status: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The exceptions that may still waive: one whose plan id was applied after it was created has been used.

    A plan id names the changes (commit + digest of what the plan would do), so the same id can come back
    (a variable changed and changed back, drift that undoes an apply): an exception granted for it once
    must not waive it again without anyone deciding anew. Applies are read from `status.history` (their
    `finishedAt`) and `status.lastAppliedPlan` (applied, time unknown: any exception for it is spent). Pure."""
    applied_at: dict[str, dt.datetime | None] = {}
    for entry in history_of(status):
        if entry.kind in ("apply", "destroy") and entry.outcome == "Succeeded" and entry.plan_id:
            when = parse_rfc3339(entry.finished_at)
            known = applied_at.get(entry.plan_id)
            applied_at[entry.plan_id] = when if known is None else max(known, when or known)
    last = str((status or {}).get("lastAppliedPlan") or "")
    if last and last not in applied_at:
        applied_at[last] = None
    out = []
    for e in exceptions:
        plan = str((e.get("spec") or {}).get("planId") or "")
        if plan not in applied_at:
            out.append(e)
            continue
        when, created = applied_at[plan], parse_rfc3339((e.get("metadata") or {}).get("creationTimestamp"))
        if when is not None and created is not None and created > when:
            out.append(e)  # granted after that apply: a new decision for the plan id come back
    return out


def gate_key(plan_id: str, policies: Sequence[SelectedPolicy], exceptions: Sequence[Mapping[str, Any]]) -> str:
    """`sha256:` over what a recorded result depends on (see the module docstring); order-independent."""
    doc = {
        "plan": plan_id,
        "policies": sorted([p.key, p.digest, p.unavailable, p.fail_open] for p in policies),
        "exceptions": sorted([exception_key(e), json.dumps(e.get("spec") or {}, sort_keys=True)] for e in exceptions),
    }
    return "sha256:" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
