"""The drift e-mails: a report per new drift, and a "resolved" message when the drift is gone.

Each is a multipart/alternative message (plain text first, HTML second, the same content) built only
from a DriftReportLike, whose sensitive values are already replaced by `(sensitive)`; every value that
reaches the HTML part is escaped. Headers make the mail behave well in clients and filters:
a unique Message-ID, Date, a List-Id per Terraform object (so users can filter or mute one object),
and Auto-Submitted (so vacation responders stay quiet).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from tfcontroller.api.commands import approve_hint
from tfcontroller.notify.mail_parts import KIND_HEADER, MSGID_DOMAIN, mail_headers, set_bodies
from tfcontroller.notify.mail_parts import esc as _e
from tfcontroller.notify.model import SENSITIVE, DriftedResourceLike, DriftReportLike, resource_count, summary

__all__ = ["KIND_HEADER", "MSGID_DOMAIN", "FINGERPRINT_HEADER", "DriftTarget", "build_drift_email",
           "build_resolved_email", "drift_subject", "format_value", "list_id", "resolved_subject"]

FINGERPRINT_HEADER = "X-Tfcontroller-Drift-Fingerprint"
_MAX_VALUE = 200


@dataclass(frozen=True)
class DriftTarget:
    """The Terraform object the drift belongs to, and how it will be remediated."""

    namespace: str
    name: str
    revision: str = ""
    plan_id: str | None = None
    auto_remediate: bool = False
    policy: tuple[str, ...] = ()  # issue 18: the remediation plan's policy check (api/policy_verdict.py lines)
    policy_block: str = ""  # why the policies keep it from being applied ("" when they do not)


def list_id(namespace: str, name: str) -> str:
    return f"Drift reports for {namespace}/{name} <{name}.{namespace}.drift.tfcontroller.io>"


def drift_subject(target: DriftTarget, report: DriftReportLike) -> str:
    return (
        f"[drift] {target.namespace}/{target.name}: "
        f"{resource_count(len(report.resources))} changed outside Terraform"
    )


def resolved_subject(namespace: str, name: str, count: int) -> str:
    return f"[drift resolved] {namespace}/{name}: {resource_count(count)} no longer changed outside Terraform"


def build_drift_email(
    report: DriftReportLike,
    target: DriftTarget,
    *,
    to: Sequence[str],
    from_addr: str,
    now: datetime | None = None,
) -> EmailMessage:
    """The report for one drift fingerprint."""
    msg = _headers(target.namespace, target.name, to, from_addr, now, "drift", report.fingerprint)
    msg["Subject"] = drift_subject(target, report)
    lines = _remediation_lines(target)
    text = [f"{summary(report)}.", ""]
    text += [line for line, _ in lines] + [""]
    parts_html = [f"<p>{_e(summary(report))}.</p>"]
    parts_html.append("<p>" + "<br>\n".join(h for _, h in lines) + "</p>")
    for res in report.resources:
        text += _resource_text(res) + [""]
        parts_html.append(_resource_html(res))
    text.append(f"Fingerprint: {report.fingerprint}")
    parts_html.append(f"<p style=\"color:#666\">Fingerprint: {_e(report.fingerprint)}</p>")
    return set_bodies(msg, text, parts_html)


def build_resolved_email(
    namespace: str,
    name: str,
    resources: Sequence[str],
    *,
    to: Sequence[str],
    from_addr: str,
    fingerprint: str = "",
    revision: str = "",
    now: datetime | None = None,
) -> EmailMessage:
    """Follows a drift report once the drift it named is gone (reverted by hand or remediated)."""
    msg = _headers(namespace, name, to, from_addr, now, "resolved", fingerprint)
    msg["Subject"] = resolved_subject(namespace, name, len(resources))
    intro = (
        f"The drift reported for Terraform {namespace}/{name} is gone: the real infrastructure matches "
        "the applied configuration again."
    )
    text = [intro, ""]
    if revision:
        text += [f"Source revision: {revision}", ""]
    text += ["Previously drifted:"] + [f"  - {a}" for a in resources]
    parts_html = [f"<p>{_e(intro)}</p>"]
    if revision:
        parts_html.append(f"<p>Source revision: <code>{_e(revision)}</code></p>")
    parts_html.append("<p>Previously drifted:</p><ul>" + "".join(
        f"<li><code>{_e(a)}</code></li>" for a in resources) + "</ul>")
    return set_bodies(msg, text, parts_html)


def format_value(value: Any) -> str:
    """One attribute value as shown in a mail: JSON, `(sensitive)` kept as is, long values shortened."""
    if value == SENSITIVE:
        return SENSITIVE
    if value is None:
        return "(none)"
    text = json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _headers(
    namespace: str, name: str, to: Sequence[str], from_addr: str, now: datetime | None, kind: str, fp: str
) -> EmailMessage:
    return mail_headers(to=to, from_addr=from_addr, list_id=list_id(namespace, name), kind=kind, now=now,
                        extra={FINGERPRINT_HEADER: fp})


def _remediation_lines(target: DriftTarget) -> list[tuple[str, str]]:
    """(text, html) lines about the source revision and how the drift gets remediated."""
    out: list[tuple[str, str]] = []
    if target.revision:
        out.append((f"Source revision: {target.revision}", f"Source revision: <code>{_e(target.revision)}</code>"))
    if target.plan_id and target.policy_block:  # issue 18: neither auto nor an approval applies it
        out.append((f"Remediation plan: {target.plan_id}", f"Remediation plan: <code>{_e(target.plan_id)}</code>"))
        out.append((target.policy_block, _e(target.policy_block)))
    elif target.auto_remediate:
        msg = "This object has approvePlan: auto, so the drift is being remediated automatically"
        if target.plan_id:
            msg += f" (plan {target.plan_id})"
        out.append((msg + ".", _e(msg) + "."))
    elif target.plan_id:
        hint = approve_hint(target.namespace, target.name, target.plan_id)
        out.append((f"Remediation plan: {target.plan_id}", f"Remediation plan: <code>{_e(target.plan_id)}</code>"))
        out.append(("Approve it to put the resources back as configured:", "Approve it to put the resources back as configured:"))
        out.append((f"  {hint}", f"<pre>{_e(hint)}</pre>"))
    else:
        msg = "A remediation plan is being prepared; it will be listed in the object's status.plan."
        out.append((msg, _e(msg)))
    if target.policy:  # issue 18: each policy's result and the exceptions, under the plan
        out.append(("\n".join(target.policy), "<pre>" + _e("\n".join(target.policy)) + "</pre>"))
    return out


def _change_phrase(res: DriftedResourceLike) -> str:
    outside = "deleted outside Terraform" if res.action == "delete" else f"{res.action} outside Terraform"
    if not res.remediation:
        return outside
    if res.remediation == "no-op":
        return f"{outside}; the plan leaves it as it is (ignored changes)"
    return f"{outside}; the remediation plan will {res.remediation.replace('-', ' then ')} it"


def _resource_text(res: DriftedResourceLike) -> list[str]:
    lines = [f"{res.address}: {_change_phrase(res)}"]
    for c in res.changed_attributes:
        lines.append(f"  {c.path}: {format_value(c.before)} -> {format_value(c.after)}")
    return lines


def _resource_html(res: DriftedResourceLike) -> str:
    head = f"<h3><code>{_e(res.address)}</code></h3><p>{_e(_change_phrase(res))}</p>"
    if not res.changed_attributes:
        return head
    rows = "".join(
        f"<tr><td><code>{_e(c.path)}</code></td><td><code>{_e(format_value(c.before))}</code></td>"
        f"<td>&rarr;</td><td><code>{_e(format_value(c.after))}</code></td></tr>"
        for c in res.changed_attributes
    )
    return head + (
        "<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">"
        "<tr><th>Attribute</th><th>Before</th><th></th><th>After</th></tr>" + rows + "</table>"
    )
