"""The Terraform run of one reconcile: its run directory (workspace, cached init), the checkpoint that
records the run before a command that may take the state lock, lock handling, and the recovery of our
own runs that died holding the lock (design.md §4.4; the rules are in locks.py, pure where they can be).

Every function takes the step's `RunContext`; the long-lived pieces (init cache, runners in flight,
options) are on `ctx.ctl`, the reconciler.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from tfcontroller.api import artifact_bounds, history
from tfcontroller.api import conditions as c
from tfcontroller.api.commands import force_unlock_command
from tfcontroller.api.errors import TransientError, WaitingError
from tfcontroller.api.run_protocol import ARTIFACT_FROM_RUN_API, PLAN, RunRequest, VarRef
from tfcontroller.api.terraform_status import PendingPlan, TerraformStatus
from tfcontroller.api.times import format_rfc3339, parse_terraform_time
from tfcontroller.controllers.terraform import policy
from tfcontroller.controllers.terraform.context import (
    PLAN_STALE,
    STATE_LOCKED,
    STATE_UNLOCKED,
    RunContext,
    status_of,
)
from tfcontroller.controllers.terraform.credentials import (
    kubeconfig_path,
    runner_service_account,
    token_seconds,
)
from tfcontroller.controllers.terraform.history import (
    RunNote,
    approver_of,
    awaits_confirmation,
    interrupted,
    record_ended,
)
from tfcontroller.controllers.terraform.locks import (
    RUN_ENV,
    Recovery,
    RecoveryContext,
    RunRecord,
    is_dead_run_lock,
    recover_runs,
    release_lock,
    report_recovery,
    write_records,
)
from tfcontroller.controllers.terraform.ownership import ensure_state_owner
from tfcontroller.crypto.errors import DecryptionError
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError
from tfcontroller.kube.resources import PODS
from tfcontroller.runtime.reconciler import mark_reconciling
from tfcontroller.terraform.errors import CancelledError, StateLockedError, TimeoutExpiredError
from tfcontroller.terraform.initcache import LOCK_FILE, init_key
from tfcontroller.terraform.inspect import declared_variables
from tfcontroller.terraform.plan_store import PlanNotFoundError, delete_plan, load_plan
from tfcontroller.terraform.pod_runner import (
    PodRunner,
    PodRunOptions,
    TerminationSummary,
    await_result,
    delete_run_objects,
    pod_state,
    termination_summary,
)
from tfcontroller.terraform.processes import boot_id, run_alive
from tfcontroller.terraform.protocol_runner import ProtocolRunner
from tfcontroller.terraform.runner import TerraformRunner
from tfcontroller.terraform.runner_pod import LABEL_RUN_ID, RunPodParams
from tfcontroller.terraform.sandbox import runner_kubeconfig
from tfcontroller.terraform.state import read_lock
from tfcontroller.terraform.workspace import Workspace, run_backend

log = logging.getLogger(__name__)
T = TypeVar("T")
RUNNER_POD = "pod"


def checkpoint(ctx: RunContext, obj: dict[str, Any], message: str, operation: str | None = None,
                meanwhile: Callable[[], object] | None = None, plan: str = "") -> None:
    """Progress and, before a locking command, the run record; sent at once so a crash leaves them.
    `meanwhile` (local preparation that touches neither `obj` nor the cluster, e.g. the run directory)
    runs while the patch is in flight; this returns only when both are done, so the command that
    follows still starts after the checkpoint is stored."""
    ctl = ctx.ctl
    ctx.run.obj = obj
    mark_reconciling(obj, message)
    if operation is not None:
        if ctx.run.record is None:  # the first command of this reconcile that may lock: the run starts here
            ctx.run.record = RunRecord.new(ctl.options.instance_id, operation)
            with ctl.lock:
                ctl.in_flight.add(ctx.run.record.marker)
        ctx.run.record = ctx.run.record.doing(operation, plan)
        write_records(status_of(obj), [*ctx.run.kept(), ctx.run.record])  # appended: older records stay
        record_ended(status_of(obj), ctx.history, ctl.options.history_limit)  # the plan before its apply
    if meanwhile is None:
        ctl.patch(ctx.frame, obj)
        return
    failed: list[BaseException] = []

    def send() -> None:
        try:
            ctl.patch(ctx.frame, obj)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the reconciling thread below
            failed.append(exc)

    sender = threading.Thread(target=send, name=f"checkpoint-{ctx.name}", daemon=True)
    sender.start()
    try:
        meanwhile()
    finally:
        sender.join()
    if failed:
        raise failed[0]


def workspace(ctx: RunContext) -> TerraformRunner:
    """The run directory and the runner of this reconcile, prepared once. Init is the runner's: each run
    initialises, or reuses the object's init cache (runner/execute.py)."""
    ctl = ctx.ctl
    if ctx.run.runner is not None:
        return ctx.run.runner
    if not ctx.tf.spec.custom_backend:  # a custom backend's state has no Secret to record an owner on
        ensure_state_owner(ctl.kube, ctx.tf, ctx.events)  # rule §4.8, before any command (ownership.py)
    prepare_workspace(ctx)
    runner = pod_runner(ctx) if ctl.options.runner_mode == RUNNER_POD else protocol_runner(ctx)
    with ctl.lock:
        ctl.runners[ctx.key] = runner
    if ctl.stopping.is_set():
        runner.cancel()
    ctx.run.runner = runner
    return runner


