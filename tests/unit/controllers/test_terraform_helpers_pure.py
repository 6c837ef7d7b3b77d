"""Pure pieces of the Terraform controller on plain data: the state-loss rule on counts, which
approvals are history, drift due times, expected resources after a plan, the dead-run lock decision,
and the outputs Secret's data (strings raw, other values as JSON, a missing listed output named)."""

from __future__ import annotations

import pytest

from tfcontroller.api.errors import StallingError
from tfcontroller.api.terraform import OutputsSecret
from tfcontroller.controllers.terraform import policy
from tfcontroller.controllers.terraform.locks import RunRecord, is_dead_run_lock
from tfcontroller.controllers.terraform.outputs import outputs_data
from tfcontroller.terraform.errors import LockInfo


def test_state_lost_needs_applied_resources_and_a_missing_state() -> None:
    assert policy.state_lost(applied_resources=2, state_exists=False, state_empty=True, creates_everything=True)
    assert policy.state_lost(applied_resources=2, state_exists=True, state_empty=True, creates_everything=True)
    assert not policy.state_lost(applied_resources=0, state_exists=False, state_empty=True, creates_everything=True)
    assert not policy.state_lost(applied_resources=2, state_exists=True, state_empty=False, creates_everything=True)
    assert not policy.state_lost(applied_resources=2, state_exists=False, state_empty=True, creates_everything=False)


def test_offered_approvals_ignore_history() -> None:
    assert policy.offered_approvals("plan-a", "plan-b", {"plan-a"}) == ("", "plan-b")
    assert policy.offered_approvals("auto", "plan-a", {"plan-a"}) == ("auto", None)
    assert policy.offered_approvals("plan-c", None, set()) == ("plan-c", None)


def test_expected_resources() -> None:
    """(When a drift check is due, jittered: tests/controllers/test_drift_schedule.py.)"""
    assert policy.expected_resources(3, 1, 1) == 3 and policy.expected_resources(1, 0, 2) == 0


RECORD = RunRecord("old", 4242, "host-a", "m1", "2026-01-01T10:00:00Z", "apply")
LOCK = LockInfo(id="L", who="root@host-a", created="2026-01-01T10:00:03.123456789Z")


def _dead(record=RECORD, lock=LOCK, **kw) -> bool:
    args = dict(own_instance="new", own_host="host-a", in_flight_markers=set(), run_alive=False,
                leader_elected=False)
    args.update(kw)
    return is_dead_run_lock(record, lock, **args)


def test_dead_run_lock_decision() -> None:
    assert _dead()
    assert not _dead(record=None)  # no run of ours was under way: a foreign lock
    assert not _dead(run_alive=True)  # an orphaned terraform still running
    assert not _dead(in_flight_markers={"m1"})  # our own run in this process
    assert not _dead(lock=LockInfo(id="L", who="root@elsewhere", created=LOCK.created))
    assert not _dead(lock=LockInfo(id="L", who="root@host-a", created="2026-01-01T09:00:00Z"))  # older
    other_host = RunRecord("old", 1, "host-b", "m1", RECORD.started_at)
    lock_b = LockInfo(id="L", who="root@host-b", created=LOCK.created)
    assert not _dead(record=other_host, lock=lock_b)
    assert _dead(record=other_host, lock=lock_b, leader_elected=True)


def test_outputs_data() -> None:
    outputs = {"s": {"value": "x"}, "n": {"value": 3}, "m": {"value": {"b": [1, 2], "a": True}}}
    assert outputs_data(outputs, OutputsSecret("o")) == {"m": b'{"a":true,"b":[1,2]}', "n": b"3", "s": b"x"}
    assert outputs_data(outputs, OutputsSecret("o", ("s",))) == {"s": b"x"}
    with pytest.raises(StallingError, match="no output nope"):
        outputs_data(outputs, OutputsSecret("o", ("s", "nope")))
