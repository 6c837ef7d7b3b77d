"""The parts every mail we send shares: the headers, the HTML page around a body, HTML escaping, and the
multipart/alternative shape (plain text first, HTML second, the same content).

Why a module of its own: the drift report (notify/report.py) and the notification mails of issue 19
(notify/mail_event.py) must behave alike in clients and filters; one copy of the headers keeps them so:
a unique Message-ID without an idstring (a longer id is folded onto a continuation line, which some MTAs
mangle), Date, a List-Id per object (users filter or mute one object), Auto-Submitted (vacation
responders stay quiet) and our own `X-Tfcontroller-*` headers naming what the mail is.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

MSGID_DOMAIN = "tfcontroller.local"
KIND_HEADER = "X-Tfcontroller-Notification"


def mail_headers(
    *,
    to: Sequence[str],
    from_addr: str,
    list_id: str,
    kind: str,
    now: datetime | None = None,
    message_id: str = "",
    extra: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A new message with the shared headers; `message_id` when the caller wants a stable one (a retry
    of the same notification then carries the same id, so clients show it once), else a fresh one."""
    msg = EmailMessage()
    msg["From"] = from_addr
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = message_id or make_msgid(domain=MSGID_DOMAIN)
    msg["List-Id"] = list_id
    msg["Auto-Submitted"] = "auto-generated"
    msg[KIND_HEADER] = kind
    for name, value in (extra or {}).items():
        if value:
            msg[name] = value
    return msg


def set_bodies(msg: EmailMessage, text_lines: Sequence[str], html_parts: Sequence[str]) -> EmailMessage:
    """Make `msg` multipart/alternative: the plain text, then the same content as an HTML page titled
    with the message's subject (set the Subject first)."""
    msg.set_content("\n".join(text_lines) + "\n")
    msg.add_alternative(html_page(str(msg["Subject"] or ""), html_parts), subtype="html")
    return msg


def html_page(title: str, parts: Sequence[str]) -> str:
    """A minimal HTML document around already-escaped `parts`."""
    body = "\n".join(parts)
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{esc(title)}</title></head>"
        f"<body style=\"font-family:sans-serif\">\n{body}\n</body></html>\n"
    )


def esc(text: str) -> str:
    """HTML-escape every value that reaches an HTML part (quotes too: values land in attributes)."""
    return html.escape(text, quote=True)