def protocol_runner(ctx: RunContext) -> ProtocolRunner:
    """`--runner=local`: each command a `tfcontroller runner run` (terraform/protocol_runner.py). The runner
    reads the object's references itself; what only the controller gives it is the decrypted sealed values
    and its identity: a kubeconfig written before each run (credentials.py: a token of the namespace's
    runner ServiceAccount, else the controller's own credential — module authors are as trusted as the
    controller; docs/architecture.md "Runner pods")."""
    ctl, tf = ctx.ctl, ctx.tf
    assert ctx.run.record is not None and ctx.source.artifact_path is not None and ctx.inputs.resolved is not None
    template = dataclasses.replace(run_request(ctx, ""), init_key=ctx.run.init_key)
    record = ctx.run.record
    seconds = token_seconds(float(tf.spec.timeout), ctl.options.terraform.timeouts.grace)
    account = runner_service_account(tf)

    def credential() -> Path:
        return ctl.credentials.run_kubeconfig(ctx.namespace, ctx.key, account, seconds)

    cache = ctl.init_cache.dir_for(ctx.key) if ctx.run.init_key else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    return ProtocolRunner(template, ctx.source.artifact_path, ctl.runner_runs_dir,
                          ctl.options.terraform, kubeconfig=kubeconfig_path(ctl.options.work_dir, ctx.key),
                          sandboxed=ctl.options.runner_sandbox, object_key=ctx.key,
                          plan_id=lambda: ctx.run.record.plan if ctx.run.record is not None else record.plan,
                          init_cache=cache, credential=credential, reaper=ctl.reaper, token_seconds=seconds,
                          # an apply may follow the plan in this reconcile: one runner serves both (issue 21)
                          hold=ctx.deleting or (tf.spec.auto_approve and not tf.spec.plan_only))


def run_request(ctx: RunContext, artifact_url: str) -> RunRequest:
    """What every run of this reconcile shares (its operation is set per command): references, not
    values, except the sealed values the controller decrypted."""
    tf = ctx.tf
    assert ctx.run.record is not None and ctx.inputs.resolved is not None
    bounds = artifact_bounds.current()  # the runner reads the artifact with the bounds it was packed with
    return RunRequest(
        run_id=ctx.run.record.marker, operation=PLAN, namespace=ctx.namespace, name=ctx.name,
        artifact_url=artifact_url, artifact_digest=ctx.source.artifact_digest, path=tf.spec.path,
        workspace=tf.spec.workspace, secret_suffix=tf.spec.secret_suffix, custom_backend=tf.spec.custom_backend,
        variables={v.name: v.value for v in tf.spec.vars if v.literal},
        sealed_variables=dict(ctx.inputs.resolved.sealed), vars_from=tf.spec.vars_from, env=tf.spec.env,
        env_from=tf.spec.env_from, timeout_seconds=float(tf.spec.timeout),
        var_refs=tuple(VarRef(v.name, v.value_from, i) for i, v in enumerate(tf.spec.vars) if v.value_from is not None),
        tf_vars_files=tf.spec.tf_vars_files,
        cli_config_ref=tf.spec.cli_config_secret_ref, file_mappings=tf.spec.file_mappings,
        declared_variables=declared_variables(ctx.inputs.module_info),  # the runner need not parse the module
        artifact_max_entries=bounds.max_entries, artifact_max_bytes=bounds.max_bytes)


