"""Text every format shares: the readable diff cut to a service's limit with a count of what was left
out, single values shortened, and the facts (label, value) a message lists. One copy, so that every
provider truncates and counts the same way (the drift mail's approve hint once disagreed with itself).
"""

from __future__ import annotations

from collections.abc import Sequence

from tfcontroller.notify.event import Line, NotificationEvent

ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    """`text` within `limit` characters, ending in `…` when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + ELLIPSIS if limit > 0 else ""


def omitted_note(count: int) -> str:
    noun = "line" if count == 1 else "lines"
    return f"… and {count} more {noun} left out (`tfcontroller plan show` shows the whole plan)"


def diff_text(lines: Sequence[Line], limit: int) -> tuple[str, int]:
    """The diff as plain text (two spaces per indent, as plan_view.render_text) within `limit` characters,
    cut at a line boundary, the note counting the left-out lines included in the limit. Returns the text
    and how many lines were left out."""
    rendered = ["  " * ln.indent + ln.text for ln in lines]
    full = "\n".join(rendered)
    if len(full) <= limit:
        return full, 0
    kept: list[str] = []
    size = 0
    for i, line in enumerate(rendered):
        note = omitted_note(len(rendered) - i)
        cost = len(line) + (1 if kept else 0)
        if size + cost + 1 + len(note) > limit:
            break
        kept.append(line)
        size += cost
    left = len(rendered) - len(kept)
    note = omitted_note(left)
    if not kept:  # not even one line fits beside the note: the note alone, shortened if it must be
        return shorten(note, limit), left
    return "\n".join(kept) + "\n" + note, left


def facts(event: NotificationEvent) -> list[tuple[str, str]]:
    """The (label, value) pairs shown beside the message, empty values left out."""
    obj = event.object
    out = [("Object", f"{obj.kind} {obj.namespace}/{obj.name}"), ("Revision", obj.revision),
           ("Reason", event.reason if event.reason != event.type else "")]
    plan = event.plan
    if plan is not None:
        out.append(("Plan", plan.plan_id))
        if event.type == "PlanPending" or plan.has_counts:  # an import- or move-only plan has changes
            out.append(("Changes", plan.counts_text))
        out.append(("Policy", plan.policy_result))
    drift = event.drift
    if drift is not None:
        out.append(("Resources", ", ".join(drift.resources)))
        out.append(("Remediation plan", drift.plan_id))
    return [(k, v) for k, v in out if v]


def approve_text(event: NotificationEvent) -> str:
    """The exact approve commands of a pending plan, one a line ("" for other events)."""
    plan = event.plan
    if event.type != "PlanPending" or plan is None or not plan.approve_command:
        return ""
    cmds = [plan.cli_approve_command, plan.approve_command]
    return "\n".join(c for c in cmds if c)
