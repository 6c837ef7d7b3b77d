"""The steps of a Terraform reconcile, one function each, with one signature: `step(ctx, obj)`.

Normal path (reconciler.STEPS): recover our dead runs → source artifact → dependencies ready →
inputs and their digest → a requested force-unlock → plan when policy says so → the policy gate (issue 18:
PlanPolicies on the pending plan, policy_gate.py) → apply an approved plan → outputs → health checks (issue 20, health.py). A step marks only its own conditions and raises the typed errors of api/errors (the summariser
turns them into Ready/Reconciling/Stalled). Steps never call steps: when the pending plan turns out stale,
`step_apply` records why (`ctx.plan.stale`) and ends the list; the frame then runs `replan_steps` (re-plan,
then the rest of the list from apply on), once. Deletion has its own list (deletion.py).

Rules of design.md §4 live in policy.py (pure): re-plan only when the inputs digest changes (1), apply only
the exact approved plan (2), drift plans are ordinary approvable plans (3), a lost state stalls instead of
re-creating everything (5), no secret value in status, events or logs (7): only output *names* are
reported.
"""

from __future__ import annotations

import dataclasses
import urllib.error
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api import history
from tfcontroller.api.access import ACCESS_DENIED
from tfcontroller.api.commands import approve_hint, cli_reconcile_command, cli_replan_command
from tfcontroller.api.constants import ANNOTATION_FORCE_UNLOCK, ANNOTATION_REPLACE, ANNOTATION_REQUESTED_AT
from tfcontroller.api.errors import ReconcileError, StallingError, TransientError, WaitingError
from tfcontroller.api.policy_verdict import POLICY_CHECKED
from tfcontroller.api.terraform import PlanOptions
from tfcontroller.api.terraform_status import PendingPlan, TerraformStatus
from tfcontroller.api.times import format_rfc3339
from tfcontroller.controllers.terraform import policy
from tfcontroller.controllers.terraform.context import (
    APPLY_SUCCEEDED,
    APPROVAL_REFUSED,
    DESTROY_SUCCEEDED,
    FORCE_UNLOCK_FAILED,
    NO_CHANGES,
    OUTPUTS_WRITTEN_REASON,
    PLAN_GENERATED,
    PLAN_ONLY,
    PLAN_PENDING,
    PLAN_STALE,
    RETRIES_EXHAUSTED,
    SOURCE_NOT_READY,
    STATE_MISSING,
    STATE_UNLOCKED,
    PlanHeldError,
    RunContext,
    status_of,
)
from tfcontroller.controllers.terraform.drift.schedule import DRIFT_DETECTED
from tfcontroller.controllers.terraform.health import step_health
from tfcontroller.controllers.terraform.history import (
    RunNote,
    approver_of,
    confirm_applied,
    record_ended,
    unrecorded_apply_outcome,
)
from tfcontroller.controllers.terraform.inputs import resolve_inputs
from tfcontroller.controllers.terraform.locks import APPLY_INTERRUPTED
from tfcontroller.controllers.terraform.modules import module_digest, module_info, var_files
from tfcontroller.controllers.terraform.outputs import write_outputs
from tfcontroller.controllers.terraform.policy_gate import step_policy
from tfcontroller.controllers.terraform.runs import (
    AdoptedApplyFailed,
    _in_background,
    backend_identity,
    checkpoint,
    locked,
    prepare_workspace,
    recover,
    settle_unconfirmed,
    with_init,
    workspace,
)
from tfcontroller.crypto.errors import DecryptionError
from tfcontroller.kube.resources import GITREPOSITORIES, SECRETS, TERRAFORMS
from tfcontroller.runtime.access import refused_dependency, refused_source
from tfcontroller.runtime.reconciler import CONTINUE, STOP, Step, StepResult, ready
from tfcontroller.source.artifact import ModuleInputs
from tfcontroller.source.store import ArtifactDigestMismatchError
from tfcontroller.terraform.errors import CancelledError, StalePlanError
from tfcontroller.terraform.inputs import InputReader
from tfcontroller.terraform.inspect import check_module, undeclared_variables
from tfcontroller.terraform.plan import make_plan_id, plan_digest
from tfcontroller.terraform.plan import summarize as summarize_plan
from tfcontroller.terraform.plan_store import PlanNotFoundError, delete_plan, load_plan, save_plan
from tfcontroller.terraform.plan_view import build_plan_view
from tfcontroller.terraform.plan_view_store import save_plan_view
from tfcontroller.terraform.run_files import read_run_files
from tfcontroller.terraform.state import read_state
from tfcontroller.terraform.workspace import parse_custom_backend