def pod_runner(ctx: RunContext) -> PodRunner:
    """`--runner=pod`: each command a runner Pod in the object's namespace (terraform/pod_runner.py), under
    `spec.runnerPod.serviceAccountName`; the Pod is recorded in the run record as soon as it is named, so
    liveness and adoption find it."""
    ctl, tf = ctx.ctl, ctx.tf
    assert ctx.run.record is not None
    artifact_url, served = ctx.source.artifact_url, None
    if not artifact_url:
        # the GitRepository is gone or moved on (a destroy on deletion): the run API serves the controller's
        # cached copy to this run's Pod only; the runner checks its digest as for any download
        if ctx.source.artifact_path is None:
            raise TransientError("ArtifactFailed", "the GitRepository has no artifact a runner Pod can download "
                                                   "and the controller has no cached copy of it")
        artifact_url, served = ARTIFACT_FROM_RUN_API, ctx.source.artifact_path
    api = ctl.run_api()
    params = RunPodParams(
        run_id=ctx.run.record.marker, command=0, operation=PLAN, plan_id="", namespace=ctx.namespace,
        terraform_name=ctx.name, terraform_uid=tf.meta.uid, image=ctl.options.runner_image, run_api_url=api.url,
        timeouts=policy.run_timeouts(ctl.options.terraform.timeouts, tf.spec.timeout), spec=tf.spec.runner_pod)
    record = ctx.run.record

    def on_pod(name: str, uid: str) -> None:
        if ctx.run.record is None:
            return
        ctx.run.record = dataclasses.replace(ctx.run.record, pod=name, pod_uid=uid)
        if ctx.run.obj is not None:
            write_records(status_of(ctx.run.obj), [*ctx.run.kept(), ctx.run.record])
            ctl.patch(ctx.frame, ctx.run.obj)

    def waiting(message: str) -> None:
        if ctx.run.obj is not None:
            mark_reconciling(ctx.run.obj, message)
            ctl.patch(ctx.frame, ctx.run.obj)

    return PodRunner(run_request(ctx, artifact_url), params, ctl.kube, api, ctl.options.terraform,
                     PodRunOptions(ctl.options.runner_image, ctl.options.keep_failed_runners), ctl.runner_slots,
                     object_key=ctx.key, on_pod=on_pod, waiting=waiting, stopping=ctl.stopping.is_set,
                     artifact=served,
                     plan_id=lambda: ctx.run.record.plan if ctx.run.record is not None else record.plan)


def backend_identity(ctl: Any, key: str) -> str:
    """Where this controller's runs reach the state (a saved plan records it): `in-cluster` in pod mode
    (the runner Pod's own configuration); in local mode the kubeconfig path the runner is given (a fixed
    path in the sandbox, the run's file without one), which a local run has even when the controller itself
    runs in-cluster. `ctl` is the TerraformReconciler."""
    if ctl.options.runner_mode == RUNNER_POD:
        return "in-cluster"
    return f"kubeconfig {runner_kubeconfig(kubeconfig_path(ctl.options.work_dir, key), ctl.options.runner_sandbox)}"


def pod_run_alive(kube: KubeClient, namespace: str) -> Callable[[RunRecord], bool]:
    """Liveness of a pod-mode run (rule §4.4): a runner Pod of its run id is Pending or Running. When the
    API server cannot be asked, the run counts as alive (its lock is not released on a guess)."""
    def alive(record: RunRecord) -> bool:
        try:
            pods, _ = kube.list_all(PODS, namespace, label_selector=f"{LABEL_RUN_ID}={record.marker}")
        except ApiError:
            return True
        return any(pod_state(p).alive for p in pods)
    return alive


