"""Telling a state lock left by a dead run of ours from one held by a live run (design.md §4.4).

Terraform's lock info says only `Who = user@host`, which a user's own `terraform apply` on the same
machine shares. So before the first Terraform process of a reconcile starts, the controller records a
*run record* in the object's status (`status.runs[]`: controller instance id, pid and start time, host,
boot id, a random marker, start time, operation and, for an apply, the plan id). The marker is put into
the environment of every Terraform process of that reconcile (`TFCONTROLLER_RUN`): one marker per
reconcile, so a re-plan or a retry inside it is the same run.

The rule that closes every window in which a run of ours could hold a lock nobody can attribute:
**a record stays in status until the run can no longer hold or take the lock.** Concretely:
- it is checkpointed before the first command that may lock (init, workspace, plan, apply,
  force-unlock), never after;
- a newer attempt appends its own record and never overwrites an older one;
- the final patch of a reconcile removes only its own record, and keeps it if a command of the run had
  to be SIGKILLed (it may have left its lock);
- older records are removed only by `recover_runs`, once their run is dead: its leftovers (an orphaned
  Terraform or provider plugins, found by the marker) stopped, and the lock released if it was theirs.
  (A dead apply of the plan still pending keeps its record a little longer, until Terraform says whether
  it applied: runs.settle_unconfirmed, issue 21.)

A run is dead (`run_dead`, pure) when it is not this process's own run in flight and: on the record's
host and boot, neither the controller that ran it (pid *and* start time, so a recycled pid is not it)
nor its Terraform process (see tfcontroller.terraform.processes) is alive; after a reboot of that host,
always; on another host, only with leader election, which guarantees the old instance no longer works.
A lock is the run's (`lock_attributable`, pure) when it was taken on the record's host after the run
started. Only a dead run's lock is released, and then through the Lease, exactly as Terraform's
`force-unlock` does for the kubernetes backend (no `terraform init` needed to recover).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api.terraform_status import TerraformStatus
from tfcontroller.api.times import format_rfc3339, parse_terraform_time
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import Conflict, NotFound
from tfcontroller.kube.resources import LEASES
from tfcontroller.terraform import processes
from tfcontroller.terraform.errors import LockInfo
from tfcontroller.terraform.processes import RUN_ENV, StopReport
from tfcontroller.terraform.runner import PARENT_DEATH_INTERRUPTS
from tfcontroller.terraform.state import LOCK_INFO_ANNOTATION, read_lock

__all__ = ["APPLY_INTERRUPTED", "RUN_ENV", "STATUS_FIELD", "Recovery", "RunRecord", "is_dead_run_lock",
           "lock_attributable", "recover_runs", "release_lock", "report_recovery", "run_dead"]

STATUS_FIELD = "runs"
# Condition type and reason of an apply of ours that died half-way; Event reasons of a recovery.
APPLY_INTERRUPTED = "ApplyInterrupted"
LEFTOVERS_STOPPED = "RunLeftoversStopped"
LOCK_RELEASED = "StateLockReleased"
LEGACY_FIELD = "run"  # one record, written by earlier versions: read, then replaced by `runs`
_CLOCK_SLACK = dt.timedelta(seconds=2)


@dataclass(frozen=True)
class RunRecord:
    instance: str
    pid: int
    host: str
    marker: str
    started_at: str
    operation: str = ""
    pid_start: int = 0  # the controller's start time (clock ticks since boot): pid + start identify it
    boot: str = ""  # the host's boot id
    plan: str = ""  # the plan being applied
    pod: str = ""  # pod mode: the run's runner Pod (its current command's); liveness is that Pod's
    pod_uid: str = ""
    # issue 21: a dead apply recovered once (leftovers stopped, its lock released) and kept only until
    # Terraform says whether its plan was applied (runs.settle_unconfirmed): never again a lock's owner
    recovered: bool = False

    @property
    def in_pod(self) -> bool:
        """A pod-mode run: alive while a runner Pod of its run id is Pending or Running (not a process)."""
        return bool(self.pod)

    @classmethod
    def new(cls, instance: str, operation: str) -> RunRecord:
        return cls(instance, os.getpid(), socket.gethostname(), secrets.token_hex(8), format_rfc3339(), operation,
                   processes.own_start(), processes.boot_id())

    def doing(self, operation: str, plan: str = "") -> RunRecord:
        """The same run (same marker) at its next command."""
        return replace(self, operation=operation, plan=plan)

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"instance": self.instance, "pid": self.pid, "host": self.host,
                               "marker": self.marker, "startedAt": self.started_at, "operation": self.operation}
        for key, value in (("pidStart", self.pid_start), ("boot", self.boot), ("plan", self.plan),
                           ("pod", self.pod), ("podUID", self.pod_uid), ("recovered", self.recovered)):
            if value:
                out[key] = value
        return out

    @classmethod
    def from_mapping(cls, run: Any) -> RunRecord | None:
        if not isinstance(run, Mapping) or not run.get("marker"):
            return None
        try:
            return cls(str(run.get("instance", "")), int(run.get("pid") or 0), str(run.get("host", "")),
                       str(run["marker"]), str(run.get("startedAt", "")), str(run.get("operation", "")),
                       int(run.get("pidStart") or 0), str(run.get("boot", "")), str(run.get("plan", "")),
                       str(run.get("pod", "")), str(run.get("podUID", "")), run.get("recovered") is True)
        except (TypeError, ValueError):
            return None

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> RunRecord | None:
        """The newest record (tests and tools that look at one run)."""
        found = records_from_status(status)
        return found[-1] if found else None


def records_from_status(status: Mapping[str, Any]) -> list[RunRecord]:
    """Every run record in `status.runs`, plus a legacy `status.run`, oldest first, without duplicates."""
    raw = list(status.get(STATUS_FIELD) or []) if isinstance(status.get(STATUS_FIELD), list) else []
    if status.get(LEGACY_FIELD):
        raw.insert(0, status[LEGACY_FIELD])
    out: list[RunRecord] = []
    for item in raw:
        record = RunRecord.from_mapping(item)
        if record is not None and all(r.marker != record.marker for r in out):
            out.append(record)
    return out


def write_records(status: dict[str, Any], records: Sequence[RunRecord]) -> None:
    status.pop(LEGACY_FIELD, None)
    if records:
        status[STATUS_FIELD] = [r.to_status() for r in records]
    else:
        status.pop(STATUS_FIELD, None)


# ---- pure decisions ---------------------------------------------------------------------------------


def run_dead(
    record: RunRecord,
    *,
    own_instance: str,
    own_host: str,
    own_boot: str,
    in_flight_markers: set[str] | frozenset[str],
    controller_alive: bool,
    terraform_alive: bool,
    leader_elected: bool,
    pod_alive: bool = False,
) -> bool:
    """Pure: can this run no longer hold or take the state lock? `controller_alive` is whether the
    record's controller process (pid and start time) still runs, `terraform_alive` whether a Terraform
    process carrying the run's marker does (both as seen on this host). A pod-mode run is dead when
    no runner Pod of it is Pending or Running (`pod_alive`), wherever its controller was: its
    Terraform runs in that Pod and nowhere else."""
    if record.marker in in_flight_markers:
        return False
    if record.in_pod:
        return not pod_alive
    if record.host == own_host:
        if record.boot and own_boot and record.boot != own_boot:
            return True  # the host rebooted since: no process of that run survives
        return not (terraform_alive or (controller_alive and record.instance != own_instance))
    return leader_elected and record.instance != own_instance


def lock_attributable(record: RunRecord, lock: LockInfo) -> bool:
    """Pure: could this lock have been taken by that run (same host, not before the run started)?"""
    if record.in_pod:
        # taken in a runner Pod (Who = user@<pod's host>): attributable to the run when taken after it started
        created, started = parse_terraform_time(lock.created), parse_terraform_time(record.started_at)
        return not (created is not None and started is not None and created < started - _CLOCK_SLACK)
    if lock.who and lock.who.rpartition("@")[2] != record.host:
        return False  # taken on another machine than our run's
    created, started = parse_terraform_time(lock.created), parse_terraform_time(record.started_at)
    return not (created is not None and started is not None and created < started - _CLOCK_SLACK)


def is_dead_run_lock(
    record: RunRecord | None,
    lock: LockInfo,
    *,
    own_instance: str,
    own_host: str,
    in_flight_markers: set[str],
    run_alive: bool,
    leader_elected: bool,
    own_boot: str = "",
) -> bool:
    """Pure decision: may this lock be released as left behind by a dead run of ours? (`run_alive`:
    its Terraform process, or for a pod-mode run its runner Pod, still runs.)"""
    if record is None:
        return False
    dead = run_dead(record, own_instance=own_instance, own_host=own_host, own_boot=own_boot,
                    in_flight_markers=in_flight_markers, controller_alive=False, terraform_alive=run_alive,
                    leader_elected=leader_elected, pod_alive=run_alive)
    return dead and lock_attributable(record, lock)


# ---- effects: liveness, leftovers, the Lease -------------------------------------------------------------


def controller_alive(record: RunRecord) -> bool:
    """Whether the controller process that wrote the record still runs (on this host)."""
    if record.pid == os.getpid() and (not record.pid_start or record.pid_start == processes.own_start()):
        return True
    return processes.process_alive(record.pid, record.pid_start)


def release_lock(kube: KubeClient, namespace: str, lease_name: str, lock_id: str) -> bool:
    """Release lock `lock_id` as `terraform force-unlock` does with the kubernetes backend: clear the
    Lease's holder and lock info, only if that very lock is still held (resourceVersion precondition)."""
    try:
        lease = kube.get(LEASES, lease_name, namespace)
    except NotFound:
        return False
    lock = read_lock(kube, namespace, lease_name) if (lease.get("spec") or {}).get("holderIdentity") else None
    if lock is None or lock.id != lock_id:
        return False
    patch = {"metadata": {"resourceVersion": lease["metadata"]["resourceVersion"],
                          "annotations": {LOCK_INFO_ANNOTATION: None}},
             "spec": {"holderIdentity": None}}
    try:
        kube.patch(LEASES, lease_name, patch, namespace)
    except (Conflict, NotFound):
        return False  # changed meanwhile: the next look decides again
    return True


