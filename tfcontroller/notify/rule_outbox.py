"""One NotificationRule's outbox: what it has seen of each object, and what it still has to deliver.

Why the memory lives in the rule's own status: the notification controller is level-based (observe.py
derives the current events from each object's status), so the only way to tell news from a repeat is
to remember what this rule already queued. Kept in `NotificationRule.status` it survives a restart and a
leader change, it is written by one controller only (the rule reconciler), and a user sees it with
`kubectl get tfnr -o yaml`. The Terraform and ManifestSet objects are never written to.

The rules (issue 19: "per (rule, object, event fingerprint) deduplicated across restarts, retried with
backoff, never dropped while the object exists"):
- per (object, stream) the fingerprint of the state last observed is remembered; a different one is
  news, queued once for every provider the rule names *now* (a provider added later gets only later
  entries). The same fingerprint is never queued twice in a row, even after delivery: a re-reconcile or
  a restart sends nothing. When a stream clears, a remembered DriftDetected becomes DriftResolved and a
  ManifestSetFailed becomes ManifestSetRecovered; any other stream just forgets, so the same state coming
  back later (drift detected again) is news again.
- history (applies, destroys) is queued by finishedAt above a per-object watermark, and never for runs
  that finished before the rule existed (a new rule does not replay the past); the current state of
  the other streams is queued on first sight (a plan already waiting is news to a new rule). A failure
  repeated by retries (the same fingerprint as the last history event) is one message.
- supersede, don't accumulate: the state streams (plan, drift, stalled, ready) keep at most one
  undelivered entry per (object, stream): a newer state replaces the older undelivered one (a plan
  superseded by another is refused on approval anyway), and a stream that clears drops its undelivered
  entries (a PlanPending whose plan is no longer the pending one, a Stalled no longer true: the history
  says what happened); a clear's follow-up replaces them too (ManifestSetRecovered names the failure it
  recovered from), except drift: an undelivered DriftDetected stays beside its DriftResolved, as the drift
  mail does. Counted in `status.superseded`. History entries are never superseded.
- defer, never drop: the rule's pending entries are bounded (MAX_PENDING entries, MAX_PENDING_BYTES of
  estimated JSON: a status too big for etcd would stop the rule altogether). When a new entry does not
  fit, the state is *not remembered* (the history watermark does not advance), so it is still news at the
  next look and queued once there is room; `next_due` then says "now" as soon as there is room.
- delivery per provider: delivered → that provider is done (the entry goes when every provider is);
  retryable → again after the server's Retry-After or exponential backoff (http_delivery); permanent →
  kept, not due while the provider is not Ready (the controller marks it not Ready with the answer; once
  someone fixes it and it is Ready again, the entry goes out), and not within PERMANENT_RECHECK of the
  answer either (no hot loop before that Ready=False is written). A *message-level* refusal (the result's
  `message_level`: 400/413/422, this message and not the provider is at fault) marks the entry refused
  for that provider: once the provider is Ready again, never-refused entries go first, and a second
  message-level refusal parks the entry for that provider (done, counted in `status.undeliverable`,
  returned by `record` as `Parked` so the controller can say so in a Warning Event).
- history floor: runs that finished before the rule existed are never queued, and for an object that
  joins the rule's selection after the rule's first look (a label added), nor those that finished before
  the rule first saw it (no replay of months-old applies); objects seen in the rule's first look, or
  created after it, keep the rule's creation as their floor.
- an object that no longer exists (or no longer matches) takes its memory with it (forget_missing) and its
  undelivered state entries (plan, stalled, ready: an approve command for an object that is gone), but
  its history and drift entries stay until delivered or GONE_TTL old (a destroy on deletion is still told).
- order and retries: entries never tried go before retrying ones (a state never overtakes the older entry
  of its own stream); an entry answered 5xx MAX_SERVER_ERRORS times in a row while another entry reached
  the same provider is about its content: parked like a message-level refusal. A history entry's id
  names its run (ApplyFailed X, Y, X is three entries).
- small memory: rows keyed by uid only, fingerprints and run ids as short hashes (a full value written by
  an older version still matches); a rule observes at most MAX_OBSERVED_OBJECTS objects (the controller
  stalls a rule selecting more).

At-least-once: the controller sends, then patches this status. A crash between the two sends that entry
again after the restart: a receiver may see a message twice in that window, never zero times.

Everything here is a value over the status dict: no I/O, no clock but the `now` passed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tfcontroller.api.times import format_rfc3339, parse_rfc3339
from tfcontroller.notify.event import (
    MAX_STORED_RESOURCES,
    NotificationEvent,
    ObjectRef,
    drift_event,
    simple_event,
    split_more,
)
from tfcontroller.notify.http_delivery import BACKOFF_BASE, DeliveryResult, next_attempt_delay
from tfcontroller.notify.observe import Observation

MAX_PENDING = 300  # entries one rule may have waiting; a new one beyond waits to be queued (deferred)
MAX_PENDING_BYTES = 512 * 1024  # estimated JSON of the waiting entries (etcd stores an object up to 1.5 MiB)
MAX_OBSERVED_BYTES = 256 * 1024  # the memory rows; beyond, drift rows keep their count, not their names
MAX_OBSERVED_OBJECTS = 2000  # objects one rule may select: its memory rows (at most ~200 B each) must fit etcd
MAX_SERVER_ERRORS = 5  # 5xx in a row for one entry, while others reach the provider, before it is parked
_HASH_HEX = 16  # hex digits of a remembered fingerprint or run id: equality is all the memory needs
MAX_ERROR = 300  # characters of a provider's last error kept in status (already scrubbed by delivery)
MAX_MESSAGE_REFUSALS = 2  # message-level refusals of one entry by one provider before it is parked
PERMANENT_RECHECK = BACKOFF_BASE  # after a permanent answer: not due again before this, even if "Ready"
SCRUBBED = "scrubbed"  # in a stored record: scrubbed of its object's secret values when it was queued
GONE_TTL = timedelta(hours=24)  # how long an entry of an object that went away still waits for delivery
_PROVIDER_BYTES = 200 + MAX_ERROR  # a provider's state in an entry, at most (name, attempts, times, error)

# Streams whose undelivered entries are withdrawn when their object goes: they describe a state of an
# object that no longer exists (an approve command for it would fail); history and drift stay (what happened).
WITHDRAWN_WHEN_GONE = frozenset({"plan", "stalled", "ready"})

# The stream each event type belongs to (observe.py); "history" entries are never superseded.
STREAM_OF: dict[str, str] = {
    "PlanPending": "plan", "PolicyDenied": "plan", "DriftDetected": "drift", "DriftResolved": "drift",
    "Stalled": "stalled", "ManifestSetFailed": "ready", "ManifestSetRecovered": "ready",
    "PlanApplied": "history", "ApplyFailed": "history",
}

Wanted = Callable[[str, str], bool]


@dataclass(frozen=True)
class ObjectKey:
    """The observed object; `uid` tells a re-created object from the one that was deleted. `created`
    (metadata.creationTimestamp, when the caller has it): an object created after the rule's first look
    keeps the rule's creation as its history floor, since all its history is new."""

    kind: str
    namespace: str
    name: str
    uid: str
    created: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Due:
    """One delivery to make now: `attempt` is this attempt's number (1 for the first)."""

    entry_id: str
    provider: str
    event: NotificationEvent
    attempt: int