def adopt(ctx: RunContext, obj: dict[str, Any] | None) -> None:
    """A restarted controller (or a new leader) meets a pod-mode run of an earlier one still in flight: it
    creates no second Pod, waits for that Pod's result and records an apply that succeeded, so the plan is
    never applied twice (docs/architecture.md "A restarted controller adopts a run in flight"). A Pod that
    ended while no controller listened is read from its termination message (the runner's summary): an
    apply that succeeded is recorded, one that failed is Ready=False with its reason and planned again; a
    plan run is simply planned again. A Pod that ended without any result (killed, deleted) is left to the
    dead-run rule (lock released, ApplyInterrupted, plan again): a plan is applied at most once."""
    ctl = ctx.ctl
    if ctl.options.runner_mode != RUNNER_POD or obj is None:
        return
    with ctl.lock:
        in_flight = set(ctl.in_flight)
    for record in ctx.run.previous:
        if not record.in_pod or record.marker in in_flight:
            continue
        api = ctl.run_api()
        delivered = api.delivered(record.marker)
        live = _live_pod(ctl.kube, ctx.namespace, record.marker) if delivered is None else None
        if live is not None and plan_to_reoffer(record) is not None:
            _reoffer_plan(ctx, api, record)  # before `expect`: a bound run without a plan is a final 404
        expect = getattr(api, "expect", None)
        if expect is not None:  # its runner may deliver to this controller: the recorded Pod only
            expect(record.marker, namespace=ctx.namespace, pod_name=record.pod or None,
                   pod_uid=record.pod_uid or None)
        if live is not None:  # by label: the record may name the run's previous command's Pod
            log.info("adopting runner pod=%s of run %s (%s): waiting for its result", live, record.marker,
                     record.operation, extra={"obj": ctx.key})
            mark_reconciling(obj, f"Waiting for the {record.operation} run {record.marker} in runner Pod "
                                  f"{live}, started by an earlier controller")
            ctl.patch(ctx.frame, obj)
            try:
                delivered = await_result(ctl.kube, api, ctx.namespace, live, "", record.marker,
                                         abandon=ctl.stopping.is_set)
            except CancelledError:
                raise  # this controller stops: the run, its Pod and its record are left to the next one
            except TransientError as exc:
                log.warning("adopted run %s ended without a result: %s", record.marker, exc, extra={"obj": ctx.key})
                delivered = None
        pods = _run_pod_objects(ctl.kube, ctx.namespace, record.marker)
        outcome = _adopted_outcome(delivered, pods, record)
        if outcome is not None and outcome.operation == "apply" and outcome.succeeded:
            _record_adopted_apply(ctx, obj, record, outcome)
        api.forget(record.marker)
        for pod in pods:
            delete_run_objects(ctl.kube, ctx.namespace, str(pod["metadata"]["name"]),
                               keep_pod=ctl.options.keep_failed_runners and not (outcome and outcome.succeeded))
        if outcome is not None and outcome.operation == "apply" and not outcome.succeeded:
            _adopted_apply_failed(ctx, obj, record, outcome)


def plan_to_reoffer(record: RunRecord) -> str | None:
    """Pure: the plan id an adopting controller must offer on its run API for an earlier controller's run
    still in flight, or None. An apply Pod fetches its plan from the run API when it starts (retrying while
    no controller answers); the controller that offered it may have died first (chaos suite, issue 21: a
    kill 2-5 s into an apply), and a new controller that only waits for the result answers PlanNotOffered,
    so the apply fails and the plan is made again — a controller kill would interrupt the run."""
    return record.plan if record.in_pod and record.operation == "apply" and record.plan else None


def _reoffer_plan(ctx: RunContext, api: Any, record: RunRecord) -> None:
    """Offer the adopted apply's plan again, from the plan Secret (the same bytes the first controller
    offered). Best effort: a plan that cannot be loaded leaves the run to fail with PlanFetchFailed and be
    planned again, as before."""
    ctl = ctx.ctl
    try:
        data = load_plan(ctl.kube, ctx.namespace, ctx.name, ctx.tf.spec.workspace, record.plan, ctl.keys().keyring,
                         backend=backend_identity(ctl, ctx.key))
    except (PlanNotFoundError, DecryptionError, ApiError) as exc:
        log.warning("adopted run %s: plan %s cannot be offered again: %s", record.marker, record.plan, exc,
                    extra={"obj": ctx.key})
        return
    api.offer_plan(record.marker, data)


