"""The run-record rules of controllers/terraform/locks.py on plain data (design.md §4.4): when a run of ours is dead,
when a lock is that run's, and how records are read and written so that none is ever lost — a newer
attempt appends, a legacy `status.run` is carried over, a retry inside one reconcile keeps its marker."""

from __future__ import annotations

import pytest

from tfcontroller.controllers.terraform.locks import (
    RunRecord,
    is_dead_run_lock,
    lock_attributable,
    records_from_status,
    run_dead,
    write_records,
)
from tfcontroller.terraform.errors import LockInfo

OLD = RunRecord("old", 4242, "host-a", "m1", "2026-01-01T10:00:00Z", "apply", pid_start=77, boot="b1", plan="plan-x")


def _dead(record: RunRecord = OLD, **kw: object) -> bool:
    args: dict = dict(own_instance="new", own_host="host-a", own_boot="b1", in_flight_markers=set(),
                      controller_alive=False, terraform_alive=False, leader_elected=False)
    args.update(kw)
    return run_dead(record, **args)


@pytest.mark.parametrize(("kw", "dead"), [
    ({}, True),  # controller and Terraform gone
    ({"terraform_alive": True}, False),  # an orphaned Terraform still runs (e.g. stopping gracefully)
    ({"controller_alive": True}, False),  # another live instance on this host may run it still
    ({"controller_alive": True, "own_instance": "old"}, True),  # our own process, not in flight: done
    ({"in_flight_markers": {"m1"}}, False),  # our own run in this very process
    ({"own_boot": "b2", "terraform_alive": True}, True),  # the host rebooted: nothing of it survives
    ({"own_host": "host-b"}, False),  # another host, no leader election: cannot know
    ({"own_host": "host-b", "leader_elected": True}, True),  # the old leader no longer works
    ({"own_host": "host-b", "leader_elected": True, "own_instance": "old"}, False),
])
def test_run_dead(kw: dict, dead: bool) -> None:
    assert _dead(**kw) is dead


def test_liveness_ignores_leftovers_only_terraform_counts() -> None:
    # what the caller passes as terraform_alive is "a session-leading Terraform with the marker"; plugins
    # and provisioners left behind are not it (tfcontroller.terraform.processes) — here: no Terraform
    assert _dead(terraform_alive=False, controller_alive=False)


@pytest.mark.parametrize(("lock", "ours"), [
    (LockInfo(id="L", who="root@host-a", created="2026-01-01T10:00:03.123456789Z"), True),
    (LockInfo(id="L", who="root@host-a", created="2026-01-01T09:59:59Z"), True),  # within clock slack
    (LockInfo(id="L", who="root@host-a", created="2026-01-01T09:00:00Z"), False),  # before the run
    (LockInfo(id="L", who="root@elsewhere", created="2026-01-01T10:00:03Z"), False),  # another machine
    (LockInfo(id="L", who="", created=""), True),  # nothing says otherwise
])
def test_lock_attributable(lock: LockInfo, ours: bool) -> None:
    assert lock_attributable(OLD, lock) is ours


def test_records_round_trip_append_and_legacy() -> None:
    newer = RunRecord.new("new", "plan")
    status: dict = {}
    write_records(status, [OLD, newer])
    assert [r["marker"] for r in status["runs"]] == ["m1", newer.marker]
    assert records_from_status(status) == [OLD, newer]
    # a record written by an earlier version (one `run`) is kept, first, and not duplicated
    legacy = {"run": OLD.to_status(), "runs": [OLD.to_status(), newer.to_status()]}
    assert [r.marker for r in records_from_status(legacy)] == ["m1", newer.marker]
    write_records(legacy, records_from_status(legacy))
    assert "run" not in legacy and len(legacy["runs"]) == 2
    write_records(status, [])
    assert "runs" not in status
    assert records_from_status({"runs": [{"pid": 1}, "junk", {"marker": "m2", "pid": "x"}]}) == []


def test_a_run_keeps_its_marker_from_command_to_command() -> None:
    run = RunRecord.new("me", "plan")
    applying = run.doing("apply", "plan-abc")
    assert applying.marker == run.marker and applying.started_at == run.started_at
    assert applying.operation == "apply" and applying.plan == "plan-abc"
    assert run.pid_start > 0 and run.boot  # identity of the controller process and of the boot


def test_report_recovery_names_the_interrupted_plan_once_and_only_for_applies() -> None:
    from tfcontroller.controllers.terraform.locks import Recovery, report_recovery
    from tfcontroller.terraform.processes import StopReport

    plan_run = RunRecord("old", 1, "h", "m0", "2026-01-01T09:00:00Z", "plan")
    finished = RunRecord("old", 1, "h", "m2", "2026-01-01T10:10:00Z", "apply", plan="plan-done")
    lock = LockInfo(id="L1", who="root@host-a", created="2026-01-01T10:00:03Z")
    recovery = Recovery(dead=[plan_run, OLD, finished], stopped=[(OLD, StopReport(killed=2, waited=5.0))],
                        released=(lock, OLD))
    status: dict = {"lastAppliedPlan": "plan-done", "conditions": []}
    events = report_recovery(recovery, status, 3)
    reasons = [reason for _, reason, _ in events]
    assert reasons == ["ApplyInterrupted", "RunLeftoversStopped", "StateLockReleased"]
    assert "plan plan-x" in events[0][2] and "orphaned" in events[0][2]  # OLD's plan; plan-done finished
    assert status["lastInterruptedApply"]["plan"] == "plan-x"
    [cond] = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"], cond["observedGeneration"]) == \
        ("ApplyInterrupted", "True", "ApplyInterrupted", 3)
    assert "2 process(es) killed" in events[1][2] and "L1" in events[2][2]
    # a legacy record without a plan id names the pending plan
    legacy = RunRecord("old", 1, "h", "m3", "2026-01-01T10:00:00Z", "apply")
    status = {"plan": {"pending": "plan-pending"}}
    assert "plan plan-pending" in report_recovery(Recovery(dead=[legacy]), status, 1)[0][2]
    assert report_recovery(Recovery(dead=[plan_run]), {}, 1) == []


