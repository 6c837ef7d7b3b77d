"""When a recorded policy result still holds, and which exceptions concern a plan (issue 18). Pure.

Which PlanPolicies select a Terraform is `api/planpolicy.selects` (runtime/policies.py lists and loads
them); here: the *gate key*, what `status.plan.policy` depends on — the plan id, each selected policy's
digest (or why it is unavailable) and failure policy, and each PolicyException naming the object. An
equal key means the recorded result holds and nothing is evaluated; a new key (a policy edit pushed to
Git, a broken source, an exception created) evaluates the pending plan again, without re-planning.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


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


def gate_key(plan_id: str, policies: Sequence[SelectedPolicy], exceptions: Sequence[Mapping[str, Any]]) -> str:
    """`sha256:` over what a recorded result depends on (see the module docstring); order-independent."""
    doc = {
        "plan": plan_id,
        "policies": sorted([p.key, p.digest, p.unavailable, p.fail_open] for p in policies),
        "exceptions": sorted([exception_key(e), json.dumps(e.get("spec") or {}, sort_keys=True)] for e in exceptions),
    }
    return "sha256:" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