def _adopted_outcome(delivered: Any, pods: list[dict[str, Any]], record: RunRecord) -> TerminationSummary | None:
    """Pure: what the adopted run's runner reported: its delivered result, else the summary it wrote to its
    Pod's termination message (a result delivered to nobody: no controller listened until its deadline)."""
    if delivered is not None:
        result = delivered.result
        return TerminationSummary(result.run_id, result.operation, result.outcome, result.reason, record.plan,
                                  True, result.terraform_killed)
    return termination_summary(pods, record.marker, record.operation, pod_name=record.pod, pod_uid=record.pod_uid)


class AdoptedApplyFailed(TransientError):
    """An adopted apply of an earlier controller failed: its result is already in `ctx.done.apply_results`."""


def adopted_apply_result(status: Mapping[str, Any], succeeded: bool, error: str = "") -> policy.ApplyResult:
    """Pure: an adopted apply's result for spec.remediation.retries, counted (or clearing the streak) like
    any apply, with the inputs digest its plan was made with (status.inputsDigest: the step that computes
    this reconcile's inputs has not run yet)."""
    return policy.ApplyResult(succeeded, TerraformStatus.of(status).inputs_digest, error)


def _adopted_apply_failed(ctx: RunContext, obj: dict[str, Any], record: RunRecord,
                          outcome: TerminationSummary) -> None:
    """An apply of an earlier controller that ended in failure: Ready=False with its reason, retried with
    backoff; its plan is dropped (never applied a second time), the next reconcile plans again. A run whose
    Terraform ended normally released its lock: its record is done; a killed one stays for the dead-run rule."""
    status = status_of(obj)
    pending = PendingPlan.of(status)  # before it is dropped: the history entry's kind and counts
    plan = record.plan or pending.id
    unapplied = (status.get("plan") or {}).get("replace")  # the next plan makes them again (carried_replacements)
    status["plan"] = {"pending": "", **({"replace": unapplied} if unapplied else {})}
    delete_plan(ctx.ctl.kube, ctx.namespace, ctx.name, ctx.tf.spec.workspace)
    how = "its result" if outcome.delivered else "its termination message (its result was delivered to nobody)"
    message = (f"the apply of plan {plan} in runner Pod {record.pod} (run {record.marker} of an earlier "
               f"controller) failed: {outcome.reason}, as {how} says; the plan is dropped and planned again")
    c.set_condition(status.setdefault("conditions", []), c.APPLIED, c.FALSE, outcome.reason, message,
                    ctx.tf.meta.generation)
    ctx.events.append(("Warning", outcome.reason, message))
    _note_adopted(ctx, obj, record, pending, plan, history.FAILED, outcome.reason, message)
    ctx.done.apply_results.append(adopted_apply_result(status, False, f"{outcome.reason}: {message}"))
    if not outcome.terraform_killed:
        ctx.run.previous = [r for r in ctx.run.previous if r.marker != record.marker]
        write_records(status, [*ctx.run.kept(), *([ctx.run.record] if ctx.run.record is not None else [])])
    raise AdoptedApplyFailed(outcome.reason, message)


def _record_adopted_apply(ctx: RunContext, obj: dict[str, Any], record: RunRecord,
                          outcome: TerminationSummary) -> None:
    """What an apply of an earlier controller did, recorded: its plan applied (never applied again); the
    outputs are then read from the state by the outputs step (`ctx.done.applied`)."""
    status = status_of(obj)
    last = TerraformStatus.of(status)  # read before the pending plan is dropped (history: kind, counts)
    ctx.done.apply_results.append(adopted_apply_result(status, True))  # like any apply: it ends a streak
    plan = record.plan or last.pending.id
    status["lastAppliedPlan"] = plan
    status["lastAppliedRevision"] = last.last_planned_revision or ctx.source.revision or None
    status["lastAppliedInputsDigest"] = last.inputs_digest or None
    if "planExpectedResources" in status:  # the state-loss guard's count, as step_apply records it
        status["lastAppliedResourceCount"] = int(status.pop("planExpectedResources") or 0)
    status["plan"] = {"pending": ""}
    delete_plan(ctx.ctl.kube, ctx.namespace, ctx.name, ctx.tf.spec.workspace)
    how = "" if outcome.delivered else "; known from its termination message: its result was delivered to nobody"
    message = f"Applied plan {plan} in runner Pod {record.pod} (run {record.marker} of an earlier controller{how})"
    c.set_condition(status.setdefault("conditions", []), c.APPLIED, c.TRUE, "ApplySucceeded", message,
                    ctx.tf.meta.generation)
    ctx.events.append(("Normal", "ApplySucceeded", message))
    _note_adopted(ctx, obj, record, last.pending, plan, history.SUCCEEDED, "ApplySucceeded", message)
    ctx.done.applied = True


