"""Slack incoming-webhook payload: `text` (the notification and fallback), Block Kit `blocks`, and an
attachment whose colour bar says the severity (green info, red error).

Limits from Slack's documentation (api.slack.com/reference/block-kit): a header's plain text 150
characters, a section's text 3000, a section's fields 10 of 2000 each, 50 blocks a message, a button's
text 75 and URL 3000. Text is mrkdwn, so `&`, `<` and `>` are escaped: a resource name such as
`<!channel>` must not ping a channel, nor a value become a link.
"""

from __future__ import annotations

from typing import Any

from tfcontroller.notify.event import NotificationEvent
from tfcontroller.notify.formats.text import approve_text, diff_text, facts, shorten

COLORS = {"info": "#2eb886", "error": "#a30200"}
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
_CODE_FENCE = 8  # two ``` fences and their newlines


def escape(text: str) -> str:
    """Slack's three control characters, as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": shorten(text, SECTION_LIMIT)}}


def _code(text: str) -> dict[str, Any]:
    return _section(f"```\n{text}\n```")


def _escaped_diff(event: NotificationEvent) -> str:
    """The diff escaped and within one section: cut first, then shrink the budget until escaping
    (which lengthens `&`, `<`, `>`) still fits."""
    plan = event.plan
    if plan is None or not plan.diff:
        return ""
    budget = SECTION_LIMIT - _CODE_FENCE
    while True:
        text = escape(diff_text(plan.diff, budget)[0])
        if len(text) <= SECTION_LIMIT - _CODE_FENCE or budget < 100:
            return shorten(text, SECTION_LIMIT - _CODE_FENCE)
        budget -= len(text) - (SECTION_LIMIT - _CODE_FENCE)


def payload(event: NotificationEvent) -> dict[str, Any]:
    """The JSON document to POST to the webhook URL."""
    detail: list[dict[str, Any]] = []
    pairs = facts(event)[:MAX_FIELDS]
    if pairs:
        detail.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": shorten(f"*{escape(k)}*\n{escape(v)}", FIELD_LIMIT)} for k, v in pairs]})
    diff = _escaped_diff(event)
    if diff:
        detail.append(_code(diff))
    plan = event.plan
    if plan is not None and plan.policy_result:
        detail.append(_code(escape("\n".join(plan.policy_lines()))))
    approve = approve_text(event)
    if approve:
        detail.append(_section("*Approve with*"))
        detail.append(_code(escape(approve)))
    if plan is not None and plan.dashboard_url:
        detail.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open the plan"},
            "url": shorten(plan.dashboard_url, 3000)}]})
    return {
        "text": shorten(escape(f"{event.title}: {event.message}"), SECTION_LIMIT),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": shorten(event.title, HEADER_LIMIT)}},
            _section(escape(event.message)),
        ],
        "attachments": [{"color": COLORS[event.severity], "blocks": detail}],
    }
