"""What one Terraform reconcile carries between its steps, in small typed parts, and the reasons it reports.

`Frame` belongs to the frame and exists even when the spec does not parse: where the next incremental
status patch starts and the Events to record. `RunContext` is what the ordered steps share once the spec
parsed: the object and its controller (`ctl`, the long-lived caches and clients), then one part per stage
of the data flow — the source artifact, the resolved inputs, the Terraform run (workspace, runner, run
records), the pending plan, and what the run did. No part holds a control flag for another step: a stale
plan is recorded in `plan.stale` and the frame re-plans (reconciler.TerraformReconciler._run).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfcontroller.api import conditions as c
from tfcontroller.api.errors import HeldError
from tfcontroller.api.history import DEFAULT_HISTORY_LIMIT
from tfcontroller.api.terraform import Terraform
from tfcontroller.api.times import format_rfc3339
from tfcontroller.controllers.terraform.drift.mail import DriftNotifier
from tfcontroller.controllers.terraform.history import RunNote
from tfcontroller.controllers.terraform.inputs import ResolvedInputs
from tfcontroller.controllers.terraform.locks import RunRecord
from tfcontroller.controllers.terraform.policy import ApplyResult
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.health import ProbePolicy, controller_policy
from tfcontroller.terraform.inspect import ModuleInfo
from tfcontroller.terraform.runner import TerraformRunner
from tfcontroller.terraform.workspace import Workspace

if TYPE_CHECKING:
    from tfcontroller.controllers.terraform.reconciler import TerraformReconciler

# Condition reasons of this controller (the Event reason equals them).
SOURCE_NOT_READY = c.SOURCE_NOT_READY
PLAN_PENDING = "PlanPending"
APPROVAL_REFUSED = "ApprovalRefused"
NO_CHANGES = "NoChanges"
APPLY_SUCCEEDED = "ApplySucceeded"
PLAN_GENERATED = "PlanGenerated"
STATE_MISSING = "StateMissing"
STATE_LOCKED = "StateLocked"
STATE_UNLOCKED = "StateLockReleased"
OUTPUTS_WRITTEN_REASON = "OutputsWritten"
DELETION_BLOCKED = "DeletionBlockedByDependents"
DESTROY_SUCCEEDED = "DestroySucceeded"
DESTROY_SKIPPED = "DestroySkipped"
PLAN_STALE = c.PLAN_STALE
FORCE_UNLOCK_FAILED = "ForceUnlockFailed"
PLAN_ONLY = "PlanOnly"  # issue 20: spec.planOnly, the plan is reported and never applied
RETRIES_EXHAUSTED = "RetriesExhausted"  # issue 20: spec.remediation.retries failed applies in a row

Events = list[tuple[str, str, str]]  # (type, reason, message)


class PlanHeldError(HeldError):
    """A plan waits for the user's approval (or an approval was refused): the summariser's "held" row."""


@dataclass
class TerraformControllerOptions:
    work_dir: Path
    terraform: TerraformConfig
    kubeconfig: str | None = None  # the controller's own; runs never use it (credentials.py writes theirs)
    controller_namespace: str = "default"  # where the controller's keys live
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    leader_elected: bool = False
    lock_retry: float = 30.0
    concurrency: int | None = None
    plan_chunk_bytes: int | None = None  # None: PLAN_CHUNK_BYTES
    reuse_init: bool = True  # skip `terraform init` when the object's data dir is still valid
    drift_notifier: DriftNotifier | None = None  # drift e-mail (drift.mail); None: no mail
    # How Terraform runs (issue 15): "local", `tfcontroller runner run` through the run protocol in a
    # sandbox (terraform/protocol_runner.py)
    runner_mode: str = "local"
    runner_sandbox: bool = True  # local mode: in bubblewrap (register() turns it off where bwrap cannot run)
    # pod mode ("pod"): every run a runner Pod (terraform/pod_runner.py), results over the run API
    runner_image: str = "tfcontroller:dev"
    max_runners: int = 0  # cluster-wide cap on concurrent runner Pods of this controller; 0: none
    keep_failed_runners: bool = False  # keep the Pod of a failed run (its per-run Secret is deleted anyway)
    run_api_listen: str = "0.0.0.0:0"
    run_api_url: str | None = None  # the URL runner Pods reach the run API at (default: https://127.0.0.1:<port>)
    # issue 16: sourceRef/dependsOn into another namespace are refused unless the source's accessFrom
    # selects ours; True restores the single-team behaviour (`--allow-cross-namespace-refs`)
    allow_cross_namespace_refs: bool = False
    history_limit: int = DEFAULT_HISTORY_LIMIT  # entries kept in status.history (`--history-limit`)
    # review of issue 20 (finding 3), review s19 (finding 3): what health checks may reach (the defaults, the
    # controller's own and API server's addresses, `--health-check-deny-cidrs`, less `--health-check-allow-cidrs`) and the
    # time all checks of one reconcile may take
    health_probes: ProbePolicy = field(default_factory=controller_policy)


@dataclass
class Frame:
    """The frame's own state for one reconcile, with or without a parsed spec."""

    key: str
    baseline: dict[str, Any]  # what the server last returned: incremental status patches start here
    events: Events = field(default_factory=list)