def _note_adopted(ctx: RunContext, obj: dict[str, Any], record: RunRecord, pending: PendingPlan, plan: str,
                  outcome: str, reason: str, message: str) -> None:
    """The history entry of an adopted apply (an earlier controller's run, pod mode): its own run id and
    start, the counts and kind of its plan (`pending`, as status held it before the adoption), its approver
    as the object still records it."""
    status = status_of(obj)
    note = RunNote(record.marker, history.DESTROY if pending.id == plan and pending.is_destroy else history.APPLY,
                   record.started_at, TerraformStatus.of(status).last_planned_revision, plan)
    if pending.id == plan:
        note.counts_of(pending)
    note.approved_by = approver_of(obj, plan, auto=ctx.deleting or ctx.tf.spec.auto_approve,
                                   annotation=ctx.tf.approval_annotation)
    note.end(outcome, reason, message)
    ctx.history.append(note)


def _live_pod(kube: KubeClient, namespace: str, marker: str) -> str | None:
    """The Pending or Running runner Pod of a run (by its run-id label), if any."""
    try:
        pods, _ = kube.list_all(PODS, namespace, label_selector=f"{LABEL_RUN_ID}={marker}")
    except ApiError:
        return None
    return next((str(p["metadata"]["name"]) for p in pods if pod_state(p).alive), None)


def _run_pod_objects(kube: KubeClient, namespace: str, marker: str) -> list[dict[str, Any]]:
    try:
        pods, _ = kube.list_all(PODS, namespace, label_selector=f"{LABEL_RUN_ID}={marker}")
    except ApiError:
        return []
    return list(pods)


def prepare_workspace(ctx: RunContext) -> None:
    """The local part of `workspace`, once: the run directory (where the plan file of this reconcile is
    kept) and the init key of the object's init cache. No Terraform command runs here, nothing is asked of
    the cluster (it runs beside the checkpoint's patch)."""
    ctl = ctx.ctl
    if ctx.run.workspace is not None:
        return
    tf = ctx.tf
    assert ctx.source.artifact_path is not None and ctx.inputs.resolved is not None
    assert ctx.run.record is not None, "no Terraform process starts before its run record is checkpointed"
    # the kubeconfig as the runner sees it: the init key covers the backend block the runner generates
    seen = runner_kubeconfig(kubeconfig_path(ctl.options.work_dir, ctx.key), ctl.options.runner_sandbox)
    backend = run_backend(ctx.namespace, tf.spec.secret_suffix, seen, tf.spec.custom_backend)
    ws = Workspace.create(
        ctl.runs_dir, ctx.source.artifact_path, tf.spec.path,
        config=dataclasses.replace(ctl.options.terraform,
                                   timeouts=policy.run_timeouts(ctl.options.terraform.timeouts, tf.spec.timeout)),
        backend=backend,
        variables={},  # the runner writes the run's variables in its own directory: none at rest here
        env={RUN_ENV: ctx.run.record.marker},
        secrets=ctx.inputs.resolved.secrets,
        name_hint=f"{ctx.namespace}-{ctx.name}",
        workspace=tf.spec.workspace,
        object_key=ctx.key,
        reaper=ctl.reaper,
    )
    ctx.run.workspace = ws
    if ctl.options.reuse_init:  # the object's own initialised data dir (terraform/initcache.py)
        ctx.run.init_key = init_key(
            backend_hcl=backend.hcl(), workspace=tf.spec.workspace, terraform_version=ctl.terraform_version(),
            cli_config=_init_cli_config(ctl.options.terraform.cli_config(), ctx.inputs.run_files_digest),
            shipped_lock=_read_or_none(ws.module_dir / LOCK_FILE))


