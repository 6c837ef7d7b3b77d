"""A typed, read-only view of a Terraform object's status (design.md §3), read one way everywhere.

The reconciler writes status as the dict it patches; every reader — the steps, the drift hooks and mail,
the lock recovery, the CLI (`get`, `approve`, `plan show`, `drift`) — reads it through `TerraformStatus`
and `PendingPlan`, so that a missing, null or mistyped field means the same thing to all of them (no
pending plan is `""`, a count that is not a number is 0). Build a view when you read: status changes
during a reconcile, the view does not follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.plan_counts import counts_text


def lenient_str(value: Any) -> str:
    """A status field as text: "" for absent, empty or structured values (status is read, never trusted)."""
    return str(value) if value not in (None, "") and not isinstance(value, (dict, list)) else ""


def lenient_int(value: Any) -> int:
    """A status count: 0 for absent or malformed values."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class PendingPlan:
    """`status.plan`: the plan waiting to be applied; `id` is "" when none is."""

    id: str = ""
    add: int = 0
    change: int = 0
    destroy: int = 0
    created_at: str = ""
    is_drift: bool = False
    is_destroy: bool = False
    imports: int = 0  # issue 20: `import` blocks, counted apart (api/plan_counts.py)
    moves: int = 0  # `moved` blocks

    @classmethod
    def of(cls, status: Mapping[str, Any] | None) -> PendingPlan:
        plan = (status or {}).get("plan")
        if not isinstance(plan, Mapping):
            return cls()
        return cls(lenient_str(plan.get("pending")), lenient_int(plan.get("add")), lenient_int(plan.get("change")),
                   lenient_int(plan.get("destroy")), lenient_str(plan.get("createdAt")), plan.get("isDrift") is True,
                   plan.get("isDestroy") is True, lenient_int(plan.get("import")), lenient_int(plan.get("move")))

    def __bool__(self) -> bool:
        return bool(self.id)

    def counts(self) -> str:
        return counts_text(self.add, self.change, self.destroy, self.imports, self.moves)

    def done_counts(self) -> str:
        return counts_text(self.add, self.change, self.destroy, self.imports, self.moves, done=True)


@dataclass(frozen=True)
class TerraformStatus:
    pending: PendingPlan = field(default_factory=PendingPlan)
    inputs_digest: str = ""
    last_attempted_revision: str = ""
    last_artifact_digest: str = ""
    last_planned_revision: str = ""
    last_applied_revision: str = ""
    last_applied_inputs_digest: str = ""
    last_applied_plan: str = ""
    last_discarded_plan: str = ""
    last_applied_resource_count: int = 0
    last_handled_replan: str = ""
    last_handled_force_unlock: str = ""
    observed_generation: int | None = None
    applying_plan: str = ""  # the plan a run of ours is applying now (status.runs[], see applying_of)

    @classmethod
    def of(cls, status: Mapping[str, Any] | None) -> TerraformStatus:
        s = status or {}
        gen = s.get("observedGeneration")
        return cls(
            pending=PendingPlan.of(s),
            inputs_digest=lenient_str(s.get("inputsDigest")),
            last_attempted_revision=lenient_str(s.get("lastAttemptedRevision")),
            last_artifact_digest=lenient_str(s.get("lastArtifactDigest")),
            last_planned_revision=lenient_str(s.get("lastPlannedRevision")),
            last_applied_revision=lenient_str(s.get("lastAppliedRevision")),
            last_applied_inputs_digest=lenient_str(s.get("lastAppliedInputsDigest")),
            last_applied_plan=lenient_str(s.get("lastAppliedPlan")),
            last_discarded_plan=lenient_str(s.get("lastDiscardedPlan")),
            last_applied_resource_count=lenient_int(s.get("lastAppliedResourceCount")),
            last_handled_replan=lenient_str(s.get("lastHandledReplan")),
            last_handled_force_unlock=lenient_str(s.get("lastHandledForceUnlock")),
            observed_generation=gen if isinstance(gen, int) else None,
            applying_plan=applying_of(s),
        )

    @property
    def plan_history(self) -> set[str]:
        """Plans applied or discarded as stale: an approval naming one of them is history, not a refusal."""
        return {p for p in (self.last_applied_plan, self.last_discarded_plan) if p}

    @property
    def used_state(self) -> bool:
        """This object has planned or applied with its state before."""
        return bool(self.last_planned_revision or self.last_applied_revision)


def applying_of(status: Mapping[str, Any]) -> str:
    """The plan being applied: the newest run record (`status.runs[]`, written before the apply starts and
    removed by the reconcile's final patch) whose operation is `apply`, while Reconciling is True. A
    record left by a controller that died mid-apply also counts until the next reconcile recovers it:
    that apply did start, and approving its plan again changes nothing either."""
    conditions = status.get("conditions")
    reconciling = isinstance(conditions, list) and any(
        isinstance(cond, Mapping) and cond.get("type") == "Reconciling" and cond.get("status") == "True"
        for cond in conditions)
    runs = status.get("runs")
    if not reconciling or not isinstance(runs, list):
        return ""
    for run in reversed(runs):
        if isinstance(run, Mapping) and run.get("operation") == "apply" and lenient_str(run.get("plan")):
            return lenient_str(run.get("plan"))
    return ""
