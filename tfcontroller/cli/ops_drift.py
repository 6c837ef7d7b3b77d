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
from tfcontroller.cli import kubectx
from tfcontroller.kube.resources import TERRAFORMS
from tfcontroller.operations.drift_report import DriftedResource, DriftReport


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


def _resource_lines(entry: DriftedResource) -> list[str]:
    lines = [f"  - {entry.address}" + (f" ({entry.action})" if entry.action else "")]
    lines.extend(f"      {a}" for a in entry.attributes)
    return lines


def render(obj: dict[str, Any]) -> str:
    """The report as text; pure, for tests. The reading of status.drift is `DriftReport.of`'s (shared
    with the dashboard)."""
    report = DriftReport.of(obj)
    name = obj["metadata"]["name"]
    head = (f"Drift detection is disabled for Terraform {name}." if report.disabled
            else f"Drift report for Terraform {name}")
    lines = [head]
    if not report.checked:
        lines.append("No drift check has run yet.")
        return "\n".join(lines)
    reason = f" ({report.condition_reason})" if report.condition_reason else ""
    lines += [
        f"Last checked:   {report.last_checked_at or 'never'}",
        f"Next check:     {report.next_check_at or '-'}",
        f"Last detected:  {report.last_detected_at or 'never'}",
        f"Drifted now:    {'yes' if report.drifted else 'no'}" + reason,
    ]
    if report.cleared_at:
        lines.append(f"Cleared:        {report.cleared_at}")
    lines.append(f"Fingerprint:    {report.fingerprint or '-'}")
    lines.append(f"Notification:   {report.notification}")
    if report.resources:
        lines.append(f"Resources ({len(report.resources)}):")
        for entry in report.resources:
            lines.extend(_resource_lines(entry))
    if report.remediation_plan:
        namespace = obj["metadata"].get("namespace") or "default"
        plan = report.remediation_plan
        lines.append(f"Remediation plan {plan} waits for approval: {approve_hint(namespace, name, plan)}")
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