def _init_cli_config(ours: dict[str, Any], run_files_digest: str) -> str:
    """The CLI configuration part of the init key: ours, and the digest of the team's fragment and mapped
    files when set (a new `host` block or `.gitconfig` rewrite may fetch other modules: init again, issue 20;
    a rotated token is not in that digest, terraform/run_files.RunFiles.digest_document). Without them the
    key is what it was, so existing init caches stay valid."""
    if not run_files_digest:
        return json.dumps(ours, sort_keys=True)
    return json.dumps({"ours": ours, "team": run_files_digest}, sort_keys=True)


def with_init(ctx: RunContext, command: Callable[[], T]) -> T:
    """Run a command. Init belongs to the runner, which also runs it once more when a reused data
    directory turns out to need it (runner/execute.py); kept as the steps' seam."""
    return command()


def locked(ctx: RunContext, obj: dict[str, Any] | None, command: Callable[[], T]) -> T:
    """Run a command that takes the state lock. A lock left by a dead run of ours is released (with
    an Event) and the command retried once; any other lock is reported as StateLocked. A command
    that ran out of `spec.timeout` was interrupted (SIGINT, grace, SIGKILL); should it have been
    killed before releasing the lock, the lock is released here, so the next run is not blocked."""
    try:
        return _locked_once(ctx, obj, command)
    except TimeoutExpiredError as exc:
        released = release_own_lock(ctx, exc.message)
        note = "; its state lock was released" if released else ""
        raise TransientError(exc.reason, f"{exc.message} (spec.timeout limits each Terraform command){note}") \
            from None


def release_own_lock(ctx: RunContext, why: str) -> bool:
    """Release the state lock if the run of this reconcile (all its processes now gone) holds it."""
    ctl = ctx.ctl
    if ctx.run.record is None:
        return False
    lock = read_lock(ctl.kube, ctx.namespace, ctx.tf.state_lease_name)
    if lock is None or not is_dead_run_lock(
            ctx.run.record, lock, own_instance=ctl.options.instance_id, own_host=socket.gethostname(),
            in_flight_markers=set(),
            run_alive=(pod_run_alive(ctl.kube, ctx.namespace)(ctx.run.record) if ctx.run.record.in_pod
                       else run_alive(ctx.run.record.marker)), leader_elected=False,
            own_boot=boot_id()):
        return False
    if not release_lock(ctl.kube, ctx.namespace, ctx.tf.state_lease_name, lock.id):
        log.warning("could not release state lock id=%s after a timeout", lock.id, extra={"obj": ctx.key})
        return False
    ctx.run.own_lock_released = True
    ctx.events.append(("Warning", STATE_UNLOCKED, f"released state lock {lock.id} left by a run that "
                                                  f"was stopped: {why}"))
    log.warning("released state lock id=%s after a timeout", lock.id, extra={"obj": ctx.key})
    return True


def _locked_once(ctx: RunContext, obj: dict[str, Any] | None, command: Callable[[], T]) -> T:
    ctl = ctx.ctl
    status = status_of(obj) if obj is not None else None
    try:
        result = command()
    except StateLockedError as exc:
        lock = read_lock(ctl.kube, ctx.namespace, ctx.tf.state_lease_name) or exc.lock
        if not (ctx.run.previous and recover(ctx, obj).released):
            if status is not None:
                status["lock"] = {k: v for k, v in (("id", lock.id), ("holder", lock.who),
                                                    ("since", _rfc3339_or_none(lock.created))) if v}
                c.set_condition(status.setdefault("conditions", []), c.STATE_LOCKED, c.TRUE, STATE_LOCKED,
                                exc.message, ctx.tf.meta.generation)
            raise WaitingError(STATE_LOCKED, f"{exc.message}; retrying in {ctl.options.lock_retry:g}s "
                                             f"(release it with "
                                             f"{force_unlock_command(ctx.namespace, ctx.name, lock.id)})",
                               ctl.options.lock_retry) from None
        result = command()
    if status is not None:
        c.remove_condition(status.setdefault("conditions", []), c.STATE_LOCKED)
        status.pop("lock", None)
    return result


