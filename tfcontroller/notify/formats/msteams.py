"""Microsoft Teams payload: an Adaptive Card in the `message` envelope that Teams Workflows ("Post to a
channel when a webhook request is received", the successor of Office 365 connectors) and the legacy
Incoming Webhook both accept:

    {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
      "contentUrl": null, "content": {"type": "AdaptiveCard", "version": "1.4", "body": [...]}}]}

Card version 1.4: Teams renders up to 1.5 on desktop and fewer on mobile; 1.4 has everything used
here (TextBlock, FactSet, Action.OpenUrl). A Teams message is limited to about 28 KB, so the diff is cut
to `DIFF_LIMIT` characters with a count of what was left out. Text is not Markdown-escaped: Teams
documents no escape in TextBlock's Markdown subset (backslashes would show), so the diff, the policy
lines and the commands go in monospace blocks, where a reviewer reads them as code.
"""

from __future__ import annotations

from typing import Any

from tfcontroller.notify.event import NotificationEvent
from tfcontroller.notify.formats.text import approve_text, diff_text, facts, shorten

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
COLORS = {"info": "Good", "error": "Attention"}
DIFF_LIMIT = 12000
TEXT_LIMIT = 4000
def _text(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


def card(event: NotificationEvent) -> dict[str, Any]:
    """The Adaptive Card itself."""
    body: list[dict[str, Any]] = [
        _text(shorten(event.title, 300), weight="Bolder", size="Medium", color=COLORS[event.severity]),
        _text(shorten(event.message, TEXT_LIMIT)),
    ]
    pairs = facts(event)
    if pairs:
        body.append({"type": "FactSet", "facts": [{"title": k, "value": shorten(v, 1000)} for k, v in pairs]})
    plan = event.plan
    if plan is not None and plan.diff:
        body.append(_text(diff_text(plan.diff, DIFF_LIMIT)[0], fontType="Monospace", spacing="Medium"))
    if plan is not None and plan.policy_result:
        body.append(_text(shorten("\n".join(plan.policy_lines()), TEXT_LIMIT), fontType="Monospace"))
    approve = approve_text(event)
    if approve:
        body.append(_text("Approve with:", weight="Bolder"))
        body.append(_text(approve, fontType="Monospace"))
    doc: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION, "body": body,
                           "msteams": {"width": "Full"}}
    if plan is not None and plan.dashboard_url:
        doc["actions"] = [{"type": "Action.OpenUrl", "title": "Open the plan", "url": plan.dashboard_url}]
    return doc


def payload(event: NotificationEvent) -> dict[str, Any]:
    """The JSON document to POST to the workflow's (or incoming webhook's) URL."""
    return {"type": "message", "attachments": [
        {"contentType": CONTENT_TYPE, "contentUrl": None, "content": card(event)}]}
