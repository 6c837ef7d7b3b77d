"""A notification event: what happened to which object, as typed data every provider format reads.

Why a type of its own: the drift mail grew from the drift report, but issue 19 sends nine kinds of event
to six kinds of provider. Each formatter (notify/formats/) reads this one shape, so a field added here
reaches every provider, and the scrub happens once, before any formatter sees the text
(`NotificationEvent.scrubbed`): a formatter never holds a secret it could leak.

Layering: notify and terraform are sibling layers (.importlinter), so the readable plan arrives as plain
`DiffLine`-shaped data (`kind`, `text`, `indent`; terraform.plan_view.DiffLine fits `LineLike`), and the
policy result as the `status.plan.policy` mapping (api/policy_verdict.py reads it, one rendering).

`fingerprint` is what the outbox deduplicates on, per rule and object (issue 19: "per (rule, object,
event fingerprint)"): the plan id for a pending or applied plan (a new plan is a new message, a
re-reconcile of the same plan is not), the drift fingerprint for drift, the reason and message for
failures (the same failure repeated is one message; a different one is news).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from tfcontroller.api.commands import approve_command, cli_approve_command
from tfcontroller.api.policy_verdict import policy_report_lines
from tfcontroller.api.redact import scrub

EventType = Literal[
    "PlanPending", "PlanApplied", "ApplyFailed", "DriftDetected", "DriftResolved", "PolicyDenied", "Stalled",
    "ManifestSetFailed", "ManifestSetRecovered",
]
EVENT_TYPES: tuple[str, ...] = (
    "PlanPending", "PlanApplied", "ApplyFailed", "DriftDetected", "DriftResolved", "PolicyDenied", "Stalled",
    "ManifestSetFailed", "ManifestSetRecovered",
)
Severity = Literal["info", "error"]
SEVERITIES: tuple[str, ...] = ("info", "error")

# The severity an event type has unless its builder says otherwise (Flux's two levels: info, error).
DEFAULT_SEVERITY: dict[str, Severity] = {
    "PlanPending": "info", "PlanApplied": "info", "ApplyFailed": "error", "DriftDetected": "error",
    "DriftResolved": "info", "PolicyDenied": "error", "Stalled": "error", "ManifestSetFailed": "error",
    "ManifestSetRecovered": "info",
}

# A headline per type, `{kind} {namespace}/{name}` filled in by `NotificationEvent.title`.
_TITLES: dict[str, str] = {
    "PlanPending": "Plan waiting for approval",
    "PlanApplied": "Plan applied",
    "ApplyFailed": "Apply failed",
    "DriftDetected": "Drift detected",
    "DriftResolved": "Drift resolved",
    "PolicyDenied": "Plan denied by policy",
    "Stalled": "Stalled",
    "ManifestSetFailed": "ManifestSet failed",
    "ManifestSetRecovered": "ManifestSet recovered",
}

API_VERSION = "tfcontroller.io/v1alpha1"
_ONE_PER_PLAN = ("PlanPending", "PlanApplied", "PolicyDenied")  # news once per plan id


class LineLike(Protocol):
    """One line of the readable plan (terraform.plan_view.DiffLine fits)."""

    @property
    def kind(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def indent(self) -> int: ...


@dataclass(frozen=True)
class Line:
    """A readable-plan line as plain data: `kind` is one of plan_view.LINE_KINDS."""

    kind: str
    text: str
    indent: int = 0


@dataclass(frozen=True)
class ObjectRef:
    """The object an event is about (Flux's involvedObject)."""

    kind: str
    namespace: str
    name: str
    uid: str = ""
    revision: str = ""  # the source revision, `<ref>@sha1:<hex>`
    api_version: str = API_VERSION

    @property
    def display(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class PolicyRow:
    """One policy's result on a plan (a row of `status.plan.policy.results`)."""

    policy: str
    result: str  # passed | warned | denied | error | waived
    messages: tuple[str, ...] = ()
    exception: str = ""


@dataclass(frozen=True)
class PlanDetails:
    """What a reviewer needs about a plan: id, counts, the masked diff, policy, how to approve, a link."""

    plan_id: str
    add: int = 0
    change: int = 0
    destroy: int = 0
    diff: tuple[Line, ...] = ()
    policy_result: str = ""  # the overall result; "" when no policy was checked
    policy: tuple[PolicyRow, ...] = ()
    approve_command: str = ""  # kubectl; filled by `plan_pending`
    cli_approve_command: str = ""
    dashboard_url: str = ""  # the plan's page, when the dashboard runs with --external-url

    @property
    def counts_text(self) -> str:
        return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"

    def policy_lines(self) -> list[str]:
        """The policy block as `plan show` and the mail print it (api/policy_verdict.py, one rendering)."""
        if not self.policy_result:
            return []
        recorded = {"result": self.policy_result, "results": [
            {"policy": r.policy, "result": r.result, "messages": list(r.messages), "exception": r.exception}
            for r in self.policy]}
        return policy_report_lines(recorded)


@dataclass(frozen=True)
class DriftDetails:
    """The resources a drift event names (current drift, or the ones that were drifted when resolved)."""

    resources: tuple[str, ...] = ()
    drift_fingerprint: str = ""
    plan_id: str = ""  # the remediation plan, when one waits


Details = PlanDetails | DriftDetails | None


@dataclass(frozen=True)
class NotificationEvent:
    """One event, ready to format. Build it with the helpers below; scrub it before formatting."""

    type: EventType
    object: ObjectRef
    message: str
    severity: Severity = "info"
    reason: str = ""  # CamelCase; defaults to `type`
    fingerprint: str = ""
    details: Details = None
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    metadata: Mapping[str, str] = field(default_factory=dict)  # extra string pairs (Flux metadata)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown notification event type {self.type!r}; one of {', '.join(EVENT_TYPES)}")
        if not self.message.strip():
            raise ValueError("a notification event needs a message (every provider shows one)")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {self.severity!r}")
        if not self.reason:
            object.__setattr__(self, "reason", self.type)
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", default_fingerprint(self))

    @property
    def title(self) -> str:
        return f"{_TITLES[self.type]}: {self.object.display}"

    @property
    def plan(self) -> PlanDetails | None:
        return self.details if isinstance(self.details, PlanDetails) else None

    @property
    def drift(self) -> DriftDetails | None:
        return self.details if isinstance(self.details, DriftDetails) else None

    def scrubbed(self, secrets: Iterable[str | None]) -> NotificationEvent:
        """This event with every text field passed through the one scrubber (api/redact.py): known secret
        values (longest first) and URL credentials replaced by `***`. Formatters only ever see the result."""
        values = list(secrets)

        def s(text: str) -> str:
            return scrub(text, values)

        obj = replace(self.object, name=s(self.object.name), revision=s(self.object.revision))
        details: Details = self.details
        if isinstance(details, PlanDetails):
            details = replace(
                details, plan_id=s(details.plan_id),
                diff=tuple(Line(ln.kind, s(ln.text), ln.indent) for ln in details.diff),
                policy=tuple(PolicyRow(s(r.policy), r.result, tuple(s(m) for m in r.messages), s(r.exception))
                             for r in details.policy),
                approve_command=s(details.approve_command), cli_approve_command=s(details.cli_approve_command),
                dashboard_url=s(details.dashboard_url))
        elif isinstance(details, DriftDetails):
            details = replace(details, resources=tuple(s(a) for a in details.resources),
                              plan_id=s(details.plan_id))
        return replace(self, object=obj, message=s(self.message), details=details,
                       metadata={k: s(v) for k, v in self.metadata.items()})


def default_fingerprint(event: NotificationEvent) -> str:
    """What makes this event news (see the module docstring), hashed with its type and object."""
    if event.plan is not None and event.type in _ONE_PER_PLAN:
        key = event.plan.plan_id
    elif event.drift is not None:
        key = event.drift.drift_fingerprint or ",".join(sorted(event.drift.resources))
    else:  # a failure: the same one repeated is one message, a different one (or on another plan) is news
        key = f"{event.plan.plan_id if event.plan else ''}\n{event.reason}\n{event.message}"
    obj = event.object
    text = "\n".join((event.type, obj.kind, obj.namespace, obj.name, obj.uid, key))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def lines_of(lines: Iterable[LineLike | Mapping[str, Any]]) -> tuple[Line, ...]:
    """Readable-plan lines as plain data, from plan_view.DiffLine objects or their dict form."""
    out = []
    for ln in lines:
        if isinstance(ln, Mapping):
            out.append(Line(str(ln.get("kind") or ""), str(ln.get("text") or ""), int(ln.get("indent") or 0)))
        else:
            out.append(Line(ln.kind, ln.text, ln.indent))
    return tuple(out)


def policy_rows(recorded: Mapping[str, Any] | None) -> tuple[str, tuple[PolicyRow, ...]]:
    """The overall result and the rows of a `status.plan.policy` mapping ("" and () when none)."""
    if not recorded:
        return "", ()
    rows = tuple(
        PolicyRow(str(r.get("policy") or ""), str(r.get("result") or ""),
                  tuple(str(m) for m in r.get("messages") or ()), str(r.get("exception") or ""))
        for r in recorded.get("results") or () if isinstance(r, Mapping))
    return str(recorded.get("result") or "passed"), rows


def plan_pending(
    obj: ObjectRef,
    plan_id: str,
    counts: Mapping[str, Any],
    diff: Iterable[LineLike | Mapping[str, Any]] = (),
    *,
    policy: Mapping[str, Any] | None = None,
    dashboard_url: str = "",
    now: datetime | None = None,
) -> NotificationEvent:
    """A PlanPending event: the plan waits for a human. The approve commands come from api/commands.py
    (the one formatter of each command)."""
    result, rows = policy_rows(policy)
    details = PlanDetails(
        plan_id=plan_id, add=int(counts.get("add") or 0), change=int(counts.get("change") or 0),
        destroy=int(counts.get("destroy") or 0), diff=lines_of(diff), policy_result=result, policy=rows,
        approve_command=approve_command(obj.namespace, obj.name, plan_id),
        cli_approve_command=cli_approve_command(obj.namespace, obj.name, plan_id), dashboard_url=dashboard_url)
    message = f"Plan {plan_id} waits for approval: {details.counts_text}."
    return NotificationEvent("PlanPending", obj, message, DEFAULT_SEVERITY["PlanPending"], details=details,
                             timestamp=now or datetime.now(UTC))


def drift_event(
    obj: ObjectRef,
    resources: Iterable[str],
    drift_fingerprint: str,
    *,
    resolved: bool = False,
    plan_id: str = "",
    now: datetime | None = None,
) -> NotificationEvent:
    """DriftDetected (resources changed outside Terraform) or DriftResolved (they match again)."""
    names = tuple(resources)
    n = f"{len(names)} resource" + ("" if len(names) == 1 else "s")
    if resolved:
        kind: EventType = "DriftResolved"
        message = f"{n} no longer changed outside Terraform: {', '.join(names)}"
    else:
        kind = "DriftDetected"
        message = f"{n} changed outside Terraform: {', '.join(names)}"
    details = DriftDetails(names, drift_fingerprint, plan_id)
    return NotificationEvent(kind, obj, message, DEFAULT_SEVERITY[kind], details=details,
                             timestamp=now or datetime.now(UTC))


def simple_event(
    type: EventType, obj: ObjectRef, message: str, *, reason: str = "", plan_id: str = "",
    now: datetime | None = None,
) -> NotificationEvent:
    """PlanApplied, ApplyFailed, PolicyDenied, Stalled, ManifestSetFailed/Recovered: a message and a
    reason (the condition's), with the plan id when there is one."""
    details = PlanDetails(plan_id=plan_id) if plan_id else None
    return NotificationEvent(type, obj, message, DEFAULT_SEVERITY[type], reason=reason, details=details,
                             timestamp=now or datetime.now(UTC))
