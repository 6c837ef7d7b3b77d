"""The commands we tell a user to type, each written by exactly one function.

Conditions, Events, drift mails, `tfcontroller plan show` and the docs all print these, so they cannot
disagree (the approve hint once did: one copy lacked `-n` and `--overwrite`). The rules every command
follows:
- `-n NAMESPACE` always: the user's kubectl context may point at another namespace.
- `--overwrite` on every annotation: an earlier request (the previous approval, the previous unlock)
  leaves the annotation in place, and kubectl refuses to change an existing annotation without it.
- Arguments are shell-quoted, so a copied command means exactly what is printed.
"""

from __future__ import annotations

import shlex

from tfcontroller.api.constants import (
    ANNOTATION_APPROVE_PLAN,
    ANNOTATION_FORCE_UNLOCK,
    ANNOTATION_REPLAN,
    ANNOTATION_TAKE_OVER_STATE,
)

TERRAFORM_RESOURCE = "terraform"  # the kind's singular name, as kubectl resolves it


def annotate_command(namespace: str, name: str, annotation: str, value: str,
                     resource: str = TERRAFORM_RESOURCE) -> str:
    """`kubectl annotate` of one object, safe to repeat with a new value."""
    target = shlex.quote(f"{resource}/{name}")
    return (f"kubectl annotate {target} -n {shlex.quote(namespace)} "
            f"{shlex.quote(f'{annotation}={value}')} --overwrite")


def approve_command(namespace: str, name: str, plan_id: str) -> str:
    """Approve exactly plan `plan_id` of Terraform `namespace/name` (design.md §4.2)."""
    return annotate_command(namespace, name, ANNOTATION_APPROVE_PLAN, plan_id)


def force_unlock_command(namespace: str, name: str, lock_id: str) -> str:
    """Ask the controller to release state lock `lock_id` of Terraform `namespace/name`."""
    return annotate_command(namespace, name, ANNOTATION_FORCE_UNLOCK, lock_id)


def take_over_state_command(namespace: str, name: str, secret: str) -> str:
    """Let Terraform `namespace/name` take over the state Secret `secret` (design.md §4.8)."""
    return annotate_command(namespace, name, ANNOTATION_TAKE_OVER_STATE, secret)


def replan_command(namespace: str, name: str, stamp: str) -> str:
    """Discard the pending plan and plan again: any value of the annotation not handled before asks for
    it (a timestamp is the usual choice)."""
    return annotate_command(namespace, name, ANNOTATION_REPLAN, stamp)


def cli_approve_command(namespace: str, name: str, plan_id: str) -> str:
    """The same approval with the `tfcontroller` CLI (it refuses an id that is no longer pending)."""
    return f"tfcontroller approve {shlex.quote(name)} --plan {shlex.quote(plan_id)} -n {shlex.quote(namespace)}"


def cli_replan_command(namespace: str, name: str) -> str:
    """Plan Terraform `namespace/name` again although its inputs did not change (the CLI waits for the plan)."""
    return f"tfcontroller replan {shlex.quote(name)} -n {shlex.quote(namespace)}"


def cli_reconcile_command(kind: str, namespace: str, name: str) -> str:
    """Reconcile object `namespace/name` of `kind` now (tfcontroller.io/requested-at): what a Stalled object
    needs after its author fixed something outside its spec (a Secret it reads), since only a spec change
    resumes it by itself; it also resumes a Terraform whose applies stopped at spec.remediation.retries
    (issue 20)."""
    return f"tfcontroller reconcile {kind.lower()} {shlex.quote(name)} -n {shlex.quote(namespace)}"


def cli_resume_command(kind: str, namespace: str, name: str) -> str:
    """Resume reconciling object `namespace/name` of `kind` (e.g. "Terraform"), which a suspended object
    needs before the controller acts on any request or approval."""
    return f"tfcontroller resume {kind.lower()} {shlex.quote(name)} -n {shlex.quote(namespace)}"


def approve_hint(namespace: str, name: str, plan_id: str) -> str:
    """The one approval hint, printed by the PlanPending/ApprovalRefused conditions and their Events, the
    drift mail, `tfcontroller plan show` and the CLI's refusals: both ways to approve exactly `plan_id`
    of Terraform `namespace/name`, each naming the object and its namespace, each between backticks so
    that a copied command does not take the surrounding punctuation with it."""
    return (f"approve with `{cli_approve_command(namespace, name, plan_id)}` "
            f"or `{approve_command(namespace, name, plan_id)}`")
