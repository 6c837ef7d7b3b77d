"""One pure module per provider type: a scrubbed NotificationEvent in, the JSON document that service
accepts out. No I/O here: delivery is notify/http_delivery.py. `FORMATTERS` is the explicit table the
next session's provider reconciler picks from (no lookup by module name)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfcontroller.notify.event import NotificationEvent
from tfcontroller.notify.formats import discord, flux, msteams, slack, webhook

FORMATTERS: dict[str, Callable[[NotificationEvent], dict[str, Any]]] = {
    "slack": slack.payload,
    "msteams": msteams.payload,
    "discord": discord.payload,
    "webhook": webhook.payload,
    "flux": flux.payload,
}
