"""`tfcontroller events [KIND] NAME`: the Events recorded for one object, oldest first.

Listed and filtered by `operations/events.py` (shared with the dashboard): by the involved object's name on
the server and again by kind and uid, so Events of another object with the same name do not show up.
"""

from __future__ import annotations

import argparse
from typing import Any

from tfcontroller.cli import kubectx
from tfcontroller.operations.events import event_count, event_message, event_time, list_object_events


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "events", help="list the Events of an object, oldest first (KIND defaults to terraform)",
        description="List the Events recorded for one object (the same kind and uid), oldest first.")
    p.add_argument("words", nargs="+", metavar="[KIND] NAME",
                   help="the object: NAME, KIND NAME or KIND/NAME (KIND defaults to terraform)")
    kubectx.add_connection_args(p)
    p.set_defaults(func=run)


@kubectx.api_errors
def run(args: argparse.Namespace) -> int:
    resource, name = kubectx.kind_and_name(args.words)
    with kubectx.connect(args) as conn:
        obj = conn.get(resource, name)
        obj.setdefault("kind", resource.kind)
        obj.setdefault("metadata", {}).setdefault("namespace", conn.namespace)
        events = list_object_events(conn.client, obj)
    if not events:
        print(f"No events for {resource.kind.lower()}/{name}.")
        return kubectx.EXIT_OK
    rows = [(kubectx.age(event_time(e)), str(e.get("type") or ""), str(e.get("reason") or ""),
             str(event_count(e)), event_message(e)) for e in events]
    kubectx.print_table(["LAST SEEN", "TYPE", "REASON", "COUNT", "MESSAGE"], rows)
    return kubectx.EXIT_OK
