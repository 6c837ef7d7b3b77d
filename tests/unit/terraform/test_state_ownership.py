"""Rule §4.8 as a pure decision (terraform.state_ownership.decide, shared by the controller and `state
import`): a state belongs to exactly one Terraform object. A table over the kinds of sharing — same suffix, different workspace/suffix splits of one
Secret name, a recorded owner alive / deleted / moved to another state, states with no recorded owner
(adopted only when unambiguous), and the explicit take-over annotation."""

from __future__ import annotations

import pytest

from tfcontroller.terraform.state_ownership import (
    CLAIM,
    CREATE,
    PROCEED,
    REFUSE,
    STATE_ADOPTED,
    STATE_IN_USE,
    STATE_TAKE_OVER_REQUIRED,
    STATE_TAKEN_OVER,
    Claimant,
    StateRecord,
    decide,
)

A = Claimant("net-a", "default", "shared", used_state=True)
B = Claimant("net-b", "default", "shared")
SPLIT_1 = Claimant("one", "a-b", "c", used_state=True)  # tfstate-a-b-c
SPLIT_2 = Claimant("two", "a", "b-c")  # tfstate-a-b-c as well
SECRET = "tfstate-default-shared"


def owned(owner: str, ws: str = "default", suffix: str = "shared") -> StateRecord:
    return StateRecord(owner, ws, suffix)


UNOWNED = StateRecord("", "default", "shared")


@pytest.mark.parametrize(("me", "record", "others", "action", "reason", "says"), [
    # no Secret yet: create it, owned (the API server picks one winner of a race)
    (B, None, [A], CREATE, "", ""),
    # the recorded owner runs
    (A, owned("net-a"), [B], PROCEED, "", ""),
    # a second object on an owned state is refused, naming the owner
    (B, owned("net-a"), [A], REFUSE, STATE_IN_USE, "belongs to Terraform net-a"),
    # ... also when the Secret name comes from another workspace/suffix split
    (SPLIT_2, owned("one", "a-b", "c"), [SPLIT_1], REFUSE, STATE_IN_USE, "tfstate-a-b-c belongs to Terraform one"),
    # ... and a take-over annotation cannot displace a live owner
    (Claimant("net-b", "default", "shared", take_over=SECRET), owned("net-a"), [A], REFUSE, STATE_IN_USE, "net-a"),
    # owner deleted: explicit take-over only
    (B, owned("net-a"), [], REFUSE, STATE_TAKE_OVER_REQUIRED, "no longer exists"),
    (Claimant("net-b", "default", "shared", take_over=SECRET), owned("net-a"), [], CLAIM, STATE_TAKEN_OVER,
     "from Terraform net-a"),
    (Claimant("net-b", "default", "shared", take_over="tfstate-default-other"), owned("net-a"), [], REFUSE,
     STATE_TAKE_OVER_REQUIRED, "take-over-state=tfstate-default-shared"),
    # owner alive but now on another state: still explicit
    (B, owned("net-a"), [Claimant("net-a", "default", "moved", used_state=True)], REFUSE, STATE_TAKE_OVER_REQUIRED,
     "now uses another state"),
    # a state from before owners were recorded: adopted by the only object that has used it
    (A, UNOWNED, [B], CLAIM, STATE_ADOPTED, "net-a"),
    (A, StateRecord(), [], CLAIM, STATE_ADOPTED, "net-a"),  # no labels at all
    (B, UNOWNED, [A], REFUSE, STATE_IN_USE, "in use by Terraform net-a"),
    # ... ambiguous when two have used it
    (A, UNOWNED, [Claimant("net-b", "default", "shared", used_state=True)], REFUSE, STATE_TAKE_OVER_REQUIRED,
     "net-a, net-b have all used it"),
    # ... unknown origin when none has
    (B, UNOWNED, [], REFUSE, STATE_TAKE_OVER_REQUIRED, "no Terraform object has used it"),
    # ... written for another split: never adopted silently
    (Claimant("two", "a", "b-c", used_state=True), StateRecord("", "a-b", "c"), [], REFUSE,
     STATE_TAKE_OVER_REQUIRED, "written for workspace 'a-b' and suffix 'c'"),
    (SPLIT_2, StateRecord("", "a-b", "c"), [SPLIT_1], REFUSE, STATE_IN_USE, "in use by Terraform one"),
    # ... and taken over explicitly
    (Claimant("net-b", "default", "shared", take_over=SECRET), UNOWNED, [A], CLAIM, STATE_TAKEN_OVER,
     "no recorded owner"),
])
def test_decide(me: Claimant, record: StateRecord | None, others: list[Claimant], action: str, reason: str,
                says: str) -> None:
    got = decide(me, record, others)
    assert (got.action, got.reason) == (action, reason), got
    assert says in got.message


def test_objects_on_other_states_do_not_count() -> None:
    unrelated = [Claimant("x", "default", "other", used_state=True), Claimant("y", "prod", "shared", used_state=True)]
    assert decide(A, UNOWNED, unrelated).action == CLAIM
    assert decide(B, owned("net-a"), unrelated).reason == STATE_TAKE_OVER_REQUIRED


def test_refusals_tell_how_to_take_over() -> None:
    got = decide(B, owned("gone"), [])
    assert f"kubectl annotate terraform/net-b -n default tfcontroller.io/take-over-state={SECRET} --overwrite" \
        in got.message
    elsewhere = decide(Claimant("net-b", "default", "shared", namespace="team-a"), owned("gone"), [])
    assert f"terraform/net-b -n team-a tfcontroller.io/take-over-state={SECRET} --overwrite" in elsewhere.message
