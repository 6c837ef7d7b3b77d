"""`tfcontroller history NAME`: the last runs of a Terraform (status.history, issue 17), newest first.

One row per plan, drift check, apply or destroy: when it started (as an age), what ran, how it ended and
why, which plan with its counts (imports, moves and the addresses it was asked to replace included), who
approved an apply, at which revision. Read through the typed view
(api/history.py), so a malformed entry reads the same here as in the dashboard. `-o json|yaml` prints the
entries as status holds them.
"""

from __future__ import annotations

import argparse
from typing import Any

from tfcontroller.api.history import HistoryEntry, history_of
from tfcontroller.cli import kubectx
from tfcontroller.kube.resources import TERRAFORMS

HEADERS = ["STARTED", "KIND", "OUTCOME", "REASON", "PLAN", "+/~/-", "APPROVED BY", "POLICY", "REVISION"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "history", help="show the last runs of a Terraform: plans, drift checks, applies, destroys",
        description="Show status.history of a Terraform, newest first: when each run started, its kind, outcome "
                    "and reason, the plan and its counts, who approved an apply (cli, dashboard, annotation, "
                    "spec or auto), the plan's policy check with the PolicyExceptions that waived, and the "
                    "revision. The controller keeps the last --history-limit runs.")
    p.add_argument("name", metavar="NAME", help="the Terraform object")
    p.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table",
                   help="table (default), json or yaml")
    kubectx.add_connection_args(p)
    p.set_defaults(func=run)


def row(entry: HistoryEntry, now: Any = None) -> list[str]:
    """One table row. Pure (`now` for tests)."""
    outcome = entry.outcome + (f" (x{entry.attempts})" if entry.attempts > 1 else "")
    approved = entry.approved_by.describe() if entry.approved_by is not None else ""
    started = kubectx.age(entry.started_at, now) if entry.started_at else ""
    policy = entry.policy + (f" (waived: {', '.join(entry.exceptions)})" if entry.exceptions else "")
    return [started, entry.kind, outcome, entry.reason, entry.plan_id, changes(entry), approved, policy,
            entry.revision]


def changes(entry: HistoryEntry) -> str:
    """The +/~/- cell: the plan's counts, then what issue 20 counts apart — imports, moves — and the
    addresses the plan was asked to re-create (`replace`, spec.replace or the annotation: a replacement is
    a destroy and an add in the counts, so the addresses say which were forced). A plan that failed has no
    counts but may have been asked to replace. Pure."""
    counts = f"{entry.add}/{entry.change}/{entry.destroy}" if entry.plan_id else ""
    if counts and (entry.imports or entry.moves):  # issue 20: imports and moves counted apart
        counts += f" import {entry.imports}" * bool(entry.imports) + f" move {entry.moves}" * bool(entry.moves)
    if entry.replace:
        counts += f" replace {', '.join(entry.replace)}"
    return counts.strip()


@kubectx.api_errors
def run(args: argparse.Namespace) -> int:
    with kubectx.connect(args) as conn:
        obj = conn.get(TERRAFORMS, args.name)
        namespace = conn.namespace
    status = obj.get("status") or {}
    if args.output != "table":
        raw = status.get("history")
        kubectx.dump(raw if isinstance(raw, list) else [], args.output)
        return kubectx.EXIT_OK
    entries = history_of(status)
    if not entries:
        print(f"Terraform {namespace}/{args.name} has no runs recorded (yet).")
        return kubectx.EXIT_OK
    kubectx.print_table(HEADERS, [row(e) for e in entries])
    return kubectx.EXIT_OK