def recover(ctx: RunContext, obj: dict[str, Any] | None) -> Recovery:
    ctl = ctx.ctl
    with ctl.lock:
        in_flight = frozenset(ctl.in_flight)
    adopt(ctx, obj)
    recovery = recover_runs(ctl.kube, ctx.namespace, ctx.tf.state_lease_name, ctx.run.previous,
                            RecoveryContext(ctl.options.instance_id, in_flight, ctl.options.leader_elected,
                                            ctl.options.terraform.timeouts.grace,
                                            pod_run_alive(ctl.kube, ctx.namespace)))
    ctx.run.previous = recovery.kept
    status = status_of(obj) if obj is not None else {}
    notes = interrupted(recovery.dead, status, ctx.history, format_rfc3339())
    waiting = {n.run_id: n for n in notes if awaits_confirmation(n, status)}  # Terraform tells (step_replan)
    for note in waiting.values():  # its entry as step_apply would have made it: the pending plan's
        _describe_recovered_apply(ctx, obj or {}, note)
    ctx.run.unconfirmed.extend((dataclasses.replace(r, recovered=True), waiting[r.marker])
                               for r in recovery.dead if r.marker in waiting)
    ctx.history.extend(n for n in notes if n.run_id not in waiting)
    write_records(status, [*ctx.run.kept(), *([ctx.run.record] if ctx.run.record is not None else [])])
    told = dataclasses.replace(recovery, dead=[r for r in recovery.dead if r.marker not in waiting])
    events = report_recovery(told, status, ctx.tf.meta.generation)
    for _, reason, message in events:
        log.warning("%s: %s", reason, message, extra={"obj": ctx.key})
    ctx.events.extend(events)
    return recovery


def _describe_recovered_apply(ctx: RunContext, obj: dict[str, Any], note: RunNote) -> None:
    """A recovered apply of the pending plan: its counts, revision, policy result and approver, read before
    anything replaces the pending plan."""
    status = status_of(obj)
    pending = PendingPlan.of(status)
    note.counts_of(pending)
    note.revision = TerraformStatus.of(status).last_planned_revision
    note.policy_of((status.get("plan") or {}).get("policy"))
    note.approved_by = approver_of(obj, note.plan_id, auto=ctx.deleting or ctx.tf.spec.auto_approve,
                                   annotation=ctx.tf.approval_annotation)


def settle_unconfirmed(ctx: RunContext, status: dict[str, Any]) -> list[RunRecord]:
    """What becomes of the recovered applies Terraform has not shown applied (step_replan confirms those it
    does). One whose plan is still pending was not asked about (the reconcile failed first, or its last
    status write may fail): its record is returned, to stay in status.runs for the next reconcile, and this
    reconcile's stale attempt at that plan leaves no entry. The others — the plan applied again (that run
    saved nothing), a new plan with changes (it stopped half-way), the plan replaced — are Interrupted, with
    the ApplyInterrupted condition and Event the recovery deferred (locks.report_recovery); the stale
    attempt fails as stale, as without a recovery."""
    left, ctx.run.unconfirmed = ctx.run.unconfirmed, []
    undecided = [(r, n) for r, n in left if awaits_confirmation(n, status)]
    told = [(r, n) for r, n in left if not awaits_confirmation(n, status)]
    attempt, ctx.plan.stale_attempt = ctx.plan.stale_attempt, None
    if attempt is not None and not attempt.outcome:
        if any(n.plan_id == attempt.plan_id for _, n in undecided):
            ctx.history.remove(attempt)
        else:
            attempt.end(history.FAILED, PLAN_STALE, f"plan {attempt.plan_id} is stale: the state changed since "
                                                    "it was made")
    if told:
        ctx.history.extend(note for _, note in told)
        events = report_recovery(Recovery(dead=[record for record, _ in told]), status, ctx.tf.meta.generation)
        for _, reason, message in events:
            log.warning("%s: %s", reason, message, extra={"obj": ctx.key})
        ctx.events.extend(events)
    return [record for record, _ in undecided]


def _rfc3339_or_none(text: str) -> str | None:
    """Terraform's lock time (RFC 3339 with nanoseconds, or Go's time.String() form) at second precision, UTC."""
    when = parse_terraform_time(text)
    return format_rfc3339(when) if when else None


def _read_or_none(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


def _in_background(fn: Callable[[], T]) -> Callable[[], T]:
    """Start `fn` in a thread; the returned function waits for it and returns its result or raises its
    error. Not waiting is harmless (the thread ends on its own)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the waiting thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="terraform-background", daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]  # type: ignore[no-any-return]

    return result


