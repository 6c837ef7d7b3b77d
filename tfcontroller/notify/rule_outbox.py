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
- delivery per provider: delivered → that provider is done (the entry goes when every provider is);
  retryable → again after the server's Retry-After or exponential backoff (http_delivery); permanent →
  kept, never dropped, not due while the provider is not Ready (the controller marks it not Ready with
  the answer; once someone fixes it and it is Ready again, the entry goes out), and not within
  PERMANENT_RECHECK of the answer either (no hot loop before that Ready=False is written).
- an object that no longer exists takes its memory and entries with it (forget_missing).
- bounded: past MAX_PENDING_PER_OBJECT waiting entries of one object or MAX_PENDING of the rule, the
  oldest go, counted in `status.dropped` (a status too big for etcd would stop the rule altogether).

At-least-once: the controller sends, then patches this status. A crash between the two sends that entry
again after the restart: a receiver may see a message twice in that window, never zero times.

Everything here is a value over the status dict: no I/O, no clock but the `now` passed in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tfcontroller.api.times import format_rfc3339, parse_rfc3339
from tfcontroller.notify.event import (
    MAX_STORED_RESOURCES,
    NotificationEvent,
    ObjectRef,
    drift_event,
    simple_event,
)
from tfcontroller.notify.http_delivery import BACKOFF_BASE, DeliveryResult, next_attempt_delay
from tfcontroller.notify.observe import Observation

MAX_PENDING_PER_OBJECT = 20  # entries one object may have waiting; beyond, the oldest go (counted in `dropped`)
MAX_PENDING = 300  # entries of one rule (~0.3 MB of status at most; etcd stores an object up to 1.5 MB)
MAX_ERROR = 300  # characters of a provider's last error kept in status (already scrubbed by delivery)
PERMANENT_RECHECK = BACKOFF_BASE  # after a permanent answer: not due again before this, even if "Ready"

Wanted = Callable[[str, str], bool]


@dataclass(frozen=True)
class ObjectKey:
    """The observed object; `uid` tells a re-created object from the one that was deleted."""

    kind: str
    namespace: str
    name: str
    uid: str


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


def entry_id(uid: str, fingerprint: str) -> str:
    """The entry's id: the same object and event give the same id in every rule (rule-independent, so a
    log line or a receiver can correlate)."""
    return hashlib.sha256(f"{uid}\n{fingerprint}".encode()).hexdigest()[:16]


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

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> _ProviderState:
        return cls(int(d.get("attempts") or 0), str(d.get("nextAttemptAt") or ""), str(d.get("lastError") or ""),
                   d.get("permanent") is True)

    def to_status(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "attempts": self.attempts}
        if self.next_attempt_at:
            out["nextAttemptAt"] = self.next_attempt_at
        if self.last_error:
            out["lastError"] = self.last_error
        if self.permanent:
            out["permanent"] = True
        return out


@dataclass
class _Entry:
    id: str
    uid: str
    record: dict[str, Any]
    queued_at: str
    providers: dict[str, _ProviderState] = field(default_factory=dict)

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> _Entry | None:
        record = d.get("event")
        if not isinstance(record, Mapping) or not d.get("id"):
            return None
        providers = {str(p["name"]): _ProviderState.of(p) for p in d.get("providers") or ()
                     if isinstance(p, Mapping) and p.get("name")}
        return cls(str(d["id"]), str(d.get("uid") or ""), dict(record), str(d.get("queuedAt") or ""), providers)

    def to_status(self) -> dict[str, Any]:
        return {"id": self.id, "uid": self.uid, "queuedAt": self.queued_at, "event": self.record,
                "providers": [state.to_status(name) for name, state in self.providers.items()]}


@dataclass
class _Memory:
    """What this rule remembers of one object: per stream the last state's fingerprint (and type), the
    drift resources (for the resolved message) and the history watermark."""

    key: ObjectKey
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> _Memory | None:
        if not d.get("uid"):
            return None
        key = ObjectKey(str(d.get("kind") or ""), str(d.get("namespace") or ""), str(d.get("name") or ""),
                        str(d["uid"]))
        streams = d.get("streams")
        return cls(key, {str(k): dict(v) for k, v in streams.items() if isinstance(v, Mapping)}
                   if isinstance(streams, Mapping) else {})

    def to_status(self) -> dict[str, Any]:
        k = self.key
        return {"uid": k.uid, "kind": k.kind, "namespace": k.namespace, "name": k.name, "streams": self.streams}


