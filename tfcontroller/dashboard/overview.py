"""The overview's rows and counters, as pure functions on the objects one LIST per kind returned.

Which state an object is in (the filter `state=` and the counters):
- `suspended`: `spec.suspend` is true (nothing else is said about it: the controller is not acting on it);
- `pending`: a Terraform whose `status.plan.pending` plan waits for a person's approval
  (api/approvable.py: manual mode and no approval names it yet; not a `planOnly` plan, which is reported
  and never applied, nor one the policies block, being applied or of an object being deleted);
- `drifted`: a Terraform whose `Drifted` condition is True (the last drift check found changes);
- `failing`: `Stalled` is True, or `Ready` is False for a reason that is neither waiting for something
  else (`conditions.WAITING_REASONS`) nor a plan held for approval (`HELD_REASONS`, or a plan awaiting
  approval whatever the reason says): an object that waits is not failing;
- `ready`: Ready for its current generation (`runtime.readiness`, the rule every controller waits on).
An object may be in several (a drift remediation plan is both `drifted` and `pending`); its `primary`
state (the row's colour) is the first of suspended, failing, pending, drifted, ready, else `progressing`.

Everything is computed from the LIST answers, never a per-object request, so that 1,000 objects render
in well under 300 ms (benchmarks/).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api.approvable import approvability
from tfcontroller.api.constants import TERRAFORM_KIND
from tfcontroller.api.meta import shown_revision
from tfcontroller.api.times import short_age
from tfcontroller.runtime.readiness import readiness

STATES = ("ready", "pending", "drifted", "failing", "suspended")
KINDS = ("GitRepository", "Terraform", "ManifestSet")
MESSAGE_CHARS = 120
_PRIMARY_ORDER = ("suspended", "failing", "pending", "drifted", "ready")
# Ready=False reasons of a Terraform whose plan is held for approval, not failing (the controller's
# PLAN_PENDING and APPROVAL_REFUSED, controllers/terraform/context.py; the dashboard may not import the
# controllers: tests/unit/dashboard/test_overview.py ties the two).
HELD_REASONS = frozenset({"PlanPending", "ApprovalRefused"})


def awaiting_approval(obj: Mapping[str, Any]) -> str:
    """The id of the plan that waits for a person's approval, "" when none does: the one rule of
    api/approvable.py (not when approved already or `auto`, being applied, `planOnly` — reported, never
    applied —, the object being deleted, or blocked by the policies: no approval applies it, so it is
    failing — Ready=False PolicyDenied — not pending)."""
    if obj.get("kind") != TERRAFORM_KIND:
        return ""
    case = approvability(obj)
    return case.plan if case.awaiting else ""


def states_of(obj: Mapping[str, Any]) -> frozenset[str]:
    """Every state of `obj` (module docstring). Pure."""
    if (obj.get("spec") or {}).get("suspend") is True:
        return frozenset({"suspended"})
    conditions = (obj.get("status") or {}).get("conditions")
    out: set[str] = set()
    pending = bool(awaiting_approval(obj))
    if pending:
        out.add("pending")
    if obj.get("kind") == TERRAFORM_KIND and c.is_true(conditions, c.DRIFTED):
        out.add("drifted")
    ready = c.find(conditions, c.READY)
    held = pending or (ready is not None and ready.reason in c.WAITING_REASONS | HELD_REASONS)
    if c.is_true(conditions, c.STALLED) or (ready is not None and ready.status == c.FALSE and not held):
        out.add("failing")
    if readiness(dict(obj)).ready:
        out.add("ready")
    return frozenset(out)


def primary_state(states: Iterable[str]) -> str:
    have = set(states)
    return next((s for s in _PRIMARY_ORDER if s in have), "progressing")


@dataclass(frozen=True)
class Row:
    """One object as the overview table shows it."""

    kind: str
    namespace: str
    name: str
    ready: str  # the Ready condition's status: True | False | Unknown
    reason: str
    message: str
    revision: str
    age: str
    created: str  # the creation timestamp, shown in the age's title
    states: frozenset[str]
    pending_plan: str = ""

    @property
    def state(self) -> str:
        return primary_state(self.states)

    @property
    def states_text(self) -> str:
        return " ".join(sorted(self.states))

    @property
    def ready_class(self) -> str:
        return self.ready.lower()

    @property
    def short_message(self) -> str:
        """The message cut to MESSAGE_CHARS (the whole one is in the cell's title)."""
        return self.message if len(self.message) <= MESSAGE_CHARS else self.message[:MESSAGE_CHARS - 1] + "…"

    @property
    def page(self) -> str:
        """The path of its page: `/terraform/<ns>/<name>` (C1's routes)."""
        return f"/{self.kind.lower()}/{self.namespace}/{self.name}"


def row_of(obj: Mapping[str, Any], now: dt.datetime | None = None) -> Row:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ready = c.find((obj.get("status") or {}).get("conditions"), c.READY)
    reason = "Suspended" if spec.get("suspend") is True else (ready.reason if ready else "")
    created = str(meta.get("creationTimestamp") or "")
    return Row(str(obj.get("kind") or ""), str(meta.get("namespace") or ""), str(meta.get("name") or ""),
               ready.status if ready else c.UNKNOWN, reason, " ".join((ready.message if ready else "").split()),
               shown_revision(obj), short_age(created, now), created, states_of(obj), awaiting_approval(obj))


@dataclass(frozen=True)
class Counters:
    pending: int
    drifted: int
    failing: int
    total: int


def count(rows: Sequence[Row]) -> Counters:
    return Counters(sum("pending" in r.states for r in rows), sum("drifted" in r.states for r in rows),
                    sum("failing" in r.states for r in rows), len(rows))


def matches(row: Row, namespace: str | None, kind: str | None, state: str | None) -> bool:
    """Whether the row passes the filters; an empty or None filter passes everything."""
    return ((not namespace or row.namespace == namespace) and (not kind or row.kind == kind)
            and (not state or state in row.states))


def rows_of(objects: Iterable[Mapping[str, Any]], now: dt.datetime | None = None) -> list[Row]:
    """The rows in the order a reader scans: kind in data-flow order, then namespace, then name."""
    order = {k: i for i, k in enumerate(KINDS)}
    rows = [row_of(o, now) for o in objects]
    return sorted(rows, key=lambda r: (order.get(r.kind, len(order)), r.namespace, r.name))