DEAD_RECORD = RunRecord("old", 4242, "host-a", "m1", "2026-01-01T10:00:00Z", "apply")
DEAD_LOCK = LockInfo(id="L", who="root@host-a", created="2026-01-01T10:00:03.123456789Z")


def _dead_lock(record=DEAD_RECORD, lock=DEAD_LOCK, **kw) -> bool:
    args = dict(own_instance="new", own_host="host-a", in_flight_markers=set(), run_alive=False,
                leader_elected=False)
    args.update(kw)
    return is_dead_run_lock(record, lock, **args)


def test_dead_run_lock_decision() -> None:
    assert _dead_lock()
    assert not _dead_lock(record=None)  # no run of ours was under way: a foreign lock
    assert not _dead_lock(run_alive=True)  # an orphaned terraform still running
    assert not _dead_lock(in_flight_markers={"m1"})  # our own run in this process
    assert not _dead_lock(lock=LockInfo(id="L", who="root@elsewhere", created=DEAD_LOCK.created))
    assert not _dead_lock(lock=LockInfo(id="L", who="root@host-a", created="2026-01-01T09:00:00Z"))  # older
    other_host = RunRecord("old", 1, "host-b", "m1", DEAD_RECORD.started_at)
    lock_b = LockInfo(id="L", who="root@host-b", created=DEAD_LOCK.created)
    assert not _dead_lock(record=other_host, lock=lock_b)
    assert _dead_lock(record=other_host, lock=lock_b, leader_elected=True)


POD_RUN = RunRecord("old", 4242, "host-a", "m2", "2026-01-01T10:00:00Z", "apply", pid_start=77, boot="b1",
                    plan="plan-x", pod="tfrun-m2-2", pod_uid="u1")


@pytest.mark.parametrize(("kw", "dead"), [
    ({"pod_alive": True}, False),  # its runner Pod is Pending or Running: it may hold the lock
    ({"pod_alive": False}, True),  # gone, Succeeded, Failed (OOMKilled, evicted, deadline): dead
    ({"pod_alive": True, "own_host": "host-b", "leader_elected": True}, False),  # a new leader: the Pod decides
    ({"pod_alive": False, "own_host": "host-b"}, True),  # another host, no election: the Pod still decides
    ({"pod_alive": False, "controller_alive": True}, True),  # its controller lives on: the Pod decides
    ({"pod_alive": False, "in_flight_markers": {"m2"}}, False),  # our own run in flight
    ({"pod_alive": True, "own_boot": "b2"}, False),  # a reboot of the controller's host does not end a Pod
])
def test_pod_run_dead_is_its_pod(kw: dict, dead: bool) -> None:
    assert _dead(POD_RUN, **kw) is dead


@pytest.mark.parametrize(("who", "ours"), [("root@node-7", True), ("runner@other", True), ("", True)])
def test_pod_run_lock_is_attributable_from_any_host(who: str, ours: bool) -> None:
    # Terraform in a runner Pod writes its Pod's host name: any host, after the run started
    assert lock_attributable(POD_RUN, LockInfo(id="L", who=who, created="2026-01-01T10:00:03Z")) is ours
    assert not lock_attributable(POD_RUN, LockInfo(id="L", who=who, created="2026-01-01T09:00:00Z"))


def test_pod_record_round_trip() -> None:
    status: dict = {}
    write_records(status, [POD_RUN])
    assert status["runs"][0]["pod"] == "tfrun-m2-2" and status["runs"][0]["podUID"] == "u1"
    assert records_from_status(status) == [POD_RUN]
    assert is_dead_run_lock(POD_RUN, LockInfo(id="L", who="x@node", created="2026-01-01T10:00:03Z"),
                            own_instance="new", own_host="host-a", in_flight_markers=set(), run_alive=False,
                            leader_elected=False)
    assert not is_dead_run_lock(POD_RUN, LockInfo(id="L", who="x@node", created="2026-01-01T10:00:03Z"),
                                own_instance="new", own_host="host-a", in_flight_markers=set(), run_alive=True,
                                leader_elected=False)


def test_a_recovered_record_round_trips_and_owns_no_lock() -> None:
    """Issue 21: a dead apply kept until Terraform says whether it applied is marked `recovered`; the mark
    survives the status, and the recovery releases no lock on its account (nor stops anything of it)."""
    import dataclasses

    from tfcontroller.controllers.terraform.locks import RecoveryContext, recover_runs

    kept = dataclasses.replace(POD_RUN, recovered=True)
    status: dict = {}
    other = dataclasses.replace(POD_RUN, marker="m3")
    write_records(status, [kept, other])
    assert status["runs"][0]["recovered"] is True and "recovered" not in status["runs"][1]
    assert records_from_status(status) == [kept, other]

    class NoKube:  # a lock present on the state: only a record that may own it would make it read
        def get_or_none(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("no lock is looked up for a recovered record")

    recovery = recover_runs(NoKube(), "default", "lock-tfstate-default-app", [kept],  # type: ignore[arg-type]
                            RecoveryContext("new", frozenset(), False, 1.0, lambda r: False))
    assert recovery.dead == [kept] and recovery.released is None and not recovery.stopped
