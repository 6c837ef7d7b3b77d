"""`status.history[]` of a Terraform: the last runs (plan, apply, drift check, destroy), newest first, and
who approved each apply of a manual plan — one typed view, and the pure rules that add to it.

The controller appends an entry per run in the status patch that ends the reconcile (append_entries);
the CLI (`tfcontroller history`) and the dashboard read them through `history_of`, so a missing or
mistyped field reads the same everywhere. The approver comes from the annotation
`tfcontroller.io/approved-by` (JSON, written by `tfcontroller approve` and the dashboard in the same
patch as the approval), trusted only for the plan it names (`approver_for`); it is as trustworthy as the
client that wrote it (docs/architecture.md "Who approved a plan").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.plan_counts import short_counts
from tfcontroller.api.terraform_status import lenient_int, lenient_str

DEFAULT_HISTORY_LIMIT = 10

# kinds of run
PLAN, APPLY, DRIFT, DESTROY = "plan", "apply", "drift", "destroy"
KINDS = (PLAN, APPLY, DRIFT, DESTROY)
# outcomes
SUCCEEDED, FAILED, NO_CHANGES, INTERRUPTED = "Succeeded", "Failed", "NoChanges", "Interrupted"
OUTCOMES = (SUCCEEDED, FAILED, NO_CHANGES, INTERRUPTED)
# how an apply was approved
VIA_CLI, VIA_DASHBOARD, VIA_ANNOTATION, VIA_SPEC, VIA_AUTO = "cli", "dashboard", "annotation", "spec", "auto"
VIAS = (VIA_CLI, VIA_DASHBOARD, VIA_ANNOTATION, VIA_SPEC, VIA_AUTO)
ANNOTATION_VIAS = (VIA_CLI, VIA_DASHBOARD)  # what an approved-by annotation may claim

MESSAGE_LIMIT = 300  # characters of a history message (the condition's message, already scrubbed)


@dataclass(frozen=True)
class Approver:
    """Who approved a plan and how: `via` is cli | dashboard (from the approved-by annotation), annotation
    (a bare `kubectl annotate`: `username` is "", `manager` the field manager that wrote it), spec
    (`spec.approvePlan` from Git) or auto."""

    username: str = ""
    groups: tuple[str, ...] = ()
    via: str = VIA_ANNOTATION
    manager: str = ""

    @classmethod
    def of(cls, value: Any) -> Approver | None:
        if not isinstance(value, Mapping):
            return None
        groups = value.get("groups")
        return cls(lenient_str(value.get("username")), tuple(str(g) for g in groups) if isinstance(groups, list) else (),
                   lenient_str(value.get("via")) or VIA_ANNOTATION, lenient_str(value.get("manager")))

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"username": self.username, "groups": list(self.groups), "via": self.via}
        if self.manager:
            out["manager"] = self.manager
        return out

    def describe(self) -> str:
        """One short text: `alice (cli)`, `kubectl annotate (kubectl-annotate)`, `auto`, `spec.approvePlan`."""
        if self.via == VIA_AUTO:
            return "auto"
        if self.via == VIA_SPEC:
            return "spec.approvePlan"
        if self.via == VIA_ANNOTATION:
            return f"annotation ({self.manager})" if self.manager else "annotation"
        return f"{self.username or '?'} ({self.via})"


@dataclass(frozen=True)
class HistoryEntry:
    run_id: str
    kind: str
    outcome: str
    reason: str = ""
    message: str = ""
    revision: str = ""
    plan_id: str = ""
    add: int = 0
    change: int = 0
    destroy: int = 0
    started_at: str = ""
    finished_at: str = ""
    approved_by: Approver | None = None
    attempts: int = 1  # the same failure repeated by retries is one entry (collapse_repeats)
    policy: str = ""  # issue 18: the plan's policy result (passed, warned, denied, error), when checked
    exceptions: tuple[str, ...] = ()  # the PolicyExceptions that waived a policy for this plan
    imports: int = 0  # issue 20: resources imported (`import` blocks) and moved (`moved` blocks)
    moves: int = 0
    replace: tuple[str, ...] = ()  # issue 20: the addresses a plan was asked to re-create (-replace)

    @classmethod
    def of(cls, value: Any) -> HistoryEntry:
        v = value if isinstance(value, Mapping) else {}
        return cls(run_id=lenient_str(v.get("runId")), kind=lenient_str(v.get("kind")), outcome=lenient_str(v.get("outcome")),
                   reason=lenient_str(v.get("reason")), message=lenient_str(v.get("message")), revision=lenient_str(v.get("revision")),
                   plan_id=lenient_str(v.get("planId")), add=lenient_int(v.get("add")), change=lenient_int(v.get("change")),
                   destroy=lenient_int(v.get("destroy")), started_at=lenient_str(v.get("startedAt")),
                   finished_at=lenient_str(v.get("finishedAt")), approved_by=Approver.of(v.get("approvedBy")),
                   attempts=max(1, lenient_int(v.get("attempts")) or 1), policy=lenient_str(v.get("policy")),
                   exceptions=tuple(str(x) for x in v.get("exceptions") or () if isinstance(x, str)),
                   imports=lenient_int(v.get("import")), moves=lenient_int(v.get("move")),
                   replace=tuple(str(x) for x in v.get("replace") or () if isinstance(x, str)))

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"runId": self.run_id, "kind": self.kind, "outcome": self.outcome,
                               "reason": self.reason, "message": self.message[:MESSAGE_LIMIT],
                               "revision": self.revision, "planId": self.plan_id, "add": self.add,
                               "change": self.change, "destroy": self.destroy, "startedAt": self.started_at,
                               "finishedAt": self.finished_at}
        if self.approved_by is not None:
            out["approvedBy"] = self.approved_by.to_status()
        if self.attempts > 1:
            out["attempts"] = self.attempts
        if self.policy:
            out["policy"] = self.policy
        if self.exceptions:
            out["exceptions"] = list(self.exceptions)
        if self.imports:
            out["import"] = self.imports
        if self.moves:
            out["move"] = self.moves
        if self.replace:
            out["replace"] = list(self.replace)
        return {k: v for k, v in out.items() if v not in ("", None)}

    @property
    def counts(self) -> str:
        return short_counts(self.add, self.change, self.destroy, self.imports, self.moves)


def history_of(status: Mapping[str, Any] | None) -> list[HistoryEntry]:
    """`status.history`, newest first; anything that is not an entry is skipped."""
    raw = (status or {}).get("history")
    return [HistoryEntry.of(item) for item in raw if isinstance(item, Mapping)] if isinstance(raw, list) else []


def _same_failure(a: HistoryEntry, b: HistoryEntry) -> bool:
    return a.outcome == b.outcome == FAILED and (a.kind, a.reason, a.plan_id, a.revision) == \
        (b.kind, b.reason, b.plan_id, b.revision)


def append_entries(history: Sequence[HistoryEntry], new: Sequence[HistoryEntry], limit: int) -> list[HistoryEntry]:
    """`new` (oldest first, as the runs happened) put in front of `history` (newest first), capped at `limit`.
    A failure that repeats the newest entry (same kind, reason, plan and revision: a retry loop) replaces
    it with `attempts` counted and the first start kept, so retries cannot push the last apply out."""
    if limit < 1:
        raise ValueError("the history limit must be at least 1")
    out = list(history)
    for entry in new:
        if out and _same_failure(entry, out[0]):
            first = out.pop(0)
            entry = HistoryEntry(**{**entry.__dict__, "started_at": first.started_at or entry.started_at,
                                    "attempts": first.attempts + 1})
        out.insert(0, entry)
    return out[:limit]


# ---- the approver annotation ---------------------------------------------------------------------------


def approver_annotation(plan_id: str, approver: Approver) -> str:
    """The value of `tfcontroller.io/approved-by` for an approval of `plan_id` (JSON)."""
    return json.dumps({"plan": plan_id, "username": approver.username, "groups": list(approver.groups),
                       "via": approver.via}, separators=(",", ":"))


def parse_approver_annotation(text: str | None) -> tuple[str, Approver] | None:
    """(plan, approver) from the annotation's value; None when it is not the JSON `approver_annotation`
    writes (a claim that cannot be read is no claim)."""
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, Mapping) or not lenient_str(doc.get("plan")) or lenient_str(doc.get("via")) not in ANNOTATION_VIAS:
        return None
    groups = doc.get("groups")
    return lenient_str(doc["plan"]), Approver(lenient_str(doc.get("username")),
                                       tuple(str(g) for g in groups) if isinstance(groups, list) else (),
                                       lenient_str(doc["via"]))


def approver_for(plan_id: str, *, auto: bool, by_annotation: bool, approved_by: str | None,
                 manager: str = "") -> Approver:
    """Who approved the apply of `plan_id`. `by_annotation`: the approve-plan annotation named it (else
    spec.approvePlan did). The approved-by annotation is believed only when it names this very plan: one
    left from an earlier approval, or copied onto another, says nothing about this one."""
    if auto:
        return Approver(via=VIA_AUTO)
    if not by_annotation:
        return Approver(via=VIA_SPEC)
    claim = parse_approver_annotation(approved_by)
    if claim is not None and claim[0] == plan_id:
        return Approver(claim[1].username, claim[1].groups, claim[1].via, manager)
    return Approver(via=VIA_ANNOTATION, manager=manager)


def annotation_manager(metadata: Mapping[str, Any], annotation: str) -> str:
    """The field manager that last wrote `annotation` (metadata.managedFields), "" when none is recorded:
    `kubectl annotate` writes as `kubectl-annotate`, the CLI as `tfcontroller-cli`."""
    key = f"f:{annotation}"
    found = ""
    for entry in metadata.get("managedFields") or []:
        if not isinstance(entry, Mapping):
            continue
        fields = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:annotations") or {}
        if isinstance(fields, Mapping) and key in fields:
            found = lenient_str(entry.get("manager")) or found
    return found
