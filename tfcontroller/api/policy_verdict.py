"""What a pending plan's policy result (`status.plan.policy`, issue 18) means: one rule for the controller
(which refuses to apply a blocked plan), `tfcontroller approve` and the dashboard (which refuse to approve
it), `plan show` and the mail (which print it). Pure; imports nothing of ours.

A plan is *blocked* when its result is `denied` (a deny policy's messages, not waived by a PolicyException
for this plan id) or `error` (a selected policy that is missing, does not compile, or could not be
evaluated, and fails closed). Warnings never block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

POLICY_CHECKED = "PolicyChecked"  # condition type
POLICY_PASSED = "PolicyPassed"
POLICY_WARNED = "PolicyWarned"
POLICY_DENIED = "PolicyDenied"
POLICY_UNAVAILABLE = "PolicyUnavailable"
PASSED, WARNED, DENIED, ERROR, WAIVED = "passed", "warned", "denied", "error", "waived"
_MESSAGES_IN_CONDITION = 5


def policy_of(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`status.plan.policy` of the pending plan, when there is one."""
    plan = (status or {}).get("plan") or {}
    value = plan.get("policy") if plan.get("pending") else None
    return value if isinstance(value, dict) else None


def result_rows(recorded: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in recorded.get("results") or [] if isinstance(r, Mapping)]


def policy_lines(recorded: Mapping[str, Any], *results: str) -> list[str]:
    """`<policy>: <message>` for every message of the policies whose result is one of `results`."""
    return [f"{r.get('policy')}: {m}" for r in result_rows(recorded) if r.get("result") in results
            for m in r.get("messages") or []]


def exceptions_of(recorded: Mapping[str, Any] | None) -> list[str]:
    """The PolicyExceptions that waived a policy of this plan."""
    return sorted({str(r["exception"]) for r in result_rows(recorded or {}) if r.get("exception")})


@dataclass(frozen=True)
class Verdict:
    """What the recorded result means for the apply: `blocked` with the condition reason and message."""

    reason: str
    message: str
    blocked: bool


def verdict(recorded: Mapping[str, Any], plan_id: str) -> Verdict:
    """The PolicyChecked reason and message of `status.plan.policy`, and whether it blocks the apply:
    `denied` (by a deny policy, not waived) and `error` (a fail-closed policy that could not run) block."""
    result = str(recorded.get("result") or PASSED)
    rows = result_rows(recorded)

    def lines(*kinds: str) -> str:
        msgs = policy_lines(recorded, *kinds)
        more = f" (and {len(msgs) - _MESSAGES_IN_CONDITION} more)" if len(msgs) > _MESSAGES_IN_CONDITION else ""
        return "; ".join(msgs[:_MESSAGES_IN_CONDITION]) + more

    if result == ERROR:
        return Verdict(POLICY_UNAVAILABLE, f"plan {plan_id} cannot be checked, so it is not applied: "
                                           f"{lines(ERROR)}", True)
    if result == DENIED:
        return Verdict(POLICY_DENIED, f"plan {plan_id} is denied by policy, so neither auto nor an approval "
                                      f"applies it: {lines(DENIED)}; fix the change, or have a PolicyException "
                                      f"for plan {plan_id} created", True)
    waived = exceptions_of(recorded)
    note = f" (waived by PolicyException {', '.join(waived)})" if waived else ""
    if result == WARNED:
        return Verdict(POLICY_WARNED, f"plan {plan_id} passed with warnings{note}: {lines(WARNED, ERROR, WAIVED)}",
                       False)
    return Verdict(POLICY_PASSED, f"plan {plan_id} passed {len(rows)} policies{note}", False)


def policy_report_lines(recorded: Mapping[str, Any] | None) -> list[str]:
    """The plain-text block `plan show` prints under the diff and the plan/drift mail carries: the overall
    result, then each policy's result, its messages and the exception that waived it."""
    if not recorded:
        return []
    out = [f"Policy check: {recorded.get('result') or PASSED}"]
    for r in result_rows(recorded):
        waived = f" (PolicyException {r.get('exception')})" if r.get("exception") else ""
        out.append(f"  {r.get('result')}: {r.get('policy')}{waived}")
        out.extend(f"    - {m}" for m in r.get("messages") or [])
    return out