@dataclass(frozen=True)
class Outcome:
    """What one delivery came to (http_delivery.DeliveryResult: delivered, retryable or permanent)."""

    entry_id: str
    provider: str
    result: DeliveryResult


@dataclass(frozen=True)
class Parked:
    """An entry a provider refused twice for its content (message-level): it is done for that provider
    and counted in `status.undeliverable`; the controller reports it (a Warning Event)."""

    entry_id: str
    provider: str
    event: NotificationEvent
    error: str


def entry_id(uid: str, fingerprint: str, run: str = "") -> str:
    """The entry's id: the same object and event give the same id in every rule (rule-independent, so a
    log line or a receiver can correlate). `run`: a history event's run id — two runs may end with the
    same fingerprint (ApplyFailed X, Y, X: a failure fingerprint is plan, reason and revision), and each
    is its own message; a state stream's id is its fingerprint alone (the same state queued again
    replaces its waiting twin)."""
    text = f"{uid}\n{fingerprint}" + (f"\n{run}" if run else "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def short_hash(value: str) -> str:
    """What the memory keeps of a fingerprint or a run id: a short digest (equality is all it is used for;
    a full fingerprint is up to ~80 characters and a rule may remember thousands)."""
    return hashlib.sha256(value.encode()).hexdigest()[:_HASH_HEX]


def same(remembered: Any, value: str) -> bool:
    """A remembered fingerprint equals `value`: stored short (short_hash), or in full by an older
    version of the controller (an upgrade must not re-send every state once)."""
    return bool(remembered) and remembered in (value, short_hash(value))


def message_level(result: DeliveryResult) -> bool:
    """The receiver refused this message, not the provider (400/413/422; http_delivery sets the flag)."""
    return result.outcome == "permanent" and getattr(result, "message_level", False) is True


def _ceil_stamp(when: datetime) -> str:
    """RFC 3339 at second precision, rounded *up*: a Retry-After is never cut short by the format."""
    if when.microsecond:
        when = when + timedelta(microseconds=1_000_000 - when.microsecond)
    return format_rfc3339(when)


@dataclass
class _ProviderState:
    attempts: int = 0
    next_attempt_at: str = ""
    last_error: str = ""
    permanent: bool = False
    refused: int = 0  # message-level refusals so far
    server_errors: int = 0  # 5xx answers in a row to this entry
    others_passed: bool = False  # another entry reached this provider during that streak

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> _ProviderState:
        return cls(int(d.get("attempts") or 0), str(d.get("nextAttemptAt") or ""), str(d.get("lastError") or ""),
                   d.get("permanent") is True, _count(d.get("refused")), _count(d.get("serverErrors")),
                   d.get("othersPassed") is True)

    def to_status(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "attempts": self.attempts}
        if self.next_attempt_at:
            out["nextAttemptAt"] = self.next_attempt_at
        if self.last_error:
            out["lastError"] = self.last_error
        if self.permanent:
            out["permanent"] = True
        if self.refused:
            out["refused"] = self.refused
        if self.server_errors:
            out["serverErrors"] = self.server_errors
        if self.others_passed:
            out["othersPassed"] = True
        return out


@dataclass
class _Entry:
    id: str
    uid: str
    record: dict[str, Any]
    queued_at: str
    providers: dict[str, _ProviderState] = field(default_factory=dict)
    _record_bytes: int = -1

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> _Entry | None:
        record = d.get("event")
        if not isinstance(record, Mapping) or not d.get("id"):
            return None
        providers = {str(p["name"]): _ProviderState.of(p) for p in d.get("providers") or ()
                     if isinstance(p, Mapping) and p.get("name")}
        return cls(str(d["id"]), str(d.get("uid") or ""), dict(record), str(d.get("queuedAt") or ""), providers)

    @property
    def stream(self) -> str:
        return STREAM_OF.get(str(self.record.get("type")), "history")

    @property
    def type(self) -> str:
        return str(self.record.get("type") or "")

    @property
    def size(self) -> int:
        """Estimated bytes of this entry in the status JSON (an upper bound for the provider states)."""
        if self._record_bytes < 0:
            self._record_bytes = len(json.dumps(self.record, separators=(",", ":")))
        return self._record_bytes + 80 + len(self.id) + len(self.uid) + _PROVIDER_BYTES * len(self.providers)

    def to_status(self) -> dict[str, Any]:
        return {"id": self.id, "uid": self.uid, "queuedAt": self.queued_at, "event": self.record,
                "providers": [state.to_status(name) for name, state in self.providers.items()]}


@dataclass
class _Memory:
    """What this rule remembers of one object: per stream the last state's fingerprint (and type), the
    drift resources (for the resolved message), the history watermark, and `since`: when this rule first
    saw the object ("" for objects of the rule's first look: their history floor is the rule's creation).

    The row is kept small (a cluster-wide rule may select thousands of objects, and the status must fit
    etcd and be writable, or nothing is remembered and everything is sent again): the uid only — the
    object's kind, namespace and name come from the object at each look —, fingerprints and run ids as
    short hashes, no empty `streams`. A row is kept even when nothing else is remembered: its presence says
    "selected since the last look", so a first apply later is news (without it, the object would look
    like one that just joined the selection, whose earlier applies are not replayed)."""

    key: ObjectKey
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    since: str = ""

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> _Memory | None:
        if not d.get("uid"):
            return None
        key = ObjectKey(str(d.get("kind") or ""), str(d.get("namespace") or ""), str(d.get("name") or ""),
                        str(d["uid"]))
        streams = d.get("streams")
        return cls(key, {str(k): dict(v) for k, v in streams.items() if isinstance(v, Mapping)}
                   if isinstance(streams, Mapping) else {}, str(d.get("since") or ""))

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uid": self.key.uid}
        if self.streams:
            out["streams"] = self.streams
        if self.since:
            out["since"] = self.since
        return out


class RuleOutbox:
    """A value over a NotificationRule's status (`observed`, `observedSince`, `pending`, `pendingCount`,
    `sent`, `failed`, `superseded`, `undeliverable`, `expired`): every method returns data or changes
    this value; `to_status()` is what the controller patches back."""

    def __init__(self, memory: dict[str, _Memory], pending: list[_Entry], sent: int, failed: int,
                 rule_created: datetime, *, superseded: int = 0, undeliverable: int = 0, expired: int = 0,
                 observed_since: str = "", first_look: bool = False) -> None:
        self._memory = memory
        self._pending = pending
        self.sent = sent
        self.failed = failed
        self.superseded = superseded  # undelivered entries a newer state (or a clear) replaced
        self.undeliverable = undeliverable  # (entry, provider) pairs parked after two message-level refusals
        self.expired = expired  # entries of objects gone for GONE_TTL, never delivered
        self.observed_since = observed_since  # when this rule first looked at its objects
        self.deferred = 0  # states not queued in this run for want of room (not stored: they stay news)
        self.deferred_bytes = 0  # the largest of them (estimated): "room" for them means room for this
        self.parked: list[Parked] = []  # parked in this run
        self._first_look = first_look
        self._rule_created = rule_created
        self._now: datetime | None = None

    @classmethod
    def of(cls, status: Mapping[str, Any] | None, rule_created: datetime) -> RuleOutbox:
        """The outbox the rule's status holds (anything unreadable in it is skipped: status is read, not
        trusted). `rule_created`: the rule's creationTimestamp, the floor for history."""
        s = status or {}
        memory: dict[str, _Memory] = {}
        for row in s.get("observed") or ():
            mem = _Memory.of(row) if isinstance(row, Mapping) else None
            if mem is not None:
                memory[mem.key.uid] = mem
        pending = [e for e in (_Entry.of(d) for d in s.get("pending") or () if isinstance(d, Mapping)) if e]
        since = str(s.get("observedSince") or "")
        return cls(memory, pending, _count(s.get("sent")), _count(s.get("failed")), rule_created,
                   superseded=_count(s.get("superseded")), undeliverable=_count(s.get("undeliverable")),
                   expired=_count(s.get("expired")), observed_since=since,
                   first_look=not since and not memory)

    # ---- observing ------------------------------------------------------------------------------------

    def observe(self, obj: ObjectKey, observations: Sequence[Observation], wanted: Wanted,
                providers: Sequence[str], now: datetime) -> None:
        """Compare the current observations of `obj` with what is remembered; queue what is news (see the
        module docstring). Streams absent from `observations` are unknown now and left as remembered."""
        self._looked(now)
        self.retain_providers(providers)
        mem = self._memory.get(obj.uid)
        if mem is None:
            mem = self._memory[obj.uid] = _Memory(obj, since=self._since_for(obj, now))
        mem.key = obj  # a rename cannot happen, a label or namespace display may: keep the latest
        history = [o for o in observations if o.stream == "history"]
        for o in observations:
            if o.stream != "history":
                self._observe_state(mem, o, wanted, providers, now)
        if history:
            self._observe_history(mem, history, wanted, providers, now)

    def _looked(self, now: datetime) -> None:
        self._now = now
        if not self.observed_since:
            self.observed_since = format_rfc3339(now)

    def _since_for(self, obj: ObjectKey, now: datetime) -> str:
        """"" (history floor: the rule's creation) for an object of the rule's first look or created after
        it; else now: an object that joins later does not replay what happened before it joined."""
        if self._first_look:
            return ""
        first = parse_rfc3339(self.observed_since)
        if obj.created is not None and first is not None and obj.created >= first:
            return ""
        return format_rfc3339(now)

    def _observe_state(self, mem: _Memory, o: Observation, wanted: Wanted, providers: Sequence[str],
                       now: datetime) -> None:
        remembered = mem.streams.get(o.stream)
        uid = mem.key.uid
        if o.event is None:
            follow = self._follow_up(mem.key, remembered, now) if remembered is not None else None
            if follow is not None and self._wants(follow, wanted, providers):
                if not self._replace(uid, o.stream, follow, providers, now):
                    return  # no room: the clear stays news (the remembered state is kept)
            elif remembered is not None or o.stream != "drift":  # no longer true, nothing follows it
                self._supersede(self._stream_entries(uid, o.stream, keep_id=""))
            mem.streams.pop(o.stream, None)
            return
        if remembered is not None and same(remembered.get("fingerprint"), o.event.fingerprint):
            return
        if self._wants(o.event, wanted, providers):
            if not self._replace(uid, o.stream, o.event, providers, now):
                return  # no room: not remembered, so it is still news at the next look
        else:  # not wanted here, but the older undelivered state is no longer true
            self._supersede(self._stream_entries(uid, o.stream, keep_id=""))
        mem.streams[o.stream] = _state_row(o.event)

    @staticmethod
    def _follow_up(key: ObjectKey, remembered: Mapping[str, Any], now: datetime) -> NotificationEvent | None:
        """What a stream clearing means: DriftResolved after DriftDetected, ManifestSetRecovered after
        ManifestSetFailed, nothing otherwise."""
        ref = ObjectRef(key.kind, key.namespace, key.name, key.uid)
        kind = remembered.get("type")
        if kind == "DriftDetected":
            resources = [str(r) for r in remembered.get("resources") or ()]
            return drift_event(ref, resources, str(remembered.get("driftFingerprint") or ""), resolved=True, now=now,
                               omitted=_count(remembered.get("moreResources")))
        if kind == "ManifestSetFailed":
            failed = str(remembered.get("reason") or "a failure")
            return simple_event("ManifestSetRecovered", ref, f"{ref.display} is ready again (recovered from {failed})",
                                reason="Recovered", now=now)
        return None

    def _observe_history(self, mem: _Memory, history: Sequence[Observation], wanted: Wanted,
                         providers: Sequence[str], now: datetime) -> None:
        """Queue the runs that finished after the watermark (the first time: at or after the history floor).
        The run ids finished in the watermark's own second are remembered too: two runs can finish within
        one second, and timestamps have second precision. Without room, the watermark stops before the
        first run not queued: it and the later ones stay news."""
        row = mem.streams.setdefault("history", {})
        mark = parse_rfc3339(row.get("watermark"))
        at_mark = set(row.get("runIds") or ()) if mark is not None else set()
        floor = mark or self._history_floor(mem)
        last = str(row.get("fingerprint") or "")
        for o in sorted(history, key=lambda h: parse_rfc3339(h.at) or floor):
            at = parse_rfc3339(o.at)
            if at is None or o.event is None or at < floor or (at == mark and _seen(at_mark, o.key)):
                continue
            news = not same(last, o.event.fingerprint)  # the same failure again (a retry loop): one message
            if news and self._wants(o.event, wanted, providers) and not self._append(
                    mem.key.uid, o.event, providers, now, (), run=o.key):
                break
            if mark is None or at > mark:
                mark, at_mark = at, set()
            at_mark.add(short_hash(o.key))
            last = short_hash(o.event.fingerprint)
        if mark is not None:
            row["watermark"] = format_rfc3339(mark)
            row["runIds"] = sorted(at_mark)
        if last:
            row["fingerprint"] = last
        if not row:
            del mem.streams["history"]

    def _history_floor(self, mem: _Memory) -> datetime:
        since = parse_rfc3339(mem.since) if mem.since else None
        return max(self._rule_created, since) if since is not None else self._rule_created

    # ---- queueing -------------------------------------------------------------------------------------

    @staticmethod
    def _wants(event: NotificationEvent, wanted: Wanted, providers: Sequence[str]) -> bool:
        return bool(providers) and wanted(event.type, event.severity)

    def _stream_entries(self, uid: str, stream: str, keep_id: str, keep_type: str = "") -> list[_Entry]:
        """The undelivered entries of (object, stream) a new state replaces: all of them but `keep_id` (the
        same event queued anew is not "superseded") and those of `keep_type` (a DriftResolved keeps its
        DriftDetected)."""
        return [e for e in self._pending if e.uid == uid and e.stream == stream and e.id != keep_id
                and e.type != keep_type]

    def _replace(self, uid: str, stream: str, event: NotificationEvent, providers: Sequence[str],
                 now: datetime) -> bool:
        """Queue a state event in place of the stream's older undelivered entries; False (nothing changed)
        when it does not fit even so."""
        eid = entry_id(uid, event.fingerprint)
        keep_type = "DriftDetected" if event.type == "DriftResolved" else ""
        older = self._stream_entries(uid, stream, keep_id=eid, keep_type=keep_type)
        if not self._append(uid, event, providers, now, older):
            return False
        self._supersede(older)
        return True

    def _append(self, uid: str, event: NotificationEvent, providers: Sequence[str], now: datetime,
                leaving: Sequence[_Entry], *, run: str = "") -> bool:
        """Add the entry at the end (the same id already waiting is queued anew: drift a → resolved → a
        must not leave the resolve as a receiver's last word; a history entry's id names its run, so an
        older run never shares it), if it fits once `leaving` is gone; otherwise count a deferral,
        remember its size (next_due) and change nothing."""
        eid = entry_id(uid, event.fingerprint, run)
        entry = _Entry(eid, uid, event.to_record(), format_rfc3339(now),
                       {p: _ProviderState() for p in dict.fromkeys(providers)})
        gone = [*leaving, *(e for e in self._pending if e.id == eid)]
        if not self._fits(entry, gone):
            self.deferred += 1
            self.deferred_bytes = max(self.deferred_bytes, entry.size)
            return False
        self._pending = [e for e in self._pending if e.id != eid]
        self._pending.append(entry)
        return True

    def _fits(self, entry: _Entry, leaving: Sequence[_Entry]) -> bool:
        left = {id(e) for e in leaving}
        rest = [e for e in self._pending if id(e) not in left]
        return len(rest) + 1 <= MAX_PENDING and sum(e.size for e in rest) + entry.size <= MAX_PENDING_BYTES

    def _supersede(self, entries: Sequence[_Entry]) -> None:
        if not entries:
            return
        gone = {id(e) for e in entries}
        self.superseded += len(gone)
        self._pending = [e for e in self._pending if id(e) not in gone]

    def retain_providers(self, providers: Sequence[str]) -> None:
        """Drop the pending deliveries to providers the rule no longer names (and entries left with none)."""
        keep = set(providers)
        for e in self._pending:
            e.providers = {n: s for n, s in e.providers.items() if n in keep}
        self._pending = [e for e in self._pending if e.providers]

    def forget_missing(self, present: set[str], now: datetime | None = None) -> None:
        """Objects (by uid) that no longer exist or no longer match: their memory goes (back later, they are
        new to the rule); their undelivered *state* entries (plan, stalled, ready: WITHDRAWN_WHEN_GONE) are
        withdrawn, counted in `superseded` — a PlanPending of an object that is gone would carry an approve
        command for nothing —, while history and drift entries stay until delivered or GONE_TTL old (a
        destroy on deletion is still told), then go, counted in `expired`. `now`: this look's time
        (default: the last observe's)."""
        when = now or self._now or datetime.now(UTC)
        self._looked(when)
        self._memory = {uid: m for uid, m in self._memory.items() if uid in present}
        self._supersede([e for e in self._pending if e.uid not in present and e.stream in WITHDRAWN_WHEN_GONE])
        cutoff = when - GONE_TTL
        keep = [e for e in self._pending
                if e.uid in present or (parse_rfc3339(e.queued_at) or when) > cutoff]
        self.expired += len(self._pending) - len(keep)
        self._pending = keep

    def observed_count(self) -> int:
        """Objects remembered (the rows of `status.observed`)."""
        return len(self._memory)

    # ---- delivering -----------------------------------------------------------------------------------

    def due(self, now: datetime, ready_providers: set[str]) -> list[Due]:
        """The deliveries to make now, to providers that are Ready, whose next attempt time has come: entries
        never tried first, then those that failed before (a message the receiver keeps failing must not be
        the first in line at every look and hold the rest up), then those a provider refused once for their
        content; oldest first within each."""
        lines: tuple[list[Due], list[Due], list[Due]] = ([], [], [])  # fresh, retrying, refused once
        behind: dict[tuple[str, str, str], int] = {}  # (object, stream, provider) -> line of its last entry
        for e in self._pending:
            event: NotificationEvent | None = None
            for name, state in e.providers.items():
                if name not in ready_providers or not _is_due(state, now):
                    continue
                if event is None:
                    event = NotificationEvent.from_record(e.record)
                own = 2 if state.refused else 1 if state.attempts else 0
                # a state never overtakes the older entry of its own stream (a DriftResolved never
                # arrives before its DriftDetected): it waits in the same line
                key = (e.uid, e.stream if e.stream != "history" else e.id, name)
                line = behind[key] = max(own, behind.get(key, 0))
                lines[line].append(Due(e.id, name, event, state.attempts + 1))
        return [*lines[0], *lines[1], *lines[2]]

    def record(self, outcome: Outcome, now: datetime) -> Parked | None:
        """The result of one delivery (see the module docstring); a `Parked` when this answer parked the
        entry for its provider. An outcome for an entry or provider no longer pending (the object went
        meanwhile) changes nothing but the counters."""
        result = outcome.result
        if result.delivered:
            self.sent += 1
        else:
            self.failed += 1
        entry = next((e for e in self._pending if e.id == outcome.entry_id), None)
        state = entry.providers.get(outcome.provider) if entry is not None else None
        if entry is None or state is None:
            return None
        if result.delivered:
            self._done(entry, outcome.provider)
            self._others_passed(outcome.provider)
            return None
        state.attempts += 1
        state.last_error = _cut(f"{result.reason}: {result.message}")
        state.permanent = result.outcome == "permanent"
        if message_level(result):
            state.refused += 1
            if state.refused >= MAX_MESSAGE_REFUSALS:
                return self._park(entry, outcome.provider, state)
        if _server_error(result):
            state.server_errors += 1
            if state.server_errors >= MAX_SERVER_ERRORS and state.others_passed:
                return self._park(entry, outcome.provider, state)
        else:
            state.server_errors, state.others_passed = 0, False
        delay = PERMANENT_RECHECK if state.permanent else next_attempt_delay(state.attempts, result)
        state.next_attempt_at = _ceil_stamp(now + delay)
        return None

    def _others_passed(self, provider: str) -> None:
        """A delivery to `provider` succeeded: every entry in a 5xx streak there now knows the provider
        works, so its own streak is about its content (parked after MAX_SERVER_ERRORS)."""
        for e in self._pending:
            state = e.providers.get(provider)
            if state is not None and state.server_errors:
                state.others_passed = True

    def _done(self, entry: _Entry, provider: str) -> None:
        del entry.providers[provider]
        if not entry.providers:
            self._pending.remove(entry)

    def _park(self, entry: _Entry, provider: str, state: _ProviderState) -> Parked:
        parked = Parked(entry.id, provider, NotificationEvent.from_record(entry.record), state.last_error)
        self._done(entry, provider)
        self.undeliverable += 1
        self.parked.append(parked)
        return parked

    def next_due(self, ready_providers: set[str]) -> datetime | None:
        """When the earliest delivery to a Ready provider is due (a past time: now), None when none is.
        "Now" too when a state was deferred in this run, a provider is Ready (without one nothing frees
        room, and a look "now" would only read the same full outbox again) and the largest deferred state
        fits now (deliveries freed enough): the next look queues it."""
        times = [parse_rfc3339(s.next_attempt_at) or self._rule_created
                 for e in self._pending for n, s in e.providers.items() if n in ready_providers]
        if self.deferred and ready_providers and self.has_room(self.deferred_bytes):
            times.append(self._rule_created)
        return min(times) if times else None

    def has_room(self, size: int = 8 * 1024) -> bool:
        """Another entry of `size` estimated bytes (default: an ordinary one) would fit."""
        return len(self._pending) < MAX_PENDING and \
            sum(e.size for e in self._pending) + size <= MAX_PENDING_BYTES

    def pending_count(self) -> int:
        """Entries not yet delivered to every provider."""
        return len(self._pending)

    def pending_by_provider(self) -> dict[str, int]:
        """Per provider, the entries it still has to receive (for the pending metric)."""
        out: dict[str, int] = {}
        for e in self._pending:
            for name in e.providers:
                out[name] = out.get(name, 0) + 1
        return out

    # ---- scrubbing stored records (review 2, finding 4) -------------------------------------------------

    def unscrubbed_uids(self) -> set[str]:
        """The objects (by uid) with entries whose stored record was not scrubbed yet since it was queued."""
        return {e.uid for e in self._pending if not e.record.get(SCRUBBED)}

    def scrub_records(self, uid: str, secrets: Sequence[str]) -> None:
        """Scrub the not-yet-scrubbed stored records of `uid`'s entries of `secrets` (the values its Secrets
        hold now, when it is queued) and mark them: what is stored, and sent if the object is gone by then,
        carries none of them. Identity (id, fingerprint) is unchanged; a record no event reads is left."""
        for e in self._pending:
            if e.uid != uid or e.record.get(SCRUBBED):
                continue
            try:
                event = NotificationEvent.from_record(e.record)
            except (ValueError, KeyError, TypeError):
                continue
            e.record = {**event.scrubbed(secrets).to_record(), SCRUBBED: True}
            e._record_bytes = -1

    def is_scrubbed(self, entry_id: str) -> bool:
        """Whether the entry's stored record was scrubbed when it was queued (False for an unknown entry)."""
        return any(e.id == entry_id and bool(e.record.get(SCRUBBED)) for e in self._pending)

    def to_status(self) -> dict[str, Any]:
        """The rule's status fields this outbox owns: `observed`, `observedSince`, `pending`,
        `pendingCount` (an integer, for the Pending printer column), `sent`, `failed`, and the counters
        `superseded`, `undeliverable`, `expired` once they are not zero."""
        out: dict[str, Any] = {
            "observed": self._observed_rows(),
            "pending": [e.to_status() for e in self._pending], "pendingCount": len(self._pending),
            "sent": self.sent, "failed": self.failed}
        if self.observed_since:
            out["observedSince"] = self.observed_since
        for key, value in (("superseded", self.superseded), ("undeliverable", self.undeliverable),
                           ("expired", self.expired)):
            if value:
                out[key] = value
        return out

    def _observed_rows(self) -> list[dict[str, Any]]:
        """The memory rows; past MAX_OBSERVED_BYTES the drift rows keep only the count of their resources
        (a DriftResolved then says how many, not which): dedup needs fingerprints, not names."""
        rows = [m.to_status() for m in sorted(self._memory.values(), key=_memory_order)]
        if len(json.dumps(rows, separators=(",", ":"))) > MAX_OBSERVED_BYTES:
            for m in self._memory.values():
                drift = m.streams.get("drift")
                if drift and drift.get("resources"):
                    drift["moreResources"] = _count(drift.get("moreResources")) + len(drift.pop("resources"))
            rows = [m.to_status() for m in sorted(self._memory.values(), key=_memory_order)]
        return rows


def _state_row(event: NotificationEvent) -> dict[str, Any]:
    """What the memory keeps of a state: only what dedup and the clear's follow-up need."""
    row: dict[str, Any] = {"type": event.type, "fingerprint": short_hash(event.fingerprint)}
    if event.type == "ManifestSetFailed":
        row["reason"] = event.reason  # the recovery message says from what
    if event.drift is not None:
        names, more = split_more(event.drift.resources)
        row["driftFingerprint"] = event.drift.drift_fingerprint
        row["resources"] = list(names[:MAX_STORED_RESOURCES])
        more += max(0, len(names) - MAX_STORED_RESOURCES)
        if more:
            row["moreResources"] = more
    return row


def _memory_order(m: _Memory) -> str:
    return m.key.uid


def _server_error(result: DeliveryResult) -> bool:
    """A 5xx: the receiver failed on this message (or is down: then no other entry passes either)."""
    return result.outcome == "retryable" and (result.status or 0) >= 500


def _seen(run_hashes: set[str], run_id: str) -> bool:
    """A run id among those remembered at the watermark (short hashes; in full from older versions)."""
    return short_hash(run_id) in run_hashes or run_id in run_hashes


def _is_due(state: _ProviderState, now: datetime) -> bool:
    when = parse_rfc3339(state.next_attempt_at) if state.next_attempt_at else None
    return when is None or when <= now


def _count(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"
