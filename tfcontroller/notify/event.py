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
re-reconcile of the same plan is not), the drift fingerprint for drift, and for failures the reason, the
plan id and the source revision — never the message: a message carries volatile detail (a ManifestSet's
"readyReplicas 1/3" flapping to "0/3", a cloud error's request id) that would make the same failure look
new on every reconcile; a different reason, plan or revision is news.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from tfcontroller.api.commands import approve_command, cli_approve_command
from tfcontroller.api.plan_counts import counts_text
from tfcontroller.api.policy_verdict import policy_report_lines
from tfcontroller.api.redact import redact_url, scrub
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
    imports: int = 0  # issue 20: `import` and `moved` blocks, counted apart (api/plan_counts.py)
    moves: int = 0
    diff: tuple[Line, ...] = ()
    policy_result: str = ""  # the overall result; "" when no policy was checked
    policy: tuple[PolicyRow, ...] = ()
    approve_command: str = ""  # kubectl; filled by `plan_pending`
    cli_approve_command: str = ""
    dashboard_url: str = ""  # the plan's page, when the dashboard runs with --external-url

    @property
    def counts_text(self) -> str:
        return counts_text(self.add, self.change, self.destroy, self.imports, self.moves)

    @property
    def has_counts(self) -> bool:
        """Whether the plan changes anything by its counts. Imports and moves count: a plan that only imports
        or moves must be applied for the state to follow the code (api/plan_counts.py), so it is never shown
        as if it had no changes."""
        return any((self.add, self.change, self.destroy, self.imports, self.moves))

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
        """This event with every *free-text* field passed through the one scrubber (api/redact.py): known
        secret values (longest first) and URL credentials replaced by `***`. Formatters only ever see the
        result.

        Free text is what may echo a value: the message, the diff, policy messages and exceptions, drift
        resource addresses, the revision, metadata. Structural fields come from trusted data — the object's
        kind, namespace, name and uid, the plan id, the approve commands built from them, the dashboard
        link built from the controller's flag — and are never scrubbed: a secret value that happens to equal
        a name or a number ("3", "team-a") must not turn the title into `Terraform team-a/***` or the approve
        command into one that cannot work. The dashboard link only loses URL credentials."""
        values = list(secrets)

        def s(text: str) -> str:
            return scrub(text, values)

        obj = replace(self.object, revision=s(self.object.revision))
        details: Details = self.details
        if isinstance(details, PlanDetails):
            details = replace(
                details,
                diff=tuple(Line(ln.kind, s(ln.text), ln.indent) for ln in details.diff),
                policy=tuple(PolicyRow(r.policy, r.result, tuple(s(m) for m in r.messages), s(r.exception))
                             for r in details.policy),
                dashboard_url=redact_url(details.dashboard_url))
        elif isinstance(details, DriftDetails):
            details = replace(details, resources=tuple(s(a) for a in details.resources))
        return replace(self, object=obj, message=s(self.message), details=details,
                       metadata={k: s(v) for k, v in self.metadata.items()})

    def to_record(self) -> dict[str, Any]:
        """This event as JSON-able data for a NotificationRule's status (the outbox's pending entries), so
        that a queued message survives a restart. Bounded (a rule's status must fit etcd, and a status
        patch that fails after a delivery would send it again): the diff is not stored (MAX_STORED_DIFF_LINES;
        the sender re-reads the plan view), messages are cut to MAX_STORED_TEXT characters, policy to
        MAX_STORED_POLICY_ROWS rows of MAX_STORED_POLICY_MESSAGES messages of MAX_STORED_POLICY_TEXT
        characters, drift resources to MAX_STORED_RESOURCES; what is left out is counted ("… and N more").
        The fingerprint is stored as computed, so a cut message keeps its identity."""
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
    else:  # a failure: the same one repeated is one message; another reason, plan or revision is news
        key = f"{event.plan.plan_id if event.plan else ''}\n{event.reason}\n{event.object.revision}"
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
        destroy=int(counts.get("destroy") or 0), imports=int(counts.get("import") or 0),
        moves=int(counts.get("move") or 0), diff=lines_of(diff), policy_result=result, policy=rows,
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
    omitted: int = 0,
) -> NotificationEvent:
    """DriftDetected (resources changed outside Terraform) or DriftResolved (they match again).

    The message names at most MAX_NAMED_RESOURCES addresses and counts the rest ("… and N more"), and so
    do the details when more than MAX_STORED_RESOURCES are given: a drift of thousands of resources is one
    readable message, and its record in a NotificationRule's status stays small. `omitted`: resources
    already left out by the caller (a record or a rule's memory kept only the first ones)."""
    given, more = split_more(resources)
    names, more = given[:MAX_STORED_RESOURCES], more + omitted + max(0, len(given) - MAX_STORED_RESOURCES)
    total = len(names) + more
    n = f"{total} resource" + ("" if total == 1 else "s")
    shown = list(names[:MAX_NAMED_RESOURCES])
    if total > len(shown):
        shown.append(more_text(total - len(shown)))
    if resolved:
        kind: EventType = "DriftResolved"
        message = f"{n} no longer changed outside Terraform: {', '.join(shown)}"
    else:
        kind = "DriftDetected"
        message = f"{n} changed outside Terraform: {', '.join(shown)}"
    details = DriftDetails(names + ((more_text(more),) if more else ()), drift_fingerprint, plan_id)
    return NotificationEvent(kind, obj, message, DEFAULT_SEVERITY[kind], details=details,
                             timestamp=now or datetime.now(UTC))


