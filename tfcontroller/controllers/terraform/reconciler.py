"""The Terraform reconciler's frame: source → dependencies → inputs → plan → approval → apply → outputs.

`reconcile(key)` handles a missing object, a spec that does not parse (summarised as Stalled directly: it
is no step), deletion (its own step list, deletion.py, then the finalizer), the finalizer and `suspend`
first; then `_run` runs the ordered steps (steps.py) sharing a `RunContext` (context.py), re-plans once
when the apply step found the pending plan stale, and one `finally` summarises Ready/Reconciling/Stalled
(runtime/reconciler.py: a plan waiting for approval is its "held" row) and patches the status. Status is
also checkpointed before every Terraform command that takes the state lock (progress message, the
pending plan, and a *run record* telling a later controller that a run was under way: runs.py, locks.py).

The reconciler itself holds only what outlives one reconcile: clients, options, the controller keys, the
Terraform version, the module caches (modules.py), the artifact and init caches, the runners in flight
(cancelled on shutdown) and the drift hooks.

A no-op reconcile (nothing changed) reads the GitRepository, the cached artifact's module digest and the
referenced Secrets/ConfigMaps, and starts no Terraform process.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api.constants import FINALIZER, TERRAFORM_KIND
from tfcontroller.api.errors import SpecError, TransientError
from tfcontroller.api.terraform import Terraform
from tfcontroller.controllers.terraform import history
from tfcontroller.controllers.terraform.artifacts import ArtifactCache
from tfcontroller.controllers.terraform.context import (
    PLAN_PENDING,
    Frame,
    RunContext,
    RunPart,
    TerraformControllerOptions,
    status_of,
)
from tfcontroller.controllers.terraform.credentials import RunCredentials
from tfcontroller.controllers.terraform.deletion import deletion_steps
from tfcontroller.controllers.terraform.drift.hooks import DriftHooks
from tfcontroller.controllers.terraform.indexes import (
    INDEX_DEPENDS_ON,
    INDEX_PENDING_PLAN,
    INDEX_SOURCE,
    depends_on_index,
    exception_target,
    pending_plan_index,
    policy_scope,
    source_index,
)
from tfcontroller.controllers.terraform.locks import RunRecord, records_from_status, write_records
from tfcontroller.controllers.terraform.runs import settle_unconfirmed
from tfcontroller.controllers.terraform.steps import STEPS, count_apply_failures, replan_steps
from tfcontroller.crypto.keys import ControllerKeys, ensure_keys
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, NotFound
from tfcontroller.kube.events import EventRecorder
from tfcontroller.kube.resources import (
    GITREPOSITORIES,
    NAMESPACES,
    PLANPOLICIES,
    PODS,
    POLICYEXCEPTIONS,
    TERRAFORMS,
    object_key,
    split_key,
)
from tfcontroller.runtime.access import INDEX_CROSS_NAMESPACE, cross_namespace_index, namespace_name
from tfcontroller.runtime.finalizers import ensure_finalizer, release_finalizer
from tfcontroller.runtime.manager import Controller, Manager, Watch
from tfcontroller.runtime.metrics import ManagerMetrics
from tfcontroller.runtime.policies import PolicyLoader
from tfcontroller.runtime.reconciler import (
    Outcome,
    Step,
    log_outcome,
    outcome_of_error,
    ready_transition,
    run_steps,
    summarize_object,
    with_notice,
)
from tfcontroller.runtime.requested import mark_handled
from tfcontroller.runtime.result import Result
from tfcontroller.runtime.status import patch_status_with_retry
from tfcontroller.runtime.suspend import report_suspended
from tfcontroller.source.artifact import ModuleInputs
from tfcontroller.terraform.initcache import InitCache
from tfcontroller.terraform.inspect import ModuleInfo
from tfcontroller.terraform.plan_store import delete_plan
from tfcontroller.terraform.pod_runner import RUNNER_PODS_SELECTOR, RunnerSlots, ended_pod_owner
from tfcontroller.terraform.reaper import Reaper, instance_dir
from tfcontroller.terraform.runner import TerraformRunner

log = logging.getLogger(__name__)


class TerraformReconciler:
    def __init__(self, kube: KubeClient, options: TerraformControllerOptions,
                 recorder: EventRecorder | None = None) -> None:
        self.kube = kube
        self.options = options
        self.recorder = recorder or EventRecorder(kube, instance=options.instance_id)
        self.lock = threading.Lock()
        self._keys: ControllerKeys | None = None
        self._tf_version: str | None = None
        self.modules_cache: dict[tuple[str, str], ModuleInfo | None] = {}
        self.module_inputs_cache: dict[tuple[Any, ...], ModuleInputs] = {}
        self.in_flight: set[str] = set()
        self.runners: dict[str, TerraformRunner] = {}
        self.stopping = threading.Event()
        self.drift = DriftHooks(options.drift_notifier)  # drift detection and e-mail (drift.hooks)
        for sub in ("artifacts", "runs"):
            (options.work_dir / sub).mkdir(parents=True, exist_ok=True)
        # issue 21: run directories are removed on the reaper's thread, not the reconcile's; each controller
        # process has its own under runs/ and runner-runs/, a dead one's are reaped (terraform/reaper.py)
        self.reaper = Reaper(options.work_dir / "trash")
        self.runs_dir = instance_dir(options.work_dir / "runs", self.reaper)
        self.runner_runs_dir = instance_dir(options.work_dir / "runner-runs", self.reaper)
        self.artifacts = ArtifactCache(options.work_dir / "artifacts")
        self.init_cache = InitCache(options.work_dir / "init")
        self.runner_slots = RunnerSlots(options.max_runners)  # --max-runners (pod mode)
        self._run_api: Any = None  # pod mode: the run API (terraform/run_api.py), started once
        self.credentials = RunCredentials(kube, options.work_dir)  # the kubeconfig of each run (local mode)
        # issue 18: the PlanPolicies' modules, cached by artifact digest (runtime/policies.py; policy_gate.py)
        self.metrics: ManagerMetrics | None = None  # the manager's, once registered
        self.policies = PolicyLoader(kube, options.work_dir / "policies",
                                     allow_cross_namespace_refs=options.allow_cross_namespace_refs)

    # ---- wiring ------------------------------------------------------------------------------
    def controller(self) -> Controller:
        ctrl = Controller(
            name="terraform",
            resource=TERRAFORMS,
            reconcile=self.reconcile,
            concurrency=self.options.concurrency,
            watches=[Watch(GITREPOSITORIES, index=INDEX_SOURCE), Watch(TERRAFORMS, index=INDEX_DEPENDS_ON),
                     # issue 16: a Namespace's labels decide accessFrom; its change re-checks the referrers
                     Watch(NAMESPACES, index=INDEX_CROSS_NAMESPACE, value_fn=namespace_name, namespace=None),
                     # issue 18: a PlanPolicy change (a new digest, readiness) re-checks the pending plans it may
                     # select, without planning; a PolicyException re-checks the Terraform it names
                     Watch(PLANPOLICIES, index=INDEX_PENDING_PLAN,
                           value_fn=policy_scope(self.options.controller_namespace)),
                     Watch(POLICYEXCEPTIONS, map_fn=exception_target)],
            indexes={INDEX_SOURCE: source_index, INDEX_DEPENDS_ON: depends_on_index,
                     INDEX_CROSS_NAMESPACE: cross_namespace_index, INDEX_PENDING_PLAN: pending_plan_index},
        )
        if self.options.runner_mode == "pod":
            # a runner Pod that ends while no worker waits for it (an adopted run, a run whose controller
            # died) brings its object back at once (docs/architecture.md "How a run's end is noticed")
            ctrl.watches.append(Watch(PODS, map_fn=self._ended_runner_pod, label_selector=RUNNER_PODS_SELECTOR))
        return ctrl

    def _ended_runner_pod(self, pod: dict[str, Any]) -> list[str]:
        with self.lock:
            in_flight = set(self.in_flight)
        return ended_pod_owner(pod, in_flight.__contains__, self._run_recorded)

    def _run_recorded(self, namespace: str, name: str, run_id: str) -> bool:
        """Does the object still record the run (status.runs)? When it cannot be read: assume so."""
        try:
            obj = self.kube.get_or_none(TERRAFORMS, name, namespace)
        except ApiError:
            return True
        return obj is not None and any(r.marker == run_id for r in records_from_status(obj.get("status") or {}))

    def register(self, manager: Manager) -> None:
        """Add the controller and cancel running Terraform processes (SIGINT, grace, SIGKILL) when the
        manager stops, so state is saved and the lock released (design.md §4.4)."""
        manager.add_controller(self.controller())
        self.metrics = manager.metrics  # the policy gate counts its evaluations there (issue 18)
        if self.options.runner_mode == "pod" and not self.options.leader_elected:
            # up before any reconcile: runners of an earlier controller deliver to it (adoption). With leader
            # election only the leader serves it (a standby would accept results nobody waits for): it starts
            # with the leader's first run or adoption.
            self.run_api()

        def cancel_on_stop() -> None:
            manager.stopping.wait()
            self.cancel_all()
            with self.lock:
                api, self._run_api = self._run_api, None
            if api is not None:
                api.stop()

        threading.Thread(target=cancel_on_stop, name="terraform-cancel-on-stop", daemon=True).start()

    def cancel_all(self) -> None:
        self.stopping.set()
        with self.lock:
            runners = list(self.runners.values())
        for r in runners:
            r.cancel()

    # ---- shared, cached ----------------------------------------------------------------------
    def run_api(self) -> Any:
        """Pod mode: the HTTPS run API runner Pods fetch plans from and deliver results to (TLS material in
        Secret `tfcontroller-run-api` of the controller's namespace); started on first use."""
        from tfcontroller.terraform.run_api import RunApi

        with self.lock:
            if self._run_api is None:
                api = RunApi(self.kube, namespace=self.options.controller_namespace,
                             listen=self.options.run_api_listen, advertise_url=self.options.run_api_url)
                api.start()
                self._run_api = api
            return self._run_api

    def keys(self) -> ControllerKeys:
        with self.lock:
            if self._keys is None:
                self._keys = ensure_keys(self.kube, self.options.controller_namespace)
            return self._keys

    def terraform_version(self) -> str:
        with self.lock:
            if self._tf_version is not None:
                return self._tf_version
        with tempfile.TemporaryDirectory(dir=self.options.work_dir) as tmp:
            env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": tmp, "TF_IN_AUTOMATION": "1",
                   "TF_CLI_CONFIG_FILE": str(self.options.terraform.write_cli_config(Path(tmp) / "rc.json"))}
            version = TerraformRunner(Path(tmp), env, self.options.terraform).version().terraform_version
        with self.lock:
            self._tf_version = version
        return version

    def keyed(self, value: Any) -> str:
        """A digest of secret-bearing data that reveals nothing even for low-entropy values."""
        key = self.keys().digest_key  # stable across key rotation (crypto/keys.py)
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
        return "hmac-sha256:" + hmac.new(key, canonical, hashlib.sha256).hexdigest()

    def reconcile(self, key: str) -> Result:
        ns, name = split_key(key)
        obj = self.kube.get_or_none(TERRAFORMS, name, ns)
        if obj is None:
            return Result()
        obj.setdefault("apiVersion", TERRAFORMS.api_version)
        obj.setdefault("kind", TERRAFORM_KIND)
        try:
            tf = Terraform.from_dict(obj)
        except SpecError as exc:
            if (obj.get("metadata") or {}).get("deletionTimestamp"):
                return self._remove_finalizer(obj)
            return self._spec_error(obj, exc)
        if tf.meta.deleting:
            return self._reconcile_delete(obj, tf)
        if FINALIZER not in tf.meta.finalizers:
            obj = ensure_finalizer(self.kube, TERRAFORMS, obj, FINALIZER)
            tf = Terraform.from_dict(obj)
        if tf.spec.suspend:
            log.info("suspended; nothing done", extra={"obj": key})
            report_suspended(self.kube, TERRAFORMS, obj)
            return Result()
        return self.drift.requeue(self._run(obj, tf, STEPS)[1], obj, tf)  # next drift check / mail retry

    def _spec_error(self, obj: dict[str, Any], exc: SpecError) -> Result:
        """A spec that does not parse runs no step: it is summarised as Stalled and patched at once."""
        before = copy.deepcopy(obj)
        frame = Frame(object_key(obj), before)
        outcome = outcome_of_error(exc)
        self._finish(frame, None, obj, before, outcome)
        return outcome.result()

    def _reconcile_delete(self, obj: dict[str, Any], tf: Terraform) -> Result:
        if FINALIZER not in tf.meta.finalizers:
            return Result()
        outcome, result = self._run(obj, tf, deletion_steps(tf), deleting=True)
        if outcome.kind != "success":
            return result
        return self._remove_finalizer(obj)

    # ---- the frame ---------------------------------------------------------------------------
    def _run(self, obj: dict[str, Any], tf: Terraform, steps: Sequence[Step],
             deleting: bool = False) -> tuple[Outcome, Result]:
        """Run `steps`; when the apply step found the pending plan stale, run `replan_steps` once more
        (re-plan, then the rest of the list). Always summarise and patch once, and release what the run
        held (runner, run marker, artifact, run directory)."""
        before = copy.deepcopy(obj)
        frame = Frame(object_key(obj), before)
        ctx = RunContext(self, frame, tf, RunPart(records_from_status(obj.get("status") or {})), deleting=deleting)
        outcome = Outcome("transient", TransientError(c.FAILED, "reconcile interrupted"))
        try:
            outcome = run_steps(ctx, obj, steps)
            if ctx.plan.stale and outcome.kind == "success":
                outcome = run_steps(ctx, obj, replan_steps(steps))
        finally:
            try:
                self._finish(frame, ctx, obj, before, outcome)
            finally:
                self._release(ctx, outcome)
        return outcome, outcome.result(tf.spec.interval, tf.spec.retry_interval)

    def _release(self, ctx: RunContext, outcome: Outcome) -> None:
        if ctx.run.runner is not None:
            ctx.run.runner.release()  # a plan run held for an apply that did not come ends (no apply)
        with self.lock:
            self.runners.pop(ctx.key, None)
            if ctx.run.record is not None:
                self.in_flight.discard(ctx.run.record.marker)
        if ctx.source.collect_artifacts:  # the new artifact is still held: only others can go
            self._collect_artifacts(ctx.key)
        if ctx.source.held_artifact:
            self.artifacts.release(ctx.source.held_artifact)
        if ctx.run.workspace is not None:
            ctx.run.workspace.cleanup(outcome.kind in ("success", "requeue"))

    def _finish(self, frame: Frame, ctx: RunContext | None, obj: dict[str, Any], before: dict[str, Any],
                outcome: Outcome) -> None:
        """Summarise (runtime/reconciler.py), count failures, patch once, record the Events."""
        status = status_of(obj)
        # recovered applies Terraform did not show applied: Interrupted, or kept for the next reconcile to ask
        undecided = settle_unconfirmed(ctx, status) if ctx is not None else []
        unfinished = [*self._unfinished_runs(ctx, status), *undecided]
        write_records(status, unfinished)
        if ctx is not None:  # this reconcile's runs, failures included (history.py)
            history.record(status, ctx.history, outcome, self.options.history_limit,
                           outliving={r.marker for r in unfinished})
        if ctx is not None:  # issue 20: failed applies in a row (spec.remediation.retries)
            count_apply_failures(ctx, status)
        mark_handled(obj)
        summarize_object(obj, outcome)
        conds = status.setdefault("conditions", [])
        if outcome.failed:
            status["failures"] = int((before.get("status") or {}).get("failures") or 0) + 1
        else:
            status.pop("failures", None)
        tf = None if ctx is None or ctx.deleting else ctx.tf
        self.drift.on_finish(obj, tf, frame.events)  # drift mail, retries
        try:
            self.patch(frame, obj)
        except NotFound:
            return
        notice = ready_transition((before.get("status") or {}).get("conditions") or [], conds)
        # the steps record their own Normal Events (ApplySucceeded, PlanPending with the approve command)
        if notice is not None and notice.wanted(quiet_success=True) and notice.reason != PLAN_PENDING:
            frame.events[:] = with_notice(frame.events, notice)
        for etype, reason, message in frame.events:
            self.recorder.event(obj, etype, reason, message)
        log_outcome(log, outcome, frame.key)

    @staticmethod
    def _unfinished_runs(ctx: RunContext | None, status: dict[str, Any]) -> list[RunRecord]:
        """The run records to keep: this reconcile's run is dropped (its processes are gone, and Terraform
        released its lock on exit) unless a command ended by a signal (SIGKILLed after the grace, or by
        the OOM killer) and its lock is not known released: then the next reconcile recovers it. Records
        of older runs not yet recovered stay (locks.py)."""
        if ctx is None:
            return records_from_status(status)
        run = ctx.run
        own = [run.record] if run.record is not None and run.runner is not None and run.runner.killed \
            and not run.own_lock_released else []
        return [*run.previous, *own]

    def patch(self, frame: Frame, obj: dict[str, Any]) -> None:
        """Send the status changes since the last patch (a checkpoint or the final summary)."""
        returned = patch_status_with_retry(self.kube, TERRAFORMS, frame.baseline, obj)
        if returned is not None:
            base = copy.deepcopy(obj)
            base["metadata"]["resourceVersion"] = returned["metadata"]["resourceVersion"]
            frame.baseline = base

    def _collect_artifacts(self, own_key: str) -> None:
        """After a download (the only time the cache grows): drop archives no object needs any more. This
        object's previous archive goes too (its new one is held); a failure only postpones it."""
        try:
            items, _ = self.kube.list_all(TERRAFORMS)
            latest = {str((o.get("status") or {}).get("lastArtifactDigest") or "") for o in items
                      if object_key(o) != own_key}
            self.artifacts.collect(latest)
        except (ApiError, OSError) as exc:
            log.warning("artifact cache collection skipped: %s", exc, extra={"obj": own_key})


    def _remove_finalizer(self, obj: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        try:
            fresh = self.kube.get(TERRAFORMS, meta["name"], meta.get("namespace"))
        except NotFound:
            return Result()
        self.init_cache.forget(object_key(fresh))
        self.credentials.forget(object_key(fresh))
        try:
            release_finalizer(self.kube, TERRAFORMS, fresh, FINALIZER)
        except ApiError as exc:
            return Result(error=exc)
        try:
            tf = Terraform.from_dict(fresh)
            delete_plan(self.kube, tf.meta.namespace, tf.meta.name, tf.spec.workspace)
        except (SpecError, ApiError):
            pass
        return Result()


