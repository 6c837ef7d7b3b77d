"""`tfcontroller events [KIND] NAME`: the Events recorded for one object, oldest first.

Listed by the involved object's name on the server and filtered again here by kind and uid, so Events
of another object with the same name (an earlier incarnation, another kind) do not show up.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from tfcontroller.api.times import parse_rfc3339
from tfcontroller.cli import kubectx
from tfcontroller.kube.resources import EVENTS


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "events", help="list the Events of an object, oldest first (KIND defaults to terraform)",
        description="List the Events recorded for one object (the same kind and uid), oldest first.")
    p.add_argument("words", nargs="+", metavar="[KIND] NAME",
                   help="the object: NAME, KIND NAME or KIND/NAME (KIND defaults to terraform)")
    kubectx.add_connection_args(p)
    p.set_defaults(func=run)


def event_time(ev: dict[str, Any]) -> str:
    """The best timestamp an Event carries (core/v1 and events.k8s.io writers fill different fields)."""
    series = ev.get("series") or {}
    return str(series.get("lastObservedTime") or ev.get("lastTimestamp") or ev.get("eventTime")
               or ev.get("firstTimestamp") or (ev.get("metadata") or {}).get("creationTimestamp") or "")


def belongs_to(ev: dict[str, Any], obj: dict[str, Any]) -> bool:
    inv = ev.get("involvedObject") or ev.get("regarding") or {}
    meta = obj["metadata"]
    if inv.get("kind") != obj.get("kind") or inv.get("name") != meta["name"]:
        return False
    return not inv.get("uid") or inv.get("uid") == meta.get("uid")


def _sort_key(ev: dict[str, Any]) -> dt.datetime:
    return parse_rfc3339(event_time(ev)) or dt.datetime.min.replace(tzinfo=dt.UTC)


@kubectx.api_errors
def run(args: argparse.Namespace) -> int:
    resource, name = kubectx.kind_and_name(args.words)
    with kubectx.connect(args) as conn:
        obj = conn.get(resource, name)
        obj.setdefault("kind", resource.kind)
        items, _ = conn.client.list_all(EVENTS, conn.namespace, field_selector=f"involvedObject.name={name}")
    events = sorted((e for e in items if belongs_to(e, obj)), key=_sort_key)
    if not events:
        print(f"No events for {resource.kind.lower()}/{name}.")
        return kubectx.EXIT_OK
    rows = [(kubectx.age(event_time(e)), str(e.get("type") or ""), str(e.get("reason") or ""),
             str(e.get("count") or (e.get("series") or {}).get("count") or 1),
             str(e.get("message") or e.get("note") or "").replace("\n", " ")) for e in events]
    kubectx.print_table(["LAST SEEN", "TYPE", "REASON", "COUNT", "MESSAGE"], rows)
    return kubectx.EXIT_OK
