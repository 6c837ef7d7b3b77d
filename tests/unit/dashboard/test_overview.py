"""The overview's classification (dashboard/overview.py) on plain objects: which state each object is in
(pending approval, drifted, failing, suspended, ready — several at once where they overlap), the counters
and the filters, and the row's shown reason, revision and age."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tfcontroller.dashboard.overview import (
    HELD_REASONS,
    awaiting_approval,
    count,
    matches,
    primary_state,
    row_of,
    rows_of,
    states_of,
)

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
PLAN = "plan-main-0123456789-abcdef01"


def obj(kind: str = "Terraform", *, ready: tuple[str, str] | None = None, spec: dict[str, Any] | None = None,
        status: dict[str, Any] | None = None, annotations: dict[str, str] | None = None, name: str = "x",
        namespace: str = "team-a", extra_conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    conditions = list(extra_conditions or [])
    if ready:
        conditions.insert(0, {"type": "Ready", "status": ready[0], "reason": ready[1], "message": "m"})
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {},
                                       "creationTimestamp": "2026-01-01T11:00:00Z"},
            "spec": spec or {}, "status": {**(status or {}), "conditions": conditions}}


PENDING = {"plan": {"pending": PLAN, "add": 1}}


@pytest.mark.parametrize(("o", "want"), [
    (obj(ready=("True", "ApplySucceeded")), {"ready"}),
    (obj(ready=("False", "PlanPending"), status=PENDING), {"pending"}),
    # approved already (spec, annotation) or auto: the controller acts, nobody needs to
    (obj(ready=("False", "PlanPending"), status=PENDING, spec={"approvePlan": PLAN}), set()),
    (obj(ready=("False", "PlanPending"), status=PENDING, annotations={"tfcontroller.io/approve-plan": PLAN}), set()),
    (obj(ready=("Unknown", "Progressing"), status=PENDING, spec={"approvePlan": "auto"}), set()),
    # an approval naming another plan leaves this one pending
    (obj(ready=("False", "ApprovalRefused"), status=PENDING, annotations={"tfcontroller.io/approve-plan": "old"}),
     {"pending"}),
    (obj(ready=("False", "PlanFailed")), {"failing"}),
    # issue 18: a plan the policies block waits for no approval (none applies it): failing, not pending
    (obj(ready=("False", "PolicyDenied"), status={"plan": {"pending": PLAN, "policy": {"result": "denied"}}}),
     {"failing"}),
    (obj(ready=("False", "PolicyUnavailable"), status={"plan": {"pending": PLAN, "policy": {"result": "error"}}}),
     {"failing"}),
    (obj(ready=("False", "PlanPending"), status={"plan": {"pending": PLAN, "policy": {"result": "warned"}}}),
     {"pending"}),
    # issue 20: a planOnly plan is reported, never applied (Ready=True PlanOnly): nobody is asked to approve
    # it — in manual or auto mode, a destroy plan or a drift check alike (api/approvable.py)
    (obj(ready=("True", "PlanOnly"), status=PENDING, spec={"planOnly": True}), {"ready"}),
    (obj(ready=("True", "PlanOnly"), status=PENDING, spec={"planOnly": True, "approvePlan": "auto"}), {"ready"}),
    (obj(ready=("True", "PlanOnly"), status={"plan": {"pending": PLAN, "isDestroy": True}},
         spec={"planOnly": True, "destroy": True}), {"ready"}),
    (obj(ready=("True", "PlanOnly"), status={"plan": {"pending": PLAN, "isDrift": True}}, spec={"planOnly": True},
         extra_conditions=[{"type": "Drifted", "status": "True"}]), {"ready", "drifted"}),
    # being deleted: the deletion discards the plan; being applied: nothing to ask
    ({**obj(ready=("Unknown", "Progressing"), status=PENDING),
      "metadata": {"name": "x", "namespace": "n", "deletionTimestamp": "2026-01-01T11:30:00Z"}}, set()),
    (obj(ready=("Unknown", "Progressing"), status={**PENDING, "runs": [{"operation": "apply", "plan": PLAN}]},
         extra_conditions=[{"type": "Reconciling", "status": "True"}]), set()),
    (obj(ready=("False", "DependencyNotReady")), set()),
    (obj(ready=("False", "SourceNotReady")), set()),
    (obj(ready=("Unknown", "Progressing"), extra_conditions=[{"type": "Stalled", "status": "True"}]), {"failing"}),
    (obj(ready=("False", "PlanPending"), status=PENDING,
         extra_conditions=[{"type": "Drifted", "status": "True", "reason": "DriftDetected"}]), {"pending", "drifted"}),
    (obj(ready=("True", "ApplySucceeded"), extra_conditions=[{"type": "Drifted", "status": "True"}]),
     {"ready", "drifted"}),
    (obj(ready=("False", "PlanFailed"), spec={"suspend": True}), {"suspended"}),
    (obj(), set()),  # never reconciled: progressing, neither ready nor failing
    # a Ready=True from an older generation is not ready yet (runtime/readiness.py)
    ({**obj(ready=("True", "ApplySucceeded")), "metadata": {"name": "x", "namespace": "n", "generation": 3},
      "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True", "reason": "R"}]}}, set()),
    # other kinds: a status.plan or Drifted there means nothing
    (obj("ManifestSet", ready=("False", "HealthCheckFailed"), status=PENDING), {"failing"}),
    (obj("GitRepository", ready=("True", "Succeeded"), extra_conditions=[{"type": "Drifted", "status": "True"}]),
     {"ready"}),
])
def test_states(o: dict[str, Any], want: set[str]) -> None:
    assert states_of(o) == want


def test_held_reasons_are_the_controllers() -> None:
    from tfcontroller.controllers.terraform import context

    assert {context.PLAN_PENDING, context.APPROVAL_REFUSED} == HELD_REASONS


def test_awaiting_approval_names_the_plan() -> None:
    assert awaiting_approval(obj(status=PENDING)) == PLAN
    assert awaiting_approval(obj(status=PENDING, spec={"planOnly": True})) == ""
    assert awaiting_approval(obj("ManifestSet", status=PENDING)) == ""
    assert awaiting_approval(obj(status={"plan": {"pending": ""}})) == ""
    assert awaiting_approval(obj(status={"plan": "garbage"})) == ""


@pytest.mark.parametrize(("states", "want"), [
    ({"ready", "drifted"}, "drifted"), ({"pending", "drifted"}, "pending"), ({"failing", "pending"}, "failing"),
    ({"suspended"}, "suspended"), (set(), "progressing"), ({"ready"}, "ready"),
])
def test_primary_state(states: set[str], want: str) -> None:
    assert primary_state(states) == want


def test_row_shows_reason_revision_and_age() -> None:
    git = obj("GitRepository", ready=("True", "Succeeded"),
              status={"artifact": {"revision": "main@sha1:abc"}, "lastAppliedRevision": "ignored"})
    row = row_of(git, NOW)
    assert (row.kind, row.ready, row.reason, row.revision, row.age) == ("GitRepository", "True", "Succeeded",
                                                                        "main@sha1:abc", "60m")
    assert row.created == "2026-01-01T11:00:00Z" and row.page == "/gitrepository/team-a/x"
    suspended = row_of(obj(ready=("True", "ApplySucceeded"), spec={"suspend": True},
                           status={"lastAppliedRevision": "main@sha1:def"}), NOW)
    assert (suspended.reason, suspended.revision, suspended.state) == ("Suspended", "main@sha1:def", "suspended")
    blank = row_of({"kind": "Terraform", "metadata": {"name": "y", "namespace": "n"}}, NOW)
    assert (blank.ready, blank.reason, blank.age, blank.states) == ("Unknown", "", "<unknown>", frozenset())


def test_counters_and_filters() -> None:
    rows = rows_of([
        obj(name="a", ready=("False", "PlanPending"), status=PENDING),
        obj(name="b", ready=("False", "PlanFailed"), namespace="team-b"),
        obj(name="c", ready=("True", "ApplySucceeded"), extra_conditions=[{"type": "Drifted", "status": "True"}]),
        obj("ManifestSet", name="d", ready=("True", "ReconciliationSucceeded")),
        obj("GitRepository", name="e", ready=("True", "Succeeded")),
    ], NOW)
    assert [r.name for r in rows] == ["e", "a", "c", "b", "d"]  # kinds in data-flow order, then namespace, name
    counters = count(rows)
    assert (counters.pending, counters.drifted, counters.failing, counters.total) == (1, 1, 1, 5)
    assert [r.name for r in rows if matches(r, "team-b", None, None)] == ["b"]
    assert [r.name for r in rows if matches(r, None, "Terraform", "ready")] == ["c"]
    assert [r.name for r in rows if matches(r, None, None, "drifted")] == ["c"]
    assert len([r for r in rows if matches(r, "", "", "")]) == 5

