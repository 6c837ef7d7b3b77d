"""The policy gate of the Terraform controller (issue 18): every pending plan is checked by the PlanPolicies
that select its object before anything may apply it.

`step_policy` runs between the plan and the apply (reconciler.STEPS, and after a re-plan): when a plan is
pending it loads the selected PlanPolicies (runtime/policies.py: those of the object's namespace, and the
cluster-wide ones of the controller's namespace; modules cached by artifact digest) and lists the
PolicyExceptions naming this object; when their *gate key* (policy_select.py) differs from the one recorded
in `status.plan.policy.policiesDigest`, it evaluates them on the plan's `show -json` document — the one just
made, or the stored one (`plan_store.load_show`): a policy edit re-checks a pending plan without planning
again. A denied plan (or an error of a fail-closed policy) raises `PlanHeldError` with reason
`PolicyDenied`/`PolicyUnavailable` (api/policy_verdict.py decides): the step list stops before the apply,
so neither `auto` nor an approval of that plan id applies it, and the plan stays pending.

A denial sticks to its plan id (policy_hold.py): a PlanPolicy that denied the pending plan id and no
longer selects the object (labels changed, the PlanPolicy deleted or its selector changed) still denies it,
until a PolicyException for that plan id names it or a new plan with other changes is made.

Not gated: the destroy of an object being deleted (`destroyResourcesOnDeletion`): deleting the object is
the decision, and a finalizer held forever by a policy would leave it undeletable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api.errors import SpecError
from tfcontroller.api.policy_verdict import (
    PASSED,
    POLICY_CHECKED,
    POLICY_WARNED,
    verdict,
)
from tfcontroller.api.policyexception import PolicyException
from tfcontroller.api.redact import scrub
from tfcontroller.api.terraform_status import TerraformStatus
from tfcontroller.api.times import format_rfc3339
from tfcontroller.controllers.terraform.context import PlanHeldError, RunContext, status_of
from tfcontroller.controllers.terraform.policy_hold import (
    DENIALS_FIELD,
    Hold,
    denials_of,
    denying_policies,
    holds,
    remember,
)
from tfcontroller.controllers.terraform.policy_select import SelectedPolicy, exceptions_for, gate_key, unspent
from tfcontroller.kube.resources import POLICYEXCEPTIONS
from tfcontroller.policy.evaluate import (
    FAIL_OPEN,
    PolicyReport,
    PolicyResult,
    PolicySpecView,
    evaluate,
    overall,
)
from tfcontroller.policy.exceptions import ExceptionView, apply_exceptions
from tfcontroller.policy.input import PolicyMeta, policy_input
from tfcontroller.policy.status import report_to_status
from tfcontroller.runtime.policies import PolicyLoad, load_selected_policies
from tfcontroller.runtime.reconciler import CONTINUE, StepResult
from tfcontroller.terraform.plan_store import PlanNotFoundError, load_show

log = logging.getLogger(__name__)


# ---- the step ------------------------------------------------------------------------------------
def step_policy(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    status = status_of(obj)
    conds = status.setdefault("conditions", [])
    plan_id = TerraformStatus.of(status).pending.id
    if not plan_id or ctx.deleting:
        c.remove_condition(conds, POLICY_CHECKED)
        return CONTINUE
    ctl = ctx.ctl
    loads = load_selected_policies(ctl.kube, ctl.policies, obj, ctl.options.controller_namespace)
    denials = denials_of(status)
    held = holds(denials, plan_id, [load.key for load in loads])  # denied this plan id, no longer selecting
    if not loads and not held:  # no PlanPolicy selects this object: nothing to record, nothing gated
        (status.get("plan") or {}).pop("policy", None)
        c.remove_condition(conds, POLICY_CHECKED)
        return CONTINUE
    items, _ = ctl.kube.list_all(POLICYEXCEPTIONS, ctx.namespace)
    exceptions = unspent(exceptions_for(items, ctx.name), status)  # an exception waives a plan id's apply once
    key = gate_key(plan_id, [*(_selected(load) for load in loads), *(_held(h) for h in held)], exceptions)
    plan = status.setdefault("plan", {})
    recorded = plan.get("policy") if isinstance(plan.get("policy"), dict) else None
    if recorded is None or recorded.get("policiesDigest") != key or _had_errors(recorded):
        recorded = _evaluate(ctx, obj, plan_id, loads, exceptions, held)
        recorded["policiesDigest"] = key
        plan["policy"] = recorded
        _report(ctx, recorded, plan_id)
    denied = denying_policies(recorded)
    if denied:  # durable: survives re-plans of the same changes, relabels and restarts (policy_hold.py)
        status[DENIALS_FIELD] = remember(denials, plan_id, denied, str(recorded.get("evaluatedAt") or
                                                                        format_rfc3339()))
    _note_history(ctx, recorded, plan_id)
    v = verdict(recorded, plan_id)
    c.set_condition(conds, POLICY_CHECKED, c.FALSE if v.blocked else c.TRUE, v.reason, v.message,
                    ctx.tf.meta.generation)
    if v.blocked:
        raise PlanHeldError(v.reason, v.message, ctx.tf.spec.interval)
    return CONTINUE


def _had_errors(recorded: Mapping[str, Any]) -> bool:
    """A result with an evaluation error (a time limit hit under load, the stored plan unreadable for a
    moment) is not kept as the answer: it is evaluated again at the next reconcile, as a failed step is
    retried. Pure."""
    return any(isinstance(row, Mapping) and row.get("result") == "error" for row in recorded.get("results") or [])


def _selected(load: PolicyLoad) -> SelectedPolicy:
    return SelectedPolicy(load.key, load.loaded.digest if load.loaded is not None else "", load.message,
                          load.fail_open)


def _held(hold: Hold) -> SelectedPolicy:
    """A held denial in the gate key: a selection change (a relabel back) evaluates again."""
    return SelectedPolicy(hold.policy, f"held since {hold.denied_at}", "", False)


def _held_result(hold: Hold, plan_id: str) -> PolicyResult:
    """A policy that denied this plan id and no longer selects the object still denies it (policy_hold.py);
    an exception naming it waives it like any deny."""
    return PolicyResult(policy=hold.policy, enforcement="deny", denies=[hold.message(plan_id)])


def _evaluate(ctx: RunContext, obj: dict[str, Any], plan_id: str, loads: Sequence[PolicyLoad],
              exceptions: Sequence[Mapping[str, Any]], held: Sequence[Hold] = ()) -> dict[str, Any]:
    """Evaluate the loaded policies on the plan; an unavailable one is an error result (fail closed) or,
    with `failurePolicy: Open`, a warning; a held denial is a deny. Exceptions for this plan id waive
    denies. status.plan.policy."""
    started = time.monotonic()
    others = [*(_unavailable_result(load) for load in loads if load.loaded is None),
              *(_held_result(h, plan_id) for h in held)]
    usable = [load for load in loads if load.loaded is not None]
    report = _run(ctx, obj, plan_id, usable) if usable else PolicyReport(result=PASSED, results=[])
    report = _combine(report, others)
    report = apply_exceptions(report, _exception_views(ctx, exceptions), plan_id, namespace=ctx.namespace,
                              name=ctx.name)
    if ctx.ctl.metrics is not None:
        ctx.ctl.metrics.record_policy_evaluation(report.result, time.monotonic() - started)
    recorded = report_to_status(report)
    recorded["evaluatedAt"] = recorded.get("evaluatedAt") or format_rfc3339()
    return _scrubbed(ctx, recorded)


def _hidden_texts(ctx: RunContext) -> list[str]:
    """The values read from Secrets, sealed values and sensitive variables of this run (rule §4.7)."""
    resolved = ctx.inputs.resolved
    return list(resolved.hidden_texts(ctx.inputs.module_info)) if resolved is not None else []


def _scrubbed(ctx: RunContext, recorded: dict[str, Any]) -> dict[str, Any]:
    """Rule §4.7: a policy may quote a value its input did not mask (a Secret's content used as a name):
    every message is scrubbed of the values read from Secrets and of sensitive variables."""
    secrets = _hidden_texts(ctx)
    if secrets:
        for row in recorded.get("results") or []:
            row["messages"] = [scrub(str(m), secrets) for m in row.get("messages") or []]
    return recorded


def _exception_views(ctx: RunContext, exceptions: Sequence[Mapping[str, Any]]) -> list[ExceptionView]:
    views = []
    for e in exceptions:
        try:
            pex = PolicyException.from_dict(e)
        except SpecError as exc:  # the API server's schema should have refused it; it waives nothing
            log.warning("PolicyException %s ignored: %s", (e.get("metadata") or {}).get("name"), exc,
                        extra={"obj": ctx.key})
            continue
        views.append(ExceptionView(namespace=pex.meta.namespace, name=pex.name, terraform=pex.spec.terraform,
                                   plan_id=pex.spec.plan_id, policies=pex.spec.policies, reason=pex.spec.reason))
    return views


def _show(ctx: RunContext, plan_id: str) -> dict[str, Any] | None:
    if ctx.plan.show is not None and ctx.plan.show_plan_id == plan_id:
        return ctx.plan.show
    try:
        return load_show(ctx.ctl.kube, ctx.namespace, ctx.name, ctx.tf.spec.workspace, plan_id,
                         ctx.ctl.keys().keyring)
    except PlanNotFoundError:
        return None  # an API error is not "not stored": it propagates, and the frame retries the reconcile


def _run(ctx: RunContext, obj: dict[str, Any], plan_id: str, usable: Sequence[PolicyLoad]) -> PolicyReport:
    show = _show(ctx, plan_id)
    if show is None:
        why = (f"the show -json document of plan {plan_id} is not stored (too large); plan again with "
               f"`tfcontroller replan {ctx.name} -n {ctx.namespace}`")
        results = [_unavailable_result(load, why) for load in usable]
        return PolicyReport(result=overall(results), results=results)
    status = status_of(obj)
    pending = status.get("plan") or {}
    meta = PolicyMeta(namespace=ctx.namespace, name=ctx.name, labels=dict(ctx.tf.meta.labels or {}),
                      revision=str(status.get("lastPlannedRevision") or ctx.source.revision or ""),
                      plan_id=plan_id, is_drift=bool(pending.get("isDrift")),
                      is_destroy=bool(pending.get("isDestroy")))
    bundles = [(_spec_view(load), load.loaded.bundle) for load in usable if load.loaded is not None]
    # the input conceals those texts too: a policy never sees a Secret's value, even one a module passed
    # through a plain variable
    return evaluate(bundles, policy_input(show, meta, secrets=_hidden_texts(ctx)))


def _report(ctx: RunContext, recorded: Mapping[str, Any], plan_id: str) -> None:
    """A `PolicyWarned` Event when an evaluation warns. A block needs none of its own: it is Ready=False
    `PolicyDenied`/`PolicyUnavailable`, whose transition the frame records as a Warning Event (once per new
    message: a re-evaluation with the same verdict adds none)."""
    v = verdict(recorded, plan_id)
    if v.reason == POLICY_WARNED:
        ctx.events.append(("Normal", POLICY_WARNED, v.message))
    log.info("policy check of plan %s: %s", plan_id, recorded.get("result"), extra={"obj": ctx.key})


def _note_history(ctx: RunContext, recorded: Mapping[str, Any], plan_id: str) -> None:
    """This reconcile's plan run of `plan_id` carries the policy result and the exceptions (status.history)."""
    for note in ctx.history:
        if note.plan_id == plan_id:
            note.policy_of(recorded)


# ---- adapters to the policy package (tfcontroller/policy) ------------------------------------------------
def _spec_view(load: PolicyLoad) -> PolicySpecView:
    assert load.loaded is not None
    spec = load.loaded.policy.spec
    return PolicySpecView(name=load.key, enforcement=spec.enforcement, failure_policy=spec.failure_policy,
                          timeout=spec.timeout)


def _unavailable_result(load: PolicyLoad, why: str = "") -> PolicyResult:
    """A selected policy that cannot run: an error that blocks the apply (fail closed) or, with
    `failurePolicy: Open`, one that only warns (its message says the policy was not enforced)."""
    why = why or load.message
    enforcement = load.loaded.policy.spec.enforcement if load.loaded is not None else "deny"
    if load.fail_open:
        return PolicyResult(policy=load.key, enforcement=enforcement, error=f"not enforced (failurePolicy Open): {why}",
                            failure_policy=FAIL_OPEN)
    return PolicyResult(policy=load.key, enforcement=enforcement, error=why)


def _combine(report: PolicyReport, extra: Sequence[PolicyResult]) -> PolicyReport:
    results = [*report.results, *extra]
    return replace(report, result=overall(results), results=results)
