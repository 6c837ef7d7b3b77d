"""The Events of one object, read one way by the CLI (`tfcontroller events`) and the dashboard.

Listed by the involved object's name on the server (a field selector) and filtered again here by kind
and uid, so that Events of another object with the same name (an earlier incarnation, another kind) do
not show up. `event_time` picks the best timestamp an Event carries: core/v1 and events.k8s.io writers
fill different fields.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tfcontroller.api.times import parse_rfc3339
from tfcontroller.kube.resources import EVENTS

if TYPE_CHECKING:  # the CLI builds its parser without loading the HTTP client (tests/unit/cli/test_lazy_imports.py)
    from tfcontroller.kube.client import KubeClient


def event_time(ev: Mapping[str, Any]) -> str:
    """The best timestamp an Event carries (core/v1 and events.k8s.io writers fill different fields)."""
    series = ev.get("series") or {}
    return str(series.get("lastObservedTime") or ev.get("lastTimestamp") or ev.get("eventTime")
               or ev.get("firstTimestamp") or (ev.get("metadata") or {}).get("creationTimestamp") or "")


def belongs_to(ev: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    """Whether `ev` is about `obj`: same kind and name, and the same uid when the Event records one."""
    inv = ev.get("involvedObject") or ev.get("regarding") or {}
    meta = obj["metadata"]
    if inv.get("kind") != obj.get("kind") or inv.get("name") != meta["name"]:
        return False
    return not inv.get("uid") or inv.get("uid") == meta.get("uid")


def event_count(ev: Mapping[str, Any]) -> int:
    """How many times it happened (`count`, or an events.k8s.io `series.count`), at least 1."""
    try:
        return int(ev.get("count") or (ev.get("series") or {}).get("count") or 1)
    except (TypeError, ValueError):
        return 1


def event_message(ev: Mapping[str, Any]) -> str:
    """The message on one line (core/v1 `message`, events.k8s.io `note`)."""
    return " ".join(str(ev.get("message") or ev.get("note") or "").split())


def sort_key(ev: Mapping[str, Any]) -> tuple[dt.datetime, int]:
    """Time first; within one second (core/v1 timestamps have no fraction) the order the API server
    stored them in, by `metadata.resourceVersion` when it is a number (etcd's revision: a Warning and
    the recovery that followed it in the same second otherwise came out in name order). Pure."""
    when = parse_rfc3339(event_time(ev)) or dt.datetime.min.replace(tzinfo=dt.UTC)
    rv = str((ev.get("metadata") or {}).get("resourceVersion") or "")
    return when, int(rv) if rv.isdigit() else 0


def events_of(events: list[dict[str, Any]], obj: Mapping[str, Any], *, newest_first: bool = False) -> list[dict[str, Any]]:
    """The Events among `events` that belong to `obj`, oldest first (or newest first). Pure."""
    return sorted((e for e in events if belongs_to(e, obj)), key=sort_key, reverse=newest_first)


def list_object_events(client: KubeClient, obj: Mapping[str, Any], *,
                       newest_first: bool = False) -> list[dict[str, Any]]:
    """One LIST of the Events naming `obj` in its namespace, as `client`'s user, filtered by `events_of`.
    `obj` must carry its `kind` (a `list_all` item does; a GET answer does too)."""
    return list_object_events_at(client, obj, newest_first=newest_first)[0]


def list_object_events_at(client: KubeClient, obj: Mapping[str, Any], *,
                          newest_first: bool = False) -> tuple[list[dict[str, Any]], str]:
    """`list_object_events` and the list's resourceVersion: where a watch of the namespace's Events starts
    so that it misses nothing after what was listed (the dashboard's live pages)."""
    meta = obj["metadata"]
    items, version = client.list_all(EVENTS, meta.get("namespace"),
                                     field_selector=f"involvedObject.name={meta['name']}")
    return events_of(items, obj, newest_first=newest_first), version
