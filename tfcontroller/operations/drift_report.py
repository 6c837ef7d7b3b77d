"""The last drift report of a Terraform (`status.drift`, design.md §4.3 and §4.6) as one typed view, read
the same way by `tfcontroller drift` and the dashboard's Terraform page.

`status.drift.resources[]` entries are dicts (`address`, `action` or `actions`, `attributes` as a list
or a map) written by the controller, but hand-edited or older statuses may hold bare strings or other
spellings: `DriftReport.of` reads them all one way, so the CLI and the page never disagree on what
drifted. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.conditions import DRIFTED, find
from tfcontroller.api.terraform_status import PendingPlan


@dataclass(frozen=True)
class DriftedResource:
    """One drifted resource: its address, what the remediation would do, the attribute paths that drifted."""

    address: str
    action: str = ""
    attributes: tuple[str, ...] = ()

    @classmethod
    def of(cls, entry: Any) -> DriftedResource:
        if not isinstance(entry, Mapping):
            return cls(str(entry))
        action = entry.get("action") or entry.get("actions") or ""
        if isinstance(action, list):
            action = "+".join(str(a) for a in action)
        attrs = entry.get("attributes") or entry.get("changedAttributes") or []
        if isinstance(attrs, Mapping):
            attrs = sorted(attrs)
        paths = tuple(str(a) for a in attrs) if isinstance(attrs, list) else ()
        return cls(str(entry.get("address") or entry.get("name") or "?"), str(action), paths)


def notification_state(drift: Mapping[str, Any]) -> str:
    """Whether the report for this drift was delivered: `delivered <time>`, pending with its attempts, or `-`."""
    pending = drift.get("pendingNotification") or {}
    if pending:
        text = f"{pending.get('kind') or 'drift'} report pending (not delivered yet"
        if pending.get("attempts"):
            text += f", {pending['attempts']} failed attempts"
        if pending.get("nextAttemptAt"):
            text += f", next attempt {pending['nextAttemptAt']}"
        return text + ")"
    if drift.get("notifiedAt"):
        return f"delivered {drift['notifiedAt']}"
    return "-"


@dataclass(frozen=True)
class DriftReport:
    """What the last drift check found; `checked` is False when none has run yet."""

    disabled: bool
    checked: bool
    last_checked_at: str = ""
    next_check_at: str = ""
    last_detected_at: str = ""
    cleared_at: str = ""
    fingerprint: str = ""
    notification: str = "-"
    condition_reason: str = ""  # the Drifted condition's reason, "" without one
    resources: tuple[DriftedResource, ...] = ()
    remediation_plan: str = ""  # the pending plan's id when it is a drift remediation plan

    @property
    def drifted(self) -> bool:
        return bool(self.resources)

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> DriftReport:
        status = obj.get("status") or {}
        drift = status.get("drift") if isinstance(status.get("drift"), Mapping) else {}
        disabled = bool(((obj.get("spec") or {}).get("driftDetection") or {}).get("disabled"))
        if not drift:
            return cls(disabled, False)
        cond = find(status.get("conditions"), DRIFTED)
        plan = PendingPlan.of(status)
        found = drift.get("resources")
        resources = found if isinstance(found, list) else []
        return cls(disabled, True, str(drift.get("lastCheckedAt") or ""), str(drift.get("nextCheckAt") or ""),
                   str(drift.get("lastDetectedAt") or ""), str(drift.get("clearedAt") or ""),
                   str(drift.get("fingerprint") or ""), notification_state(drift),
                   cond.reason if cond else "", tuple(DriftedResource.of(e) for e in resources),
                   plan.id if plan.is_drift else "")