@dataclass
class Recovery:
    """What `recover_runs` found and did."""

    kept: list[RunRecord] = field(default_factory=list)  # runs that may still hold or take the lock
    dead: list[RunRecord] = field(default_factory=list)
    stopped: list[tuple[RunRecord, StopReport]] = field(default_factory=list)
    released: tuple[LockInfo, RunRecord] | None = None


@dataclass(frozen=True)
class RecoveryContext:
    own_instance: str
    in_flight_markers: frozenset[str]
    leader_elected: bool
    grace: float  # seconds a dead run's Terraform gets to stop gracefully before it is killed
    pod_alive: Callable[[RunRecord], bool] | None = None  # pod mode: does a runner Pod of the run still run?


def recover_runs(kube: KubeClient, namespace: str, lease_name: str, records: Sequence[RunRecord],
                 ctx: RecoveryContext) -> Recovery:
    """For each record: is its run dead? Stop what is left of a dead run on this host (its Terraform, after
    `grace` for a graceful stop, and orphaned plugins), and only then release the lock, when the lock is a
    dead run's. Records of live runs are kept."""
    own_host, own_boot = socket.gethostname(), processes.boot_id()
    out = Recovery()
    for record in records:
        if record.recovered:  # dead and recovered before: nothing of it left to stop, no lock of it to release
            out.dead.append(record)
            continue
        if record.in_pod:  # its Terraform is in its Pod: nothing of it runs here to stop
            alive = ctx.pod_alive(record) if ctx.pod_alive is not None else True
            dead = run_dead(record, own_instance=ctx.own_instance, own_host=own_host, own_boot=own_boot,
                            in_flight_markers=set(ctx.in_flight_markers), controller_alive=False,
                            terraform_alive=False, leader_elected=ctx.leader_elected, pod_alive=alive)
            (out.dead if dead else out.kept).append(record)
            continue
        if record.host == own_host and record.marker not in ctx.in_flight_markers and \
                not (controller_alive(record) and record.instance != ctx.own_instance):
            # its controller is gone (or it is ours, not in flight): nothing will ever wait for its processes
            # Terraform got SIGINT from the kernel when that controller died: a second SIGINT would make it
            # exit at once without saving state, so only wait for it there
            report = processes.stop_run(record.marker, ctx.grace, interrupt=not PARENT_DEATH_INTERRUPTS)
            if report.anything:
                out.stopped.append((record, report))
        dead = run_dead(record, own_instance=ctx.own_instance, own_host=own_host, own_boot=own_boot,
                        in_flight_markers=set(ctx.in_flight_markers),
                        controller_alive=record.host == own_host and controller_alive(record),
                        terraform_alive=record.host == own_host and processes.run_alive(record.marker),
                        leader_elected=ctx.leader_elected)
        (out.dead if dead else out.kept).append(record)
    if all(r.recovered for r in out.dead):  # none (or only ones recovered before) may own a lock
        return out
    lock = read_lock(kube, namespace, lease_name)
    if lock is None:
        return out
    owner = next((r for r in reversed(out.dead) if not r.recovered and lock_attributable(r, lock)), None)
    if owner is None:
        return out  # held by someone else (a live run, a user): StateLocked when a command meets it
    if release_lock(kube, namespace, lease_name, lock.id):
        out.released = (lock, owner)
    else:
        out.kept.append(owner)  # the lock changed under us: look again next time
        out.dead.remove(owner)
    return out


