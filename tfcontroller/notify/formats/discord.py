"""Discord webhook payload: a short `content` line and one embed (title, description with the message
and the diff in a code block, colour by severity, fields, timestamp, link to the plan).

Limits from Discord's documentation (discord.com/developers/docs/resources/webhook, .../message#embed-
limits): content 2000 characters, embed title 256, description 4096, 25 fields of name 256 and value
1024, footer 2048, and 6000 characters across the embed's title, description, field names and values
and footer. `allowed_mentions` is empty, so no text from a plan (`@everyone`, a role) pings anyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfcontroller.notify.event import NotificationEvent
from tfcontroller.notify.formats.text import approve_text, diff_text, facts, shorten

COLORS = {"info": 0x2EB886, "error": 0xA30200}
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
MAX_FIELDS = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
FOOTER = "tfcontroller"
MIN_DESCRIPTION = 1000  # kept for the message and the start of the diff


def _fields(event: NotificationEvent) -> list[dict[str, Any]]:
    out = [{"name": shorten(k, FIELD_NAME_LIMIT), "value": shorten(v, FIELD_VALUE_LIMIT), "inline": len(v) < 40}
           for k, v in facts(event)]
    approve = approve_text(event)
    if approve:
        out.append({"name": "Approve with", "value": shorten(f"```\n{approve}\n```", FIELD_VALUE_LIMIT),
                    "inline": False})
    plan = event.plan
    if plan is not None and plan.policy_result:
        out.append({"name": "Policy check", "value": shorten("\n".join(plan.policy_lines()), FIELD_VALUE_LIMIT),
                    "inline": False})
    return out[:MAX_FIELDS]


def _fit(fields: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The fields within `budget` characters in all: the longest value halved until they fit (a list of
    many resource names must not push the message itself out of the embed)."""
    fields = [dict(f) for f in fields]
    while sum(len(f["name"]) + len(f["value"]) for f in fields) > budget:
        longest = max(fields, key=lambda f: len(f["value"]))
        longest["value"] = shorten(longest["value"], max(1, len(longest["value"]) // 2))
    return fields


def _description(event: NotificationEvent, budget: int) -> str:
    """The message, then the diff in a code block cut to what is left of `budget`."""
    head = shorten(event.message, min(budget, DESCRIPTION_LIMIT))
    plan = event.plan
    room = min(budget, DESCRIPTION_LIMIT) - len(head) - len("\n```diff\n\n```")
    if plan is None or not plan.diff or room < 80:
        return head
    text, _ = diff_text(plan.diff, room)
    return f"{head}\n```diff\n{text}\n```"


def payload(event: NotificationEvent) -> dict[str, Any]:
    """The JSON document to POST to the webhook URL."""
    title = shorten(event.title, TITLE_LIMIT)
    fields = _fit(_fields(event), EMBED_TOTAL_LIMIT - len(title) - len(FOOTER) - MIN_DESCRIPTION)
    used = len(title) + len(FOOTER) + sum(len(f["name"]) + len(f["value"]) for f in fields)
    embed: dict[str, Any] = {
        "title": title,
        "description": _description(event, EMBED_TOTAL_LIMIT - used),
        "color": COLORS[event.severity],
        "fields": fields,
        "timestamp": event.timestamp.isoformat(),
        "footer": {"text": FOOTER},
    }
    plan = event.plan
    if plan is not None and plan.dashboard_url:
        embed["url"] = plan.dashboard_url
    return {
        "content": shorten(event.title, CONTENT_LIMIT),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }


def embed_size(embed: Mapping[str, Any]) -> int:
    """The characters Discord counts against the 6000 limit of an embed."""
    fields = embed.get("fields") or []
    return (len(embed.get("title") or "") + len(embed.get("description") or "")
            + len((embed.get("footer") or {}).get("text") or "")
            + sum(len(f.get("name") or "") + len(f.get("value") or "") for f in fields))