def step_recover(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    """Before any Terraform command: runs of ours whose records survived (the reconcile that wrote them
    never finished) are recovered: what is left of a dead one is stopped, its lock released, an
    interrupted apply reported. Records of runs that may still be alive stay."""
    if ctx.run.previous:
        recover(ctx, obj)
    return CONTINUE


def step_source(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    ctl = ctx.ctl
    tf = ctx.tf
    ref = tf.spec.source_ref
    repo = ctl.kube.get_or_none(GITREPOSITORIES, ref.name, ref.namespace)
    refused = refused_source(ctl.kube, ref.kind, ref.namespace, ref.name, ctx.namespace, repo,
                             ctl.options.allow_cross_namespace_refs)
    if refused and not ctx.deleting:
        raise StallingError(ACCESS_DENIED, refused)
    if refused:  # a deletion may still destroy with the artifact it last used, never a new one
        repo = None
    artifact = ((repo or {}).get("status") or {}).get("artifact") or {}
    status = status_of(obj)
    last = TerraformStatus.of(status)
    if not artifact.get("url") or not artifact.get("digest"):
        if ctx.deleting and last.last_artifact_digest:
            _hold_artifact(ctx, last.last_artifact_digest)
        cached = ctl.artifacts.cached(last.last_artifact_digest or None) if ctx.deleting else None
        if cached is None:
            what = "not found" if repo is None else "has no artifact yet"
            raise WaitingError(SOURCE_NOT_READY, f"GitRepository {ref.key} {what}", tf.spec.retry_interval)
        ctx.source.artifact_path, ctx.source.artifact_digest = cached, last.last_artifact_digest
        ctx.source.revision = last.last_attempted_revision
        return CONTINUE
    ctx.source.revision, ctx.source.artifact_digest = str(artifact.get("revision") or ""), str(artifact["digest"])
    ctx.source.artifact_url = str(artifact["url"])  # pod mode: the runner downloads it and checks the digest
    _hold_artifact(ctx, ctx.source.artifact_digest)
    ctx.source.artifact_path = _fetch_artifact(ctx, artifact, ref.key, tf.spec.retry_interval)
    status["lastAttemptedRevision"] = ctx.source.revision
    status["lastArtifactDigest"] = ctx.source.artifact_digest
    return CONTINUE


def _hold_artifact(ctx: RunContext, digest: str) -> None:
    """Count the artifact as in use before looking it up, so a collection cannot remove it."""
    ctl = ctx.ctl
    if ctx.source.held_artifact == digest:
        return
    ctl.artifacts.hold(digest)
    if ctx.source.held_artifact:
        ctl.artifacts.release(ctx.source.held_artifact)
    ctx.source.held_artifact = digest


def _fetch_artifact(ctx: RunContext, artifact: dict[str, Any], source: str, retry: float) -> Path:
    ctl = ctx.ctl
    try:
        path, downloaded = ctl.artifacts.fetch(str(artifact["url"]), str(artifact["digest"]))
    except (OSError, ValueError, ArtifactDigestMismatchError, urllib.error.URLError) as exc:
        raise WaitingError(c.ARTIFACT_FAILED, f"cannot fetch the artifact of GitRepository {source}: {exc}",
                           retry) from None
    if downloaded:
        ctx.source.collect_artifacts = True  # after the final status patch: not on the way to Ready
    return path


def step_dependencies(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    ctl = ctx.ctl
    for dep in ctx.tf.spec.depends_on:
        # across namespaces (when allowed) only the other object's status is read, never its outputs
        refused = refused_dependency("Terraform", dep.namespace, dep.name, ctx.namespace,
                                     ctl.options.allow_cross_namespace_refs)
        if refused:
            raise StallingError(ACCESS_DENIED, refused)
        other = ctl.kube.get_or_none(TERRAFORMS, dep.name, dep.namespace)
        why = policy.dependency_problem(other)
        if why:
            raise WaitingError(c.DEPENDENCY_NOT_READY, f"dependency Terraform {dep.key} {why}",
                               ctx.tf.spec.retry_interval)
    return CONTINUE


def step_inputs(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    ctl = ctx.ctl
    tf = ctx.tf
    if tf.spec.custom_backend:
        parse_custom_backend(tf.spec.custom_backend)  # Stalled BackendConfigInvalid before anything runs
    ctx.inputs.module_info = module_info(ctx)
    types = {n: v.type for n, v in ctx.inputs.module_info.variables.items()} if ctx.inputs.module_info else {}
    ctx.inputs.resolved = resolve_inputs(ctl.kube, tf, sealing_key=lambda: ctl.keys().sealing_key_pem,
                                variable_types=types, retry_after=tf.spec.retry_interval)
    files = var_files(ctx)
    if ctx.inputs.module_info is not None:
        check_module(ctx.inputs.module_info,
                     set(ctx.inputs.resolved.variables) | files.provided(ctx.inputs.module_info),
                     ctx.inputs.resolved.env)
        ctx.inputs.undeclared = policy.undeclared_note(
            undeclared_variables(ctx.inputs.module_info, ctx.inputs.resolved.variables.keys()),
            ctx.inputs.resolved.origins)
    ctx.inputs.run_files_digest, file_secrets = _run_files_digest(ctx)
    if file_secrets:  # masked in readable plans, policy input and kept stderr like vars from Secrets (§4.7)
        ctx.inputs.resolved = dataclasses.replace(
            ctx.inputs.resolved, secrets=(*ctx.inputs.resolved.secrets, *file_secrets))
    module = module_digest(ctx, ctx.inputs.resolved, files)
    ctx.inputs.module_digest = module.digest
    _report_digest_scope(ctx, obj, module)
    ctx.inputs.digest = policy.inputs_digest(
        module_digest=ctx.inputs.module_digest,
        variables={"keyed": ctl.keyed(ctx.inputs.resolved.variables)},
        env_names_digest=ctl.keyed(sorted(ctx.inputs.resolved.env.items())),
        backend=policy.backend_digest_input(ctx.namespace, tf.spec.secret_suffix,
                                            ctl.keyed(tf.spec.custom_backend) if tf.spec.custom_backend else ""),
        workspace=tf.spec.workspace,
        destroy=tf.spec.destroy or ctx.deleting,
        terraform_version=ctl.terraform_version(),
        var_files=files.digests,
        run_files_digest=ctx.inputs.run_files_digest,
        targets=() if ctx.deleting else tf.spec.targets,
        sets_variables=bool(ctx.inputs.resolved.variables),
    )
    return CONTINUE


def _run_files_digest(ctx: RunContext) -> tuple[str, list[str]]:
    """The keyed digest of the team's CLI configuration fragment and mapped files (issue 20; what it covers,
    and why a rotated token is left out: RunFiles.digest_document), and every secret form of their values
    (the Secret values, the fragment's tokens, terraform/run_files.file_secret_forms): read as the
    controller reads varsFrom, and hidden in the readable plan as those are. A fragment that changes our
    provider settings is refused here, before any run. ("", []) without them."""
    spec = ctx.tf.spec
    if spec.cli_config_secret_ref is None and not spec.file_mappings:
        return "", []
    reader = InputReader(ctx.ctl.kube, ctx.namespace, spec.retry_interval)
    try:
        document = read_run_files(reader, spec.cli_config_secret_ref, spec.file_mappings).digest_document()
    except StallingError as exc:  # the fix is in a Secret, which does not resume a Stalled object by itself
        hint = cli_reconcile_command("Terraform", ctx.namespace, ctx.name)
        raise StallingError(exc.reason, f"{exc.message}; once the Secret is fixed: `{hint}`") from None
    return ctx.ctl.keyed(document), list(reader.secrets)


def _report_digest_scope(ctx: RunContext, obj: dict[str, Any], module: ModuleInputs) -> None:
    """status.inputsDigestScope says what the digest covers; widening is an Event when it starts."""
    status = status_of(obj)
    scope = policy.digest_scope(module.widened)
    if scope != status.get("inputsDigestScope") and scope["scope"] == policy.SCOPE_ARTIFACT:
        ctx.events.append(("Normal", policy.DIGEST_WIDENED, scope["message"]))
    status["inputsDigestScope"] = scope


def step_force_unlock(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    wanted = (ctx.tf.force_unlock_id or "").strip()
    status = status_of(obj)
    if not wanted or TerraformStatus.of(status).last_handled_force_unlock == wanted:
        return CONTINUE
    checkpoint(ctx, obj, f"Releasing state lock {wanted}", operation="force-unlock")
    runner = workspace(ctx)
    status["lastHandledForceUnlock"] = wanted
    try:
        runner.force_unlock(wanted)
    except ReconcileError as exc:
        ctx.events.append(("Warning", FORCE_UNLOCK_FAILED, f"could not release state lock {wanted}: {exc.message}"))
        return CONTINUE
    c.remove_condition(status.setdefault("conditions", []), c.STATE_LOCKED)
    status.pop("lock", None)
    ctx.events.append(("Normal", STATE_UNLOCKED, f"released state lock {wanted} as requested by annotation "
                                                 f"{ANNOTATION_FORCE_UNLOCK}"))
    return CONTINUE


def step_plan(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    ctl = ctx.ctl
    tf = ctx.tf
    status = status_of(obj)
    replan_value = tf.replan_requested
    last = TerraformStatus.of(status)
    replan = bool(replan_value) and last.last_handled_replan != replan_value
    drift_is_due = ctl.drift.due(tf, status)  # interval ± jitter since the last check (drift/schedule.py)
    replace = _replace_request(ctx, status)
    decision = policy.decide_plan(
        status, ctx.inputs.digest, replan_requested=replan, drift_due=drift_is_due,
        lock_blocked_last_try=c.is_true(status.get("conditions"), c.STATE_LOCKED), plan_only=tf.spec.plan_only,
    )
    if replace.addresses:  # a one-shot replacement plans now, as a replan does
        decision = policy.PlanDecision(True, f"replacement of {', '.join(replace.addresses)} requested")
        ctx.plan.replace, ctx.plan.replace_request = replace.addresses, replace
    decision = ctl.drift.recheck(decision, tf, status, drift_is_due)  # a pending drift plan is re-checked
    if decision.plan and not ctx.deleting and not tf.spec.plan_only and not decision.is_drift_check:
        # a pending plan about to be discarded unapplied does not consume its replacements
        carried = policy.carried_replacements((status.get("plan") or {}).get("replace"), tf.spec.replace,
                                              tf.replace_requested)
        ctx.plan.replace = tuple(dict.fromkeys([*ctx.plan.replace, *carried]))
    if replan:
        status["lastHandledReplan"] = replan_value
    if not decision.plan:
        if tf.pending_plan or last.pending:
            return CONTINUE
        ready_cond = c.find(status.get("conditions"), c.READY)
        message = policy.inputs_unchanged_message(last.last_applied_revision, ctx.source.revision,
                                                  cli_replan_command(ctx.namespace, ctx.name))
        return ready(ready_cond.reason if ready_cond is not None and ready_cond.status == c.TRUE else c.SUCCEEDED,
                     message)
    return make_plan(ctx, obj, decision)


def _replace_request(ctx: RunContext, status: dict[str, Any]) -> policy.ReplaceRequest:
    """The one-shot replacements not handled yet (policy.ReplaceRequest); a deletion replaces nothing."""
    tf = ctx.tf
    if ctx.deleting:
        return policy.ReplaceRequest()
    policy.forget_handled_replace(status, tf.spec.replace, tf.meta.annotations.get(ANNOTATION_REPLACE))
    return policy.replace_request(tf.spec.replace, status.get("lastHandledSpecReplace"),
                                  tf.meta.annotations.get(ANNOTATION_REPLACE), status.get("lastHandledReplace"),
                                  tf.replace_requested)


def plan_options(ctx: RunContext) -> PlanOptions:
    """-target/-replace/-parallelism of this reconcile's plan: a destroy on deletion destroys everything, so
    it takes no targets and no replacements."""
    spec = ctx.tf.spec
    if ctx.deleting:
        return PlanOptions(parallelism=spec.parallelism)
    return PlanOptions(spec.targets, ctx.plan.replace, spec.parallelism)


def make_plan(ctx: RunContext, obj: dict[str, Any], decision: policy.PlanDecision) -> StepResult | None:
    ctl = ctx.ctl
    tf = ctx.tf
    status = status_of(obj)
    destroy = tf.spec.destroy or ctx.deleting
    checkpoint(ctx, obj, f"Planning{' destroy' if destroy else ''} at {ctx.source.revision} ({decision.reason})",
                     operation="plan", meanwhile=lambda: prepare_workspace(ctx))
    note = ctx.note_run(history.DRIFT if decision.is_drift_check else history.PLAN, ctx.source.revision)
    runner = workspace(ctx)
    ws = ctx.run.workspace
    assert ws is not None
    options = plan_options(ctx)
    note.replace = options.replace
    planned = locked(ctx, obj, lambda: with_init(
        ctx, lambda: runner.plan(ws.plan_path, destroy=destroy, options=options)))
    if ctx.plan.replace_request is not None:  # made: the one-shot request is handled (recorded in history)
        ctx.plan.replace_request.record(status)
        ctx.plan.replace_request = None
    # The state-loss guard below reads the state Secret; with changes planned it is read while
    # `show -json` runs (a read only: nothing is decided before the guard has the plan's summary).
    state_read = _in_background(lambda: read_state(ctl.kube, ctx.namespace, tf.state_secret_name)) \
        if planned.has_changes and not ctx.deleting and not tf.spec.custom_backend else None
    show = runner.show_json(ws.plan_path)
    summary = summarize_plan(show)
    now = format_rfc3339()
    drift = dict(status.get("drift") or {})
    drift["lastCheckedAt"] = now
    status["drift"] = drift
    drifted = False
    if decision.is_drift_check:  # status.drift, Drifted, DriftDetected Event (drift/hooks.py)
        drifted = ctl.drift.on_check(obj, tf, show, ctx.events).drifted
    status["lastPlannedRevision"] = ctx.source.revision
    status["inputsDigest"] = ctx.inputs.digest
    conds = status.setdefault("conditions", [])
    gen = tf.meta.generation
    if not summary.has_changes:
        if PendingPlan.of(status):
            delete_plan(ctl.kube, ctx.namespace, ctx.name, tf.spec.workspace)
        status["plan"] = {"pending": ""}
        status["lastAppliedInputsDigest"] = ctx.inputs.digest
        status["lastAppliedRevision"] = ctx.source.revision
        status["lastAppliedResourceCount"] = summary.prior_resource_count
        _note_undeclared(ctx)
        c.set_condition(conds, c.PLANNED, c.TRUE, NO_CHANGES, _noted(ctx, f"No changes at {ctx.source.revision}"), gen)
        ctx.done.planned_no_changes = True
        note.end(history.NO_CHANGES, NO_CHANGES, f"No changes at {ctx.source.revision}")
        return ready(NO_CHANGES, _noted(ctx, f"No changes at {ctx.source.revision}"))
    if not ctx.deleting and not tf.spec.custom_backend:  # a custom backend's state is not ours to read
        state = state_read() if state_read is not None else read_state(ctl.kube, ctx.namespace,
                                                                       tf.state_secret_name)
        last = TerraformStatus.of(status)
        if policy.state_lost(applied_resources=last.last_applied_resource_count,
                             state_exists=state.exists, state_empty=state.empty,
                             creates_everything=summary.creates_everything):
            raise StallingError(STATE_MISSING, (
                f"the state Secret {tf.state_secret_name} is missing or empty although "
                f"{last.last_applied_resource_count} resources were applied at "
                f"{last.last_applied_revision}; the plan would create all {summary.add} again, so "
                "nothing is applied. Restore the state Secret, or remove status.lastAppliedResourceCount "
                "to accept re-creating them."))
    ref, commit = policy.ref_and_commit(ctx.source.revision)
    salt = ctl.keys().digest_key
    plan_id = make_plan_id(ref, commit, plan_digest(show, sensitive_salt=salt))
    assert ctx.inputs.resolved is not None
    ctx.plan.saved_views = save_plan_view(ctl.kube, obj, tf.spec.workspace, plan_id, build_plan_view(
        show, plan_id=plan_id, revision=ctx.source.revision, created_at=now, is_drift=decision.is_drift_check,
        is_destroy=destroy, secrets=ctx.inputs.resolved.hidden_texts(ctx.inputs.module_info)))
    ctx.plan.saved_secrets = save_plan(ctl.kube, obj, tf.spec.workspace, plan_id, ws.plan_path.read_bytes(),
                                       ctl.keys().keyring, chunk_bytes=ctl.options.plan_chunk_bytes, show=show,
                                       backend=backend_identity(ctl, ctx.key))
    ctx.plan.local = True
    ctx.plan.show, ctx.plan.show_plan_id = show, plan_id  # the policy gate evaluates it (policy_gate.py)
    status["plan"] = {"pending": plan_id, "add": summary.add, "change": summary.change,
                      "destroy": summary.destroy, "createdAt": now, "isDrift": decision.is_drift_check,
                      "isDestroy": destroy}
    status["plan"].update({k: v for k, v in (("import", summary.imports), ("move", summary.moves)) if v})
    if options.replace:
        status["plan"]["replace"] = list(options.replace)
    status["planExpectedResources"] = policy.expected_resources(summary.prior_resource_count, summary.add,
                                                                summary.destroy, summary.imports)
    counts = PendingPlan.of(status).counts()
    note.counts_of(PendingPlan.of(status))
    note.end(history.SUCCEEDED, DRIFT_DETECTED if drifted else PLAN_GENERATED, f"Plan {plan_id}: {counts}", plan_id)
    _note_undeclared(ctx)
    c.set_condition(conds, c.PLANNED, c.TRUE, PLAN_GENERATED, _noted(ctx, f"Plan {plan_id}: {counts}"), gen)
    if tf.spec.plan_only and not ctx.deleting:
        ctx.events.append(("Normal", PLAN_ONLY, f"Plan {plan_id} ({counts}) is not applied: spec.planOnly"))
    elif not tf.spec.auto_approve and not ctx.deleting:
        ctx.events.append(("Normal", PLAN_PENDING,
                           f"Plan {plan_id} ({counts}); {approve_hint(ctx.namespace, ctx.name, plan_id)}"))
    # checkpoint the pending plan: a crash must find it, not plan from scratch. With `auto` the apply's
    # own checkpoint, at once in the next step, carries it: one API round trip less per run.
    if not tf.spec.auto_approve:
        ctl.patch(ctx.frame, obj)
    return CONTINUE


def step_apply(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    ctl = ctx.ctl
    tf = ctx.tf
    status = status_of(obj)
    last = TerraformStatus.of(status)
    plan = last.pending
    pending = plan.id
    if not pending:
        return CONTINUE
    note_offer: str | None = None
    if tf.spec.plan_only and not ctx.deleting:
        return ready(PLAN_ONLY, _noted(ctx, f"Plan {pending} ({plan.counts()}) is not applied: spec.planOnly is "
                                            "set (plan and report only)"))
    if not ctx.deleting:
        _check_retries(ctx, status)
        spec_offer, note_offer = policy.offered_approvals(
            tf.spec.approve_plan, tf.approval_annotation,
            last.plan_history)
        decision = policy.decide_approval(spec_offer, note_offer, pending)
        if not decision.apply:
            counts = plan.counts()
            if decision.refused:
                raise PlanHeldError(APPROVAL_REFUSED, f"{decision.refused}; "
                                                      f"{approve_hint(ctx.namespace, ctx.name, pending)}",
                                    tf.spec.interval)
            raise PlanHeldError(PLAN_PENDING, _noted(ctx, f"Plan {pending} ({counts}) waits for approval; "
                                                 f"{approve_hint(ctx.namespace, ctx.name, pending)}"), tf.spec.interval)
    checkpoint(ctx, obj, f"Applying plan {pending}", operation="apply", plan=pending)
    note = ctx.note_run(history.DESTROY if plan.is_destroy else history.APPLY,
                        ctx.source.revision or last.last_planned_revision, pending)
    note.counts_of(plan)
    note.policy_of((status.get("plan") or {}).get("policy"))
    note.approved_by = approver_of(obj, pending, auto=ctx.deleting or tf.spec.auto_approve, annotation=note_offer)
    runner = workspace(ctx)
    ws = ctx.run.workspace
    assert ws is not None
    if not ctx.plan.local:
        try:
            data = load_plan(ctl.kube, ctx.namespace, ctx.name, tf.spec.workspace, pending, ctl.keys().keyring,
                             backend=backend_identity(ctl, ctx.key))
        except (PlanNotFoundError, DecryptionError) as exc:
            return _stale(ctx, f"the stored plan {pending} cannot be used ({exc})", note)
        ws.plan_path.write_bytes(data)
        ctx.plan.local = True
    try:
        result = locked(ctx, obj, lambda: with_init(
            ctx, lambda: runner.apply(ws.plan_path, parallelism=tf.spec.parallelism)))
    except StalePlanError:
        return _stale(ctx, f"plan {pending} is stale: the state changed since it was made", note)
    except Exception as exc:
        if (error := apply_error_text(exc)) is not None:
            ctx.done.apply_results.append(policy.ApplyResult(False, ctx.inputs.digest, error))
        raise
    # Issue 21 (slice C): what Terraform did is recorded first — applied, in status and in its history entry —
    # and stored at once, before anything that can fail (the plan's deletion, drift mail, the outputs Secret,
    # health checks, the final status write): a later failure is its own, reported on Ready, and never turns
    # this apply into a failed one. Should this very write fail, or the controller die before it, the run
    # record left in status lets the next reconcile learn from Terraform that the plan was applied
    # (history.unrecorded_apply_outcome, step_replan).
    ctx.done.apply_results.append(policy.ApplyResult(True, ctx.inputs.digest))
    ctx.done.applied_output_names = policy.output_names(result.messages)
    ctx.done.applied_sensitive_outputs = policy.applied_sensitive_output_names(result.messages)
    reason, message = _record_applied(ctx, obj, plan, pending, note)
    ctl.patch(ctx.frame, obj)
    delete_plan(ctl.kube, ctx.namespace, ctx.name, tf.spec.workspace, saved=ctx.plan.saved_secrets,
                saved_view=ctx.plan.saved_views)
    ctl.drift.on_applied(obj, tf, ctx.events)  # drift remediated: Drifted=False, mail (drift/hooks.py)
    return ready(reason, message)


def _record_applied(ctx: RunContext, obj: dict[str, Any], plan: PendingPlan, pending: str,
                    note: RunNote) -> tuple[str, str]:
    """The status of an applied plan (the last applied revision, inputs, plan and resource count; Applied;
    the pending plan gone) and its history entry, ended Succeeded and put in status.history at once."""
    status = status_of(obj)
    last = TerraformStatus.of(status)
    status["lastAppliedRevision"] = ctx.source.revision or last.last_planned_revision or None
    status["lastAppliedInputsDigest"] = last.inputs_digest or None
    status["lastAppliedPlan"] = pending
    status["lastAppliedResourceCount"] = int(status.pop("planExpectedResources", 0) or 0)
    status["plan"] = {"pending": ""}
    conds = status.setdefault("conditions", [])
    counts = plan.done_counts()
    reason = DESTROY_SUCCEEDED if plan.is_destroy else APPLY_SUCCEEDED
    message = _noted(ctx, f"Applied plan {pending} at {status['lastAppliedRevision']}: {counts}")
    c.set_condition(conds, c.APPLIED, c.TRUE, reason, message, ctx.tf.meta.generation)
    c.remove_condition(conds, APPLY_INTERRUPTED)  # status.lastInterruptedApply keeps the record (locks.py)
    c.remove_condition(conds, POLICY_CHECKED)  # it described the plan now applied (its history entry keeps it)
    ctx.events.append(("Normal", reason, message))
    note.end(history.SUCCEEDED, reason, message)
    record_ended(status, ctx.history, ctx.ctl.options.history_limit)
    ctx.done.applied = True
    return reason, message


def _check_retries(ctx: RunContext, status: dict[str, Any]) -> None:
    """spec.remediation.retries: after that many retries of a failed apply, stop (Stalled RetriesExhausted,
    naming the last error) until the spec (generation) or the inputs digest change, or a reconcile is requested
    (policy.retries_exhausted)."""
    retries = ctx.tf.spec.remediation.retries
    failures = policy.ApplyFailures.of(status)
    requested = ctx.tf.meta.annotations.get(ANNOTATION_REQUESTED_AT, "")
    if retries is not None and policy.retries_exhausted(failures, retries, ctx.inputs.digest, requested,
                                                        ctx.tf.meta.generation):
        raise StallingError(RETRIES_EXHAUSTED, policy.retries_message(
            failures, retries, cli_reconcile_command("Terraform", ctx.namespace, ctx.name)))


def apply_error_text(exc: BaseException) -> str | None:
    """Pure: the failure of an apply that raised `exc`, as `Reason: message`; None when it is no failure of the
    apply: a wait (a state lock held by someone else, an approval), this controller stopping, or an adopted
    apply of an earlier controller (recorded by the adoption itself)."""
    if isinstance(exc, WaitingError | CancelledError | AdoptedApplyFailed):
        return None
    return f"{exc.reason}: {exc.message}" if isinstance(exc, ReconcileError) else f"{type(exc).__name__}: {exc}"


def count_apply_failures(ctx: RunContext, status: dict[str, Any]) -> None:
    """At the end of a reconcile: the streak of failed applies (status.applyFailures) after the applies that
    ended in it, each by its own result (policy.streak_after), cleared by a success. A reconcile whose
    apply did not end (none ran, a stale plan planned again, a wait for a lock) leaves it as it is, and so
    does a step after a successful apply that fails (outputs, health checks): that apply succeeded."""
    if ctx.deleting or not ctx.done.apply_results:
        return
    after = policy.streak_after(policy.ApplyFailures.of(status), ctx.done.apply_results,
                                ctx.tf.meta.annotations.get(ANNOTATION_REQUESTED_AT, ""), ctx.tf.meta.generation)
    if after is None:
        status.pop("applyFailures", None)
    else:
        status["applyFailures"] = after.to_status()


def _noted(ctx: RunContext, message: str) -> str:
    """A condition message with the note on undeclared variables, when there is one (issue 13.5)."""
    return f"{message}; note: {ctx.inputs.undeclared}" if ctx.inputs.undeclared else message


def _note_undeclared(ctx: RunContext) -> None:
    """A plan was made with values the module ignores: a Warning Event once per plan (the run goes on)."""
    if ctx.inputs.undeclared and not ctx.deleting:
        ctx.events.append(("Warning", policy.UNDECLARED_VARIABLES, ctx.inputs.undeclared))


def _stale(ctx: RunContext, why: str, note: RunNote) -> StepResult:
    """Rule §4.2: the pending plan cannot be applied (stale, lost or undecryptable). The step ends the
    list; the frame then runs `replan_steps`, once: a plan that goes stale again is a transient error.
    The apply's history entry says it failed as stale — unless a dead run of ours was applying this plan
    and its result never reached the status: then the new plan decides what both were (step_replan)."""
    if ctx.plan.replanned:
        note.end(history.FAILED, PLAN_STALE, why)
        raise TransientError(PLAN_STALE, f"{why}; planned again and it went stale again")
    if any(earlier.plan_id == note.plan_id for _, earlier in ctx.run.unconfirmed):
        ctx.plan.stale_attempt = note  # not ended: a checkpoint must not record it as failed yet
    else:
        note.end(history.FAILED, PLAN_STALE, why)
    ctx.plan.stale = why
    return STOP


def step_replan(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    """The pending plan went stale (`ctx.plan.stale`): discard it and plan again. What follows in the
    list (apply, ...) applies the new plan only when `auto` (or deleting); otherwise it waits for a new
    approval."""
    ctl = ctx.ctl
    why, ctx.plan.stale, ctx.plan.replanned = ctx.plan.stale, "", True
    tf = ctx.tf
    delete_plan(ctl.kube, ctx.namespace, ctx.name, tf.spec.workspace)
    status = status_of(obj)
    last = TerraformStatus.of(status)
    status["lastDiscardedPlan"] = last.pending.id or last.last_discarded_plan or None
    # the new plan replaces what the stale one was asked to (a one-shot request was handled with it)
    ctx.plan.replace = tuple(str(a) for a in (status.get("plan") or {}).get("replace") or ())
    earlier = [note for _, note in ctx.run.unconfirmed if last.pending.id and note.plan_id == last.pending.id]
    if not earlier:
        status["plan"] = {"pending": ""}
        ctx.events.append(("Normal", PLAN_STALE, f"{why}; planning again"))
    # else the plan stays pending until the new plan replaces it: should this reconcile fail before that,
    # the next one still finds the dead run's apply of it to ask Terraform about (runs.settle_unconfirmed)
    ctx.plan.local = False
    ctx.plan.saved_secrets = ctx.plan.saved_views = None
    if ctx.run.workspace is not None:
        ctx.run.workspace.plan_path.unlink(missing_ok=True)
    result = make_plan(ctx, obj, policy.PlanDecision(True, why))
    if not earlier:
        return result
    if unrecorded_apply_outcome(plan_went_stale=True,
                                replan_has_changes=not ctx.done.planned_no_changes) == history.SUCCEEDED:
        return _confirm_applied(ctx, obj, earlier[0])
    ctx.events.append(("Normal", PLAN_STALE, f"{why}; planned again"))
    settle_unconfirmed(ctx, status)  # Interrupted, and this attempt failed as stale, as without a recovery
    return result


def _confirm_applied(ctx: RunContext, obj: dict[str, Any], earlier: RunNote) -> StepResult:
    """A dead run of ours applied the plan (history.unrecorded_apply_outcome): its entry says applied, the
    apply attempt of this reconcile that found the plan stale is no run of its own, and the status records
    the applied plan as step_apply would have (the new plan's NoChanges already set the applied revision,
    inputs and resource count)."""
    status = status_of(obj)
    ctx.run.unconfirmed = [(r, n) for r, n in ctx.run.unconfirmed if n is not earlier]
    if ctx.plan.stale_attempt is not None and ctx.plan.stale_attempt in ctx.history:
        ctx.history.remove(ctx.plan.stale_attempt)
    ctx.plan.stale_attempt = None
    confirm_applied(earlier, ctx.source.revision, "its result had not reached the status; Terraform's state "
                    "shows the plan applied: it was stale and a new plan of the same inputs has no changes")
    ctx.history.append(earlier)
    status["lastAppliedPlan"] = earlier.plan_id
    reason = DESTROY_SUCCEEDED if earlier.kind == history.DESTROY else APPLY_SUCCEEDED
    c.set_condition(status.setdefault("conditions", []), c.APPLIED, c.TRUE, reason, earlier.message,
                    ctx.tf.meta.generation)
    c.remove_condition(status["conditions"], POLICY_CHECKED)
    ctx.events.append(("Normal", reason, earlier.message))
    ctx.done.apply_results.append(policy.ApplyResult(True, ctx.inputs.digest))
    ctx.done.applied = True
    return ready(reason, earlier.message)


def step_outputs(ctx: RunContext, obj: dict[str, Any]) -> StepResult | None:
    ctl = ctx.ctl
    tf = ctx.tf
    status = status_of(obj)
    conds = status.setdefault("conditions", [])
    wanted = tf.spec.write_outputs_to_secret
    fresh = ctx.done.applied or ctx.done.planned_no_changes
    if not fresh:
        if not TerraformStatus.of(status).last_applied_revision:
            return CONTINUE
        if wanted is None and "availableOutputs" in status and "sensitiveOutputs" in status:
            return CONTINUE
        written = c.find(conds, c.OUTPUTS_WRITTEN)
        if wanted is not None and written is not None and written.status == c.TRUE and \
                written.observed_generation == tf.meta.generation and "sensitiveOutputs" in status and \
                ctl.kube.get_or_none(SECRETS, wanted.name, ctx.namespace) is not None:
            return CONTINUE
    if wanted is None and ctx.done.applied and ctx.done.applied_output_names is not None and \
            ctx.done.applied_sensitive_outputs is not None:
        status["availableOutputs"] = ctx.done.applied_output_names  # names only: no need to read the state
        status["sensitiveOutputs"] = ctx.done.applied_sensitive_outputs
        c.remove_condition(conds, c.OUTPUTS_WRITTEN)
        return CONTINUE
    if tf.spec.custom_backend:  # the state is in the team's backend: the names stay those of the last apply
        return CONTINUE
    state = read_state(ctl.kube, ctx.namespace, tf.state_secret_name)
    outputs = state.outputs or {}
    ctx.done.outputs = outputs  # the health checks render from them (health.py)
    status["availableOutputs"] = sorted(outputs)
    status["sensitiveOutputs"] = policy.sensitive_output_names(outputs)  # names only, never values
    if wanted is None:
        c.remove_condition(conds, c.OUTPUTS_WRITTEN)
        return CONTINUE
    count = write_outputs(ctl.kube, obj, wanted, outputs)
    c.set_condition(conds, c.OUTPUTS_WRITTEN, c.TRUE, OUTPUTS_WRITTEN_REASON,
                    f"{count} outputs written to Secret {wanted.name}", tf.meta.generation)
    return CONTINUE




STEPS: list[Step] = [step_recover, step_source, step_dependencies, step_inputs, step_force_unlock, step_plan,
                     step_policy, step_apply, step_outputs, step_health]


def replan_steps(steps: Sequence[Step]) -> list[Step]:
    """What the frame runs after `step_apply` found the pending plan stale: plan again, then the rest of
    the list from the policy gate on (deleting: apply and remove the state). The new plan is checked by the
    policies like any other."""
    first = step_policy if step_policy in steps else step_apply
    return [step_replan, *steps[list(steps).index(first):]]
