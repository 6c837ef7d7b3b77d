"""Deleting a Terraform: its own ordered step list, run by the same frame.

Our dead runs are recovered, then the deletion waits for the Terraforms that depend on this one. With
`destroyResourcesOnDeletion` the deletion is the approval of a destroy plan: only the state's owner
destroys (rule §4.8, ownership.py), the destroy plan is made and applied like any plan (a stale one is
planned again by the frame), and the state Secret and lock Lease are removed. The frame then removes the
finalizer.
"""

from __future__ import annotations

from typing import Any

from tfcontroller.api.errors import WaitingError
from tfcontroller.api.terraform import Terraform
from tfcontroller.controllers.terraform import policy
from tfcontroller.controllers.terraform.context import (
    DELETION_BLOCKED,
    DESTROY_SKIPPED,
    DESTROY_SUCCEEDED,
    RunContext,
    status_of,
)
from tfcontroller.controllers.terraform.indexes import depends_on_index
from tfcontroller.controllers.terraform.ownership import destroy_refusal
from tfcontroller.controllers.terraform.steps import (
    make_plan,
    step_apply,
    step_inputs,
    step_recover,
    step_source,
)
from tfcontroller.kube.resources import TERRAFORMS, object_key
from tfcontroller.runtime.reconciler import CONTINUE, STOP, Step, StepResult
from tfcontroller.terraform.state import delete_state


def step_dependents(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    ctl = ctx.ctl
    items, _ = ctl.kube.list_all(TERRAFORMS)
    own = f"{ctx.namespace}/{ctx.name}"
    blocking = sorted(object_key(o) for o in items
                      if own in depends_on_index(o) and not (o.get("metadata") or {}).get("deletionTimestamp"))
    if blocking:
        raise WaitingError(DELETION_BLOCKED, f"deletion waits: Terraform {', '.join(blocking)} depend(s) on it",
                           ctx.tf.spec.retry_interval)
    return CONTINUE


def step_destroy_allowed(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    """Only the state's owner destroys (ownership.py); any other object is deleted without destroying."""
    if ctx.tf.spec.custom_backend:
        return CONTINUE  # no ownership record outside the kubernetes backend: the object's own state
    skipped = destroy_refusal(ctx.ctl.kube, ctx.tf)
    if skipped:
        ctx.events.append(("Normal", DESTROY_SKIPPED, skipped))
        return STOP
    return CONTINUE


def step_destroy_plan(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    """Plan the destroy from scratch: a plan pending before the deletion is not what the user approved."""
    status_of(obj)["plan"] = {"pending": ""}
    make_plan(ctx, obj, policy.PlanDecision(True, "the object is being deleted"))
    return CONTINUE


def step_remove_state(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    tf = ctx.tf
    if tf.spec.custom_backend:  # the emptied state stays in the team's backend, as terraform destroy leaves it
        ctx.events.append(("Normal", DESTROY_SUCCEEDED, f"destroyed the resources of {ctx.name}"))
        return CONTINUE
    delete_state(ctx.ctl.kube, ctx.namespace, tf.state_secret_name, tf.state_lease_name)
    ctx.events.append(("Normal", DESTROY_SUCCEEDED, f"destroyed the resources of {ctx.name}; state removed"))
    return CONTINUE


def deletion_steps(tf: Terraform) -> list[Step]:
    steps: list[Step] = [step_recover, step_dependents]
    if tf.spec.destroy_resources_on_deletion:
        steps += [step_source, step_inputs, step_destroy_allowed, step_destroy_plan, step_apply, step_remove_state]
    return steps