def simple_event(
    type: EventType, obj: ObjectRef, message: str, *, reason: str = "", plan_id: str = "",
    counts: Mapping[str, Any] | None = None, now: datetime | None = None,
) -> NotificationEvent:
    """PlanApplied, ApplyFailed, PolicyDenied, Stalled, ManifestSetFailed/Recovered: a message and a
    reason (the condition's), with the plan id when there is one, and its counts (`add`, `change`,
    `destroy`, `import`, `move`, as plan_pending takes them) when known."""
    c = counts or {}
    details = PlanDetails(plan_id=plan_id, add=_int(c.get("add")), change=_int(c.get("change")),
                          destroy=_int(c.get("destroy")), imports=_int(c.get("import")),
                          moves=_int(c.get("move"))) if plan_id else None
    return NotificationEvent(type, obj, message, DEFAULT_SEVERITY[type], reason=reason, details=details,
                             timestamp=now or datetime.now(UTC))


# ---- records: an event as JSON-able data for the NotificationRule's status (rule_outbox.py) --------------

MAX_STORED_DIFF_LINES = 0  # the diff is never stored: it is re-read from the plan view at send time
MAX_STORED_TEXT = 1000  # characters of a stored event message (a drift message names at most 20 addresses)
MAX_STORED_RESOURCES = 50  # drift resources kept in a record (and a rule's memory); the rest counted
MAX_NAMED_RESOURCES = 20  # drift addresses a message names; the rest counted
MAX_STORED_POLICY_ROWS = 20  # policy rows of a record, denied and failed ones first; the rest counted
MAX_STORED_POLICY_MESSAGES = 3  # per policy row; what is left out is counted in a last message
MAX_STORED_POLICY_TEXT = 300  # characters of a stored policy message
_MORE = re.compile(r"^… and (\d+) more$")


def more_text(count: int) -> str:
    """How a list cut for size says what it left out (a drift's resources, a policy row's messages)."""
    return f"… and {count} more"


def split_more(items: Iterable[str]) -> tuple[tuple[str, ...], int]:
    """The items without a trailing `more_text` marker, and the count that marker said (0 without one)."""
    names = tuple(items)
    match = _MORE.match(names[-1]) if names else None
    return (names[:-1], int(match.group(1))) if match else (names, 0)


