"""Exceptions: a PolicyException waives the named policies' denies for one plan of one Terraform.

An exception is a Kubernetes permission (creating a PolicyException), not a comment: it binds to the
exact plan id the author saw, so a later plan — other changes, even of the same object — is checked
again. Rules (each a test in tests/unit/policy/test_exceptions.py):
- it applies only when its `terraform` names this object (same namespace) and its `planId` equals the
  plan's id; otherwise it waives nothing;
- it waives denies only: a policy that could not be evaluated (an error) stays an error, because nobody
  saw what it would have said;
- a waived result keeps its messages, marked `waived` with the exception's name, so status, history and
  mail show what was let through and by which exception.
Pure: a report and views in, a report out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tfcontroller.policy.evaluate import PolicyReport, overall


@dataclass(frozen=True)
class ExceptionView:
    """What the rule needs of a PolicyException (api/policyexception.py has the whole object)."""

    namespace: str
    name: str
    terraform: str  # spec.terraformRef.name, in the exception's namespace
    plan_id: str
    policies: tuple[str, ...]  # "<namespace>/<name>", or "<name>" for one in the exception's namespace
    reason: str = ""

    def waives(self, policy: str) -> bool:
        return any((p if "/" in p else f"{self.namespace}/{p}") == policy for p in self.policies)


def apply_exceptions(report: PolicyReport, exceptions: Sequence[ExceptionView], plan_id: str, *,
                     namespace: str, name: str) -> PolicyReport:
    """`report` with the denies of the policies that a matching exception names waived, and the verdict
    recomputed. `namespace`/`name`: the Terraform the plan belongs to."""
    matching = sorted((e for e in exceptions if e.namespace == namespace and e.terraform == name
                       and e.plan_id == plan_id and plan_id), key=lambda e: e.name)
    results = []
    for result in report.results:
        waiver = next((e for e in matching if e.waives(result.policy)), None)
        if waiver is not None and result.denies and not result.error:
            result = replace(result, waived=True, exception=waiver.name)
        results.append(result)
    return replace(report, results=results, result=overall(results))