Event = tuple[str, str, str]  # (type, reason, message)


def report_recovery(recovery: Recovery, status: dict[str, Any], generation: int | None) -> list[Event]:
    """Pure: what a recovery tells the user — Events for stopped leftovers and a released lock, and for
    each dead apply whose result was never recorded the `ApplyInterrupted` condition and
    `status.lastInterruptedApply`, naming the plan: resources it created after Terraform last saved the
    state (every 20 s during apply, and at once on SIGINT) may exist outside it."""
    events: list[Event] = []
    for record in recovery.dead:
        event = _interrupted_apply(record, status, generation)
        if event is not None:
            events.append(event)
    for record, report in recovery.stopped:
        events.append(("Warning", LEFTOVERS_STOPPED, (
            f"stopped what was left of an interrupted {record.operation} run of this controller ({_who(record)}): "
            f"{report.killed} process(es) killed after waiting {report.waited:.0f}s for Terraform to stop")))
    if recovery.released is not None:
        lock, owner = recovery.released
        events.append(("Warning", LOCK_RELEASED, (
            f"released state lock {lock.id} left by an interrupted {owner.operation} run of this controller "
            f"({_who(owner)})")))
    return events


def _interrupted_apply(record: RunRecord, status: dict[str, Any], generation: int | None) -> Event | None:
    if record.operation != "apply":
        return None
    last = TerraformStatus.of(status)
    plan = record.plan or last.pending.id
    if plan and plan == last.last_applied_plan:
        return None  # the apply finished; only its reconcile did not
    message = (f"the apply of plan {plan or '(unknown)'} started {record.started_at} ({_who(record)}) was "
               "interrupted before Terraform finished; resources it created may be missing from the state: "
               "check the provider for orphaned resources")
    status["lastInterruptedApply"] = {"plan": plan, "startedAt": record.started_at, "instance": record.instance,
                                      "detectedAt": format_rfc3339()}
    c.set_condition(status.setdefault("conditions", []), APPLY_INTERRUPTED, c.TRUE, APPLY_INTERRUPTED, message,
                    generation)
    return ("Warning", APPLY_INTERRUPTED, message)


def _who(record: RunRecord) -> str:
    pod = f", runner Pod {record.pod}" if record.pod else ""
    return f"instance {record.instance}, pid {record.pid} on {record.host}{pod}, started {record.started_at}"

