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
from tfcontroller.api.times import format_rfc3339, parse_rfc3339

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

    def to_record(self) -> dict[str, Any]:
        """This event as JSON-able data for a NotificationRule's status (the outbox's pending entries), so
        that a queued message survives a restart. Bounded: the diff is not stored (MAX_STORED_DIFF_LINES;
        the sender re-reads the plan view), messages are cut to MAX_STORED_TEXT characters, a policy row
        to MAX_STORED_POLICY_MESSAGES messages (and a count), drift resources to MAX_STORED_RESOURCES. The fingerprint is stored as computed, so a cut message keeps its identity."""
        return _to_record(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> NotificationEvent:
        """The event `to_record` wrote (without the diff). Raises ValueError for a record whose type,
        severity or message is not an event's (a hand-edited status)."""
        return _from_record(record)


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


# ---- records: an event as JSON-able data for the NotificationRule's status (rule_outbox.py) --------------

MAX_STORED_DIFF_LINES = 0  # the diff is never stored: it is re-read from the plan view at send time
MAX_STORED_TEXT = 1000  # characters of a stored message (event or policy message)
MAX_STORED_RESOURCES = 200  # drift resources kept in a record (the message already names them)
MAX_STORED_POLICY_MESSAGES = 5  # per policy row; what is left out is counted in a last message


def _cut(text: str, limit: int = MAX_STORED_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _record_of_plan(p: PlanDetails) -> dict[str, Any]:
    out: dict[str, Any] = {"planId": p.plan_id, "add": p.add, "change": p.change, "destroy": p.destroy}
    if p.policy_result:
        out["policyResult"] = p.policy_result
        out["policy"] = [{k: v for k, v in {"policy": r.policy, "result": r.result,
                                             "messages": _stored_messages(r.messages),
                                             "exception": r.exception}.items() if v}
                         for r in p.policy]
    for key, value in (("approveCommand", p.approve_command), ("cliApproveCommand", p.cli_approve_command),
                       ("dashboardUrl", p.dashboard_url)):
        if value:
            out[key] = value
    return out


def _stored_messages(messages: tuple[str, ...]) -> list[str]:
    out = [_cut(m) for m in messages[:MAX_STORED_POLICY_MESSAGES]]
    if len(messages) > MAX_STORED_POLICY_MESSAGES:
        out.append(f"… and {len(messages) - MAX_STORED_POLICY_MESSAGES} more")
    return out


def _plan_of_record(rec: Mapping[str, Any]) -> PlanDetails:
    rows = tuple(PolicyRow(str(r.get("policy") or ""), str(r.get("result") or ""),
                           tuple(str(m) for m in r.get("messages") or ()), str(r.get("exception") or ""))
                 for r in rec.get("policy") or () if isinstance(r, Mapping))
    return PlanDetails(plan_id=str(rec.get("planId") or ""), add=_int(rec.get("add")),
                       change=_int(rec.get("change")), destroy=_int(rec.get("destroy")),
                       policy_result=str(rec.get("policyResult") or ""), policy=rows,
                       approve_command=str(rec.get("approveCommand") or ""),
                       cli_approve_command=str(rec.get("cliApproveCommand") or ""),
                       dashboard_url=str(rec.get("dashboardUrl") or ""))


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _to_record(event: NotificationEvent) -> dict[str, Any]:
    obj = event.object
    out: dict[str, Any] = {
        "type": event.type, "severity": event.severity, "reason": event.reason, "message": _cut(event.message),
        "fingerprint": event.fingerprint,
        "object": {k: v for k, v in {"kind": obj.kind, "namespace": obj.namespace, "name": obj.name,
                                     "uid": obj.uid, "revision": obj.revision,
                                     "apiVersion": obj.api_version}.items() if v},
        "timestamp": format_rfc3339(event.timestamp),
    }
    if event.metadata:
        out["metadata"] = {str(k): _cut(str(v)) for k, v in event.metadata.items()}
    if isinstance(event.details, PlanDetails):
        out["plan"] = _record_of_plan(event.details)
    elif isinstance(event.details, DriftDetails):
        d = event.details
        out["drift"] = {k: v for k, v in {"resources": list(d.resources[:MAX_STORED_RESOURCES]),
                                          "fingerprint": d.drift_fingerprint, "planId": d.plan_id}.items() if v}
    return out


def _from_record(rec: Mapping[str, Any]) -> NotificationEvent:
    o: Mapping[str, Any] = rec["object"] if isinstance(rec.get("object"), Mapping) else {}
    obj = ObjectRef(str(o.get("kind") or ""), str(o.get("namespace") or ""), str(o.get("name") or ""),
                    str(o.get("uid") or ""), str(o.get("revision") or ""), str(o.get("apiVersion") or API_VERSION))
    details: Details = None
    if isinstance(rec.get("plan"), Mapping):
        details = _plan_of_record(rec["plan"])
    elif isinstance(rec.get("drift"), Mapping):
        d = rec["drift"]
        details = DriftDetails(tuple(str(r) for r in d.get("resources") or ()), str(d.get("fingerprint") or ""),
                               str(d.get("planId") or ""))
    stamp = _parse_stamp(rec.get("timestamp"))
    meta = rec.get("metadata")
    return NotificationEvent(
        type=rec.get("type"), object=obj, message=str(rec.get("message") or ""),  # type: ignore[arg-type]
        severity=rec.get("severity") or DEFAULT_SEVERITY.get(str(rec.get("type")), "info"),
        reason=str(rec.get("reason") or ""), fingerprint=str(rec.get("fingerprint") or ""), details=details,
        timestamp=stamp, metadata={str(k): str(v) for k, v in meta.items()} if isinstance(meta, Mapping) else {})


def _parse_stamp(value: Any) -> datetime:
    return parse_rfc3339(value) or datetime.now(UTC)