def _cut(text: str, limit: int = MAX_STORED_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _record_of_plan(p: PlanDetails) -> dict[str, Any]:
    out: dict[str, Any] = {"planId": p.plan_id, "add": p.add, "change": p.change, "destroy": p.destroy}
    if p.imports:
        out["import"] = p.imports
    if p.moves:
        out["move"] = p.moves
    if p.policy_result:
        out["policyResult"] = p.policy_result
        out["policy"] = _stored_policy(p.policy)
    for key, value in (("approveCommand", p.approve_command), ("cliApproveCommand", p.cli_approve_command),
                       ("dashboardUrl", p.dashboard_url)):
        if value:
            out[key] = value
    return out


_POLICY_ORDER = {"denied": 0, "error": 1, "warned": 2, "waived": 3}


def _stored_policy(rows: tuple[PolicyRow, ...]) -> list[dict[str, Any]]:
    """At most MAX_STORED_POLICY_ROWS rows, the ones a reviewer must read first (denied, error, warned,
    waived, then passed), and a last row counting the others (with the worst result among them): a plan
    checked by a hundred policies must not fill the rule's status."""
    ranked = sorted(rows, key=lambda r: _POLICY_ORDER.get(r.result, 4))
    kept = ranked[:MAX_STORED_POLICY_ROWS]
    out = [{k: v for k, v in {"policy": r.policy, "result": r.result, "messages": _stored_messages(r.messages),
                              "exception": r.exception}.items() if v} for r in kept]
    if len(ranked) > len(kept):  # named by the worst result among them
        out.append({"policy": f"{more_text(len(ranked) - len(kept))} policies", "result": ranked[len(kept)].result})
    return out


def _stored_messages(messages: tuple[str, ...]) -> list[str]:
    out = [_cut(m, MAX_STORED_POLICY_TEXT) for m in messages[:MAX_STORED_POLICY_MESSAGES]]
    if len(messages) > MAX_STORED_POLICY_MESSAGES:
        out.append(more_text(len(messages) - MAX_STORED_POLICY_MESSAGES))
    return out


def _plan_of_record(rec: Mapping[str, Any]) -> PlanDetails:
    rows = tuple(PolicyRow(str(r.get("policy") or ""), str(r.get("result") or ""),
                           tuple(str(m) for m in r.get("messages") or ()), str(r.get("exception") or ""))
                 for r in rec.get("policy") or () if isinstance(r, Mapping))
    return PlanDetails(plan_id=str(rec.get("planId") or ""), add=_int(rec.get("add")),
                       change=_int(rec.get("change")), destroy=_int(rec.get("destroy")),
                       imports=_int(rec.get("import")), moves=_int(rec.get("move")),
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
        names, more = split_more(d.resources)
        more += max(0, len(names) - MAX_STORED_RESOURCES)
        out["drift"] = {k: v for k, v in {"resources": list(names[:MAX_STORED_RESOURCES]), "moreResources": more,
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
        more = _int(d.get("moreResources"))
        details = DriftDetails(tuple(str(r) for r in d.get("resources") or ()) + ((more_text(more),) if more > 0 else ()),
                               str(d.get("fingerprint") or ""), str(d.get("planId") or ""))
    stamp = _parse_stamp(rec.get("timestamp"))
    meta = rec.get("metadata")
    return NotificationEvent(
        type=rec.get("type"), object=obj, message=str(rec.get("message") or ""),  # type: ignore[arg-type]
        severity=rec.get("severity") or DEFAULT_SEVERITY.get(str(rec.get("type")), "info"),
        reason=str(rec.get("reason") or ""), fingerprint=str(rec.get("fingerprint") or ""), details=details,
        timestamp=stamp, metadata={str(k): str(v) for k, v in meta.items()} if isinstance(meta, Mapping) else {})


def _parse_stamp(value: Any) -> datetime:
    return parse_rfc3339(value) or datetime.now(UTC)