class RuleOutbox:
    """A value over a NotificationRule's status (`observed`, `pending`, `sent`, `failed`): every method
    returns data or changes this value; `to_status()` is what the controller patches back."""

    def __init__(self, memory: dict[str, _Memory], pending: list[_Entry], sent: int, failed: int,
                 rule_created: datetime, dropped: int = 0) -> None:
        self._memory = memory
        self._pending = pending
        self.sent = sent
        self.failed = failed
        self.dropped = dropped
        self._rule_created = rule_created

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
        return cls(memory, pending, _count(s.get("sent")), _count(s.get("failed")), rule_created,
                   _count(s.get("dropped")))

    # ---- observing ------------------------------------------------------------------------------------

    def observe(self, obj: ObjectKey, observations: Sequence[Observation], wanted: Wanted,
                providers: Sequence[str], now: datetime) -> None:
        """Compare the current observations of `obj` with what is remembered; queue what is news (see the
        module docstring). Streams absent from `observations` are unknown now and left as remembered."""
        self.retain_providers(providers)
        mem = self._memory.get(obj.uid)
        if mem is None:
            mem = self._memory[obj.uid] = _Memory(obj)
        mem.key = obj  # a rename cannot happen, a label or namespace display may: keep the latest
        history = [o for o in observations if o.stream == "history"]
        for o in observations:
            if o.stream != "history":
                self._observe_state(mem, o, wanted, providers, now)
        if history:
            self._observe_history(mem, history, wanted, providers, now)

    def _observe_state(self, mem: _Memory, o: Observation, wanted: Wanted, providers: Sequence[str],
                       now: datetime) -> None:
        remembered = mem.streams.get(o.stream)
        if o.event is None:
            if remembered is not None:
                follow = self._follow_up(mem.key, remembered, now)
                if follow is not None:
                    self._queue(mem.key, follow, wanted, providers, now)
                del mem.streams[o.stream]
            return
        if remembered is not None and remembered.get("fingerprint") == o.event.fingerprint:
            return
        self._queue(mem.key, o.event, wanted, providers, now)
        row: dict[str, Any] = {"type": o.event.type, "fingerprint": o.event.fingerprint}
        if o.event.type == "ManifestSetFailed":
            row["reason"] = o.event.reason  # the recovery message says from what
        if o.event.drift is not None:
            row["driftFingerprint"] = o.event.drift.drift_fingerprint
            row["resources"] = list(o.event.drift.resources[:MAX_STORED_RESOURCES])
        mem.streams[o.stream] = row

    @staticmethod
    def _follow_up(key: ObjectKey, remembered: Mapping[str, Any], now: datetime) -> NotificationEvent | None:
        """What a stream clearing means: DriftResolved after DriftDetected, ManifestSetRecovered after
        ManifestSetFailed, nothing otherwise."""
        ref = ObjectRef(key.kind, key.namespace, key.name, key.uid)
        kind = remembered.get("type")
        if kind == "DriftDetected":
            resources = [str(r) for r in remembered.get("resources") or ()]
            return drift_event(ref, resources, str(remembered.get("driftFingerprint") or ""), resolved=True, now=now)
        if kind == "ManifestSetFailed":
            failed = str(remembered.get("reason") or "a failure")
            return simple_event("ManifestSetRecovered", ref, f"{ref.display} is ready again (recovered from {failed})",
                                reason="Recovered", now=now)
        return None

    def _observe_history(self, mem: _Memory, history: Sequence[Observation], wanted: Wanted,
                         providers: Sequence[str], now: datetime) -> None:
        """Queue the runs that finished after the watermark (the first time: at or after the rule's
        creation). The run ids finished in the watermark's own second are remembered too: two runs can
        finish within one second, and timestamps have second precision."""
        row = mem.streams.setdefault("history", {})
        mark = parse_rfc3339(row.get("watermark"))
        at_mark = set(row.get("runIds") or ()) if mark is not None else set()
        floor = mark or self._rule_created
        last = str(row.get("fingerprint") or "")
        for o in sorted(history, key=lambda h: parse_rfc3339(h.at) or floor):
            at = parse_rfc3339(o.at)
            if at is None or o.event is None or at < floor or (at == mark and o.key in at_mark):
                continue
            if mark is None or at > mark:
                mark, at_mark = at, set()
            at_mark.add(o.key)
            if o.event.fingerprint == last:  # the same failure again (a retry loop): one message
                continue
            self._queue(mem.key, o.event, wanted, providers, now)
            last = o.event.fingerprint
        if mark is not None:
            row["watermark"] = format_rfc3339(mark)
            row["runIds"] = sorted(at_mark)
        if last:
            row["fingerprint"] = last

    def _queue(self, key: ObjectKey, event: NotificationEvent, wanted: Wanted, providers: Sequence[str],
               now: datetime) -> None:
        if not providers or not wanted(event.type, event.severity):
            return
        eid = entry_id(key.uid, event.fingerprint)
        # The same state back after a clear while its first entry still waits (drift a → resolved → a):
        # queued anew at the end, for every provider, so that no receiver's last word is the resolve.
        self._pending = [e for e in self._pending if e.id != eid]
        self._pending.append(_Entry(eid, key.uid, event.to_record(), format_rfc3339(now),
                                    {p: _ProviderState() for p in dict.fromkeys(providers)}))
        self._bound(key.uid)

    def _bound(self, uid: str) -> None:
        """Keep the status bounded (an object in etcd has a size limit, and a rule whose status cannot be
        written stops notifying at all): past MAX_PENDING_PER_OBJECT entries of one object, or MAX_PENDING
        of the rule, the oldest go and are counted in `dropped`. Reached only when a provider stays down
        while objects change many times; the newest entries, the current state, are the ones kept."""
        mine = [e for e in self._pending if e.uid == uid]
        gone = {id(e) for e in mine[: max(0, len(mine) - MAX_PENDING_PER_OBJECT)]}
        rest = [e for e in self._pending if id(e) not in gone]
        gone |= {id(e) for e in rest[: max(0, len(rest) - MAX_PENDING)]}
        if gone:
            self.dropped += len(gone)
            self._pending = [e for e in self._pending if id(e) not in gone]

    def retain_providers(self, providers: Sequence[str]) -> None:
        """Drop the pending deliveries to providers the rule no longer names (and entries left with none)."""
        keep = set(providers)
        for e in self._pending:
            e.providers = {n: s for n, s in e.providers.items() if n in keep}
        self._pending = [e for e in self._pending if e.providers]

    def forget_missing(self, present: set[str]) -> None:
        """Objects (by uid) that no longer exist or no longer match: their memory and entries go."""
        self._memory = {uid: m for uid, m in self._memory.items() if uid in present}
        self._pending = [e for e in self._pending if e.uid in present]

    # ---- delivering -----------------------------------------------------------------------------------

    def due(self, now: datetime, ready_providers: set[str]) -> list[Due]:
        """The deliveries to make now, oldest entry first: providers that are Ready, whose next attempt
        time has come."""
        out = []
        for e in self._pending:
            event: NotificationEvent | None = None
            for name, state in e.providers.items():
                if name not in ready_providers or not _is_due(state, now):
                    continue
                if event is None:
                    event = NotificationEvent.from_record(e.record)
                out.append(Due(e.id, name, event, state.attempts + 1))
        return out

    def record(self, outcome: Outcome, now: datetime) -> None:
        """The result of one delivery (see the module docstring). An outcome for an entry or provider no
        longer pending (the object went meanwhile) changes nothing but the counters."""
        result = outcome.result
        if result.delivered:
            self.sent += 1
        else:
            self.failed += 1
        entry = next((e for e in self._pending if e.id == outcome.entry_id), None)
        state = entry.providers.get(outcome.provider) if entry is not None else None
        if entry is None or state is None:
            return
        if result.delivered:
            del entry.providers[outcome.provider]
            if not entry.providers:
                self._pending.remove(entry)
            return
        state.attempts += 1
        state.last_error = _cut(f"{result.reason}: {result.message}")
        state.permanent = result.outcome == "permanent"
        delay = PERMANENT_RECHECK if state.permanent else next_attempt_delay(state.attempts, result)
        state.next_attempt_at = _ceil_stamp(now + delay)

    def next_due(self, ready_providers: set[str]) -> datetime | None:
        """When the earliest delivery to a Ready provider is due (a past time: now), None when none is."""
        times = [parse_rfc3339(s.next_attempt_at) or self._rule_created
                 for e in self._pending for n, s in e.providers.items() if n in ready_providers]
        return min(times) if times else None

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

    def to_status(self) -> dict[str, Any]:
        """`{"observed": [...], "pending": [...], "sent": n, "failed": n}` for the rule's status, and
        `dropped: n` once the bound (`_bound`) had to drop an entry."""
        out: dict[str, Any] = {
            "observed": [m.to_status() for m in sorted(self._memory.values(), key=_memory_order)],
            "pending": [e.to_status() for e in self._pending], "sent": self.sent, "failed": self.failed}
        if self.dropped:
            out["dropped"] = self.dropped
        return out


def _memory_order(m: _Memory) -> tuple[str, str, str, str]:
    return (m.key.namespace, m.key.kind, m.key.name, m.key.uid)


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
