"""The e-mail for one notification event (issue 19's smtp and ses providers): every event type, the same
facts as the chat formats, as a multipart/alternative message (plain text, then the same as HTML).

Why here and not in notify/formats/: the formats build JSON documents for HTTP; a mail is a MIME message
with headers that make it behave in clients (notify/mail_parts.py, shared with the drift report). The
facts, the diff cut with its "… and N more lines left out" note and the approve commands come from
notify/formats/text.py, so a mail and a Slack message never disagree about what they say.

The event is scrubbed by the caller (notify/mail_delivery.send, the one door); every value that reaches
the HTML part is escaped, and the plan link is only made a link when it is an http(s) URL.

The Message-ID is derived from the event (its fingerprint and time), so a retry after an answer that got
lost is the same message to clients, while the same drift coming back later is a new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import urlsplit

from tfcontroller.api.times import format_rfc3339
from tfcontroller.notify.event import NotificationEvent
from tfcontroller.notify.formats.text import approve_text, diff_text, facts
from tfcontroller.notify.mail_parts import MSGID_DOMAIN, esc, mail_headers, set_bodies

MAIL_DIFF_LIMIT = 20_000  # characters of readable plan in a mail; the rest is counted, not sent
EVENT_FINGERPRINT_HEADER = "X-Tfcontroller-Event-Fingerprint"
SEVERITY_HEADER = "X-Tfcontroller-Severity"
_COLORS = {"info": "#2eb886", "error": "#a30200"}


def event_list_id(event: NotificationEvent) -> str:
    """One List-Id per object (RFC 2919), so a user can filter or mute one Terraform or ManifestSet."""
    obj = event.object
    return (f"Notifications for {obj.kind} {obj.namespace}/{obj.name} "
            f"<{obj.name}.{obj.namespace}.{obj.kind.lower()}.notifications.tfcontroller.io>")


def event_message_id(event: NotificationEvent) -> str:
    """A Message-ID stable for this event (fingerprint and time): the same across retries, new when the
    same fingerprint is news again later."""
    when = format_rfc3339(event.timestamp)  # what the outbox record keeps (seconds): stable across a restart
    digest = hashlib.sha256(f"{event.fingerprint}\n{when}".encode()).hexdigest()[:32]
    return f"<{digest}@{MSGID_DOMAIN}>"


def build_event_email(
    event: NotificationEvent, *, to: Sequence[str], from_addr: str, now: datetime | None = None
) -> EmailMessage:
    """The mail for `event` (already scrubbed) to `to`, from `from_addr`. Subject = the event's title."""
    msg = mail_headers(
        to=to, from_addr=from_addr, list_id=event_list_id(event), kind=event.type, now=now,
        message_id=event_message_id(event),
        extra={EVENT_FINGERPRINT_HEADER: event.fingerprint, SEVERITY_HEADER: event.severity})
    msg["Subject"] = event.title
    text: list[str] = [event.message, ""]
    parts: list[str] = [f"<p style=\"border-left:4px solid {_COLORS[event.severity]};padding-left:8px\">"
                        f"{esc(event.message)}</p>"]
    for add_text, add_html in (_facts(event), _resources(event), _approve(event), _link(event),
                               _policy(event), _diff(event)):
        text += add_text
        parts += add_html
    text.append(f"Event: {event.type} ({event.severity}) at {format_rfc3339(event.timestamp)}")
    parts.append(f"<p style=\"color:#666\">Event: {esc(event.type)} ({esc(event.severity)}) at "
                 f"{esc(format_rfc3339(event.timestamp))}</p>")
    return set_bodies(msg, text, parts)


Block = tuple[list[str], list[str]]  # (text lines, HTML parts) of one section of the mail


def _facts(event: NotificationEvent) -> Block:
    pairs = [(k, v) for k, v in facts(event) if k != "Resources"]  # resources get a list of their own
    if not pairs:
        return [], []
    width = max(len(k) for k, _ in pairs) + 1
    rows = "".join(f"<tr><th align=\"left\">{esc(k)}</th><td><code>{esc(v)}</code></td></tr>" for k, v in pairs)
    return [f"{k + ':':<{width}} {v}" for k, v in pairs] + [""], [f"<table cellpadding=\"2\">{rows}</table>"]


def _resources(event: NotificationEvent) -> Block:
    drift = event.drift
    if drift is None or not drift.resources:
        return [], []
    head = "Previously drifted:" if event.type == "DriftResolved" else "Changed outside Terraform:"
    items = "".join(f"<li><code>{esc(a)}</code></li>" for a in drift.resources)
    return [head, *(f"  - {a}" for a in drift.resources), ""], [f"<p>{esc(head)}</p><ul>{items}</ul>"]


def _approve(event: NotificationEvent) -> Block:
    commands = approve_text(event)
    if not commands:
        return [], []
    lines = commands.splitlines()
    return (["Approve with one of:", *(f"  {c}" for c in lines), ""],
            ["<p>Approve with one of:</p>", f"<pre>{esc(commands)}</pre>"])


def _link(event: NotificationEvent) -> Block:
    plan = event.plan
    url = plan.dashboard_url if plan is not None else ""
    if not url:
        return [], []
    if urlsplit(url).scheme not in ("http", "https"):  # never a javascript: or data: link
        return [f"The plan's page: {url}", ""], [f"<p>The plan's page: <code>{esc(url)}</code></p>"]
    return [f"Open the plan: {url}", ""], [f"<p><a href=\"{esc(url)}\">Open the plan</a></p>"]


def _policy(event: NotificationEvent) -> Block:
    plan = event.plan
    lines = plan.policy_lines() if plan is not None else []
    if not lines:
        return [], []
    return [*lines, ""], ["<pre>" + esc("\n".join(lines)) + "</pre>"]


def _diff(event: NotificationEvent) -> Block:
    plan = event.plan
    if plan is None or not plan.diff:
        return [], []
    body, _left = diff_text(plan.diff, MAIL_DIFF_LIMIT)
    return ["Planned changes:", body, ""], ["<p>Planned changes:</p>", f"<pre>{esc(body)}</pre>"]