@dataclass
class SourcePart:
    revision: str = ""
    artifact_path: Path | None = None
    artifact_digest: str = ""
    artifact_url: str = ""  # the GitRepository's (pod mode: where the runner Pod downloads it)
    held_artifact: str = ""  # counted as in use in the artifact cache until the reconcile ends
    collect_artifacts: bool = False  # a new artifact was downloaded: collect unused ones after the patch


@dataclass
class InputsPart:
    module_info: ModuleInfo | None = None
    resolved: ResolvedInputs | None = None
    module_digest: str = ""
    digest: str = ""  # the inputs digest (policy.inputs_digest)
    undeclared: str = ""  # a note on values for variables the module does not declare (policy.undeclared_note)
    run_files_digest: str = ""  # keyed digest of what cliConfigSecretRef/fileMappings fetch ("" without them)


@dataclass
class RunPart:
    """The Terraform run of this reconcile: one run directory, one runner, one run record."""

    previous: list[RunRecord]  # runs of ours that did not finish and may hold the lock (locks)
    workspace: Workspace | None = None
    runner: TerraformRunner | None = None
    record: RunRecord | None = None  # this reconcile's run: one marker for all its Terraform processes
    own_lock_released: bool = False
    init_key: str = ""  # the object's init cache key, handed to its runs (terraform/initcache.py)
    obj: dict[str, Any] | None = None  # the object being reconciled (pod mode: its run record is patched when
    # the runner Pod exists, and a run waiting for a runner slot says so)
    # issue 21 (slice C): applies of the pending plan by a dead run of ours whose result never reached the
    # status (history.awaits_confirmation), with their records: step_replan decides from Terraform whether
    # they applied. Their records stay in status.runs (`kept`) until then, so a reconcile that fails before
    # deciding leaves the question to the next one (runs.settle_unconfirmed)
    unconfirmed: list[tuple[RunRecord, RunNote]] = field(default_factory=list)

    def kept(self) -> list[RunRecord]:
        """The records of earlier runs a status write keeps: those that may be alive, and the undecided."""
        return [*self.previous, *(record for record, _ in self.unconfirmed)]


@dataclass
class PlanPart:
    local: bool = False  # the workspace's plan file is the pending plan
    saved_secrets: int | None = None  # Secrets save_plan wrote for the pending plan in this run
    saved_views: int | None = None  # Secrets save_plan_view wrote for its readable form in this run
    stale: str = ""  # why the pending plan cannot be applied: the frame plans again (rule §4.2)
    replanned: bool = False  # planned again once in this reconcile
    show: dict[str, Any] | None = None  # `show -json` of the plan made in this reconcile (the policy gate reads it)
    show_plan_id: str = ""  # ... and that plan's id
    replace: tuple[str, ...] = ()  # issue 20: the -replace addresses of the plan this reconcile makes
    replace_request: Any = None  # policy.ReplaceRequest to record once that plan is made
    stale_attempt: RunNote | None = None  # this reconcile's apply of a plan an unconfirmed run applied (RunPart)


@dataclass
class DonePart:
    applied: bool = False
    # the applies that ended in this reconcile, each with its own result (spec.remediation.retries counts the
    # failed ones): an adopted apply of an earlier controller (pod mode), this reconcile's own
    apply_results: list[ApplyResult] = field(default_factory=list)
    planned_no_changes: bool = False
    applied_output_names: list[str] | None = None  # from the apply's JSON stream (values never kept)
    applied_sensitive_outputs: list[str] | None = None  # the names of those marked sensitive
    outputs: dict[str, Any] | None = None  # the state's outputs when this reconcile read them (health checks)


@dataclass
class RunContext:
    ctl: TerraformReconciler
    frame: Frame
    tf: Terraform
    run: RunPart
    deleting: bool = False
    source: SourcePart = field(default_factory=SourcePart)
    inputs: InputsPart = field(default_factory=InputsPart)
    plan: PlanPart = field(default_factory=PlanPart)
    done: DonePart = field(default_factory=DonePart)
    history: list[RunNote] = field(default_factory=list)  # this reconcile's runs, for status.history

    def note_run(self, kind: str, revision: str, plan_id: str = "") -> RunNote:
        """A run starts (after its checkpoint: the run record's id is the entry's run id)."""
        run_id = self.run.record.marker if self.run.record is not None else ""
        note = RunNote(run_id, kind, format_rfc3339(), revision, plan_id)
        self.history.append(note)
        return note

    @property
    def key(self) -> str:
        return self.frame.key

    @property
    def events(self) -> Events:
        return self.frame.events

    @property
    def name(self) -> str:
        return self.tf.meta.name

    @property
    def namespace(self) -> str:
        return self.tf.meta.namespace


def status_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's status dict, created empty when absent (steps write into it)."""
    status: dict[str, Any] = obj.setdefault("status", {})
    return status
