"""`tfcontroller drift NAME`: the last drift report of a Terraform, from `status.drift`.

The report is what the controller found the last time it compared state with reality (design.md §4.3 and
§4.6): when it checked, when drift was last seen, which resources and attributes drifted, and whether the
notification for this set of drift has been delivered.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tfcontroller.api.commands import approve_hint
from tfcontroller.api.terraform_status import PendingPlan
from tfcontroller.cli import kubectx
from tfcontroller.kube.resources import TERRAFORMS


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "drift", help="show the last drift report of a Terraform",
        description="Show the last drift report of a Terraform, from status.drift: last and next check, last "
                    "detection, the drifted resources and attributes, the notification's state, and the "
                    "remediation plan waiting for approval.")
    p.add_argument("name", metavar="NAME", help="the Terraform object")
    p.add_argument("-o", "--output", choices=["text", "json", "yaml"], default="text",
                   help="output format: text (default), or status.drift as json or yaml")
    kubectx.add_connection_args(p)
    p.set_defaults(func=run)


def _resource_line(entry: Any) -> list[str]:
    if not isinstance(entry, dict):
        return [f"  - {entry}"]
    address = entry.get("address") or entry.get("name") or "?"
    action = entry.get("action") or entry.get("actions") or ""
    if isinstance(action, list):
        action = "+".join(str(a) for a in action)
    lines = [f"  - {address}" + (f" ({action})" if action else "")]
    attrs = entry.get("attributes") or entry.get("changedAttributes") or []
    if isinstance(attrs, dict):
        attrs = sorted(attrs)
    lines.extend(f"      {a}" for a in attrs)
    return lines


def _notification(drift: dict[str, Any]) -> str:
    pending = drift.get("pendingNotification") or {}
    if pending:
        text = f"{pending.get('kind') or 'drift'} report pending (not delivered yet"
        if pending.get("attempts"):
            text += f", {pending['attempts']} failed attempts"
        if pending.get("nextAttemptAt"):
            text += f", next attempt {pending['nextAttemptAt']}"
        return text + ")"
    if drift.get("notifiedAt"):
        return f"delivered {drift['notifiedAt']}"
    return "-"


def render(obj: dict[str, Any]) -> str:
    """The report as text; pure, for tests."""
    status = obj.get("status") or {}
    drift = status.get("drift") or {}
    spec = (obj.get("spec") or {}).get("driftDetection") or {}
    name = obj["metadata"]["name"]
    if spec.get("disabled"):
        head = f"Drift detection is disabled for Terraform {name}."
    else:
        head = f"Drift report for Terraform {name}"
    lines = [head]
    if not drift:
        lines.append("No drift check has run yet.")
        return "\n".join(lines)
    cond = kubectx.condition(obj, "Drifted") or {}
    resources = drift.get("resources") or []
    lines += [
        f"Last checked:   {drift.get('lastCheckedAt') or 'never'}",
        f"Next check:     {drift.get('nextCheckAt') or '-'}",
        f"Last detected:  {drift.get('lastDetectedAt') or 'never'}",
        f"Drifted now:    {'yes' if resources else 'no'}" + (f" ({cond.get('reason')})" if cond else ""),
    ]
    if drift.get("clearedAt"):
        lines.append(f"Cleared:        {drift['clearedAt']}")
    lines.append(f"Fingerprint:    {drift.get('fingerprint') or '-'}")
    lines.append(f"Notification:   {_notification(drift)}")
    if resources:
        lines.append(f"Resources ({len(resources)}):")
        for entry in resources:
            lines.extend(_resource_line(entry))
    plan = PendingPlan.of(status)
    if plan and plan.is_drift:
        namespace = obj["metadata"].get("namespace") or "default"
        lines.append(f"Remediation plan {plan.id} waits for approval: {approve_hint(namespace, name, plan.id)}")
    return "\n".join(lines)


@kubectx.api_errors
def run(args: argparse.Namespace) -> int:
    with kubectx.connect(args) as conn:
        obj = conn.get(TERRAFORMS, args.name)
    drift = (obj.get("status") or {}).get("drift") or {}
    if args.output == "json":
        print(json.dumps(drift, indent=2))
    elif args.output == "yaml":
        kubectx.dump(drift, "yaml")
    else:
        print(render(obj))
    return kubectx.EXIT_OK
