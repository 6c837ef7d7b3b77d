"""One event to one HTTP provider: scrub, format, encode, sign, POST — in that order, in one place.

Why: "every payload is built from already-scrubbed text" must not depend on each caller remembering to
scrub. `request_for` takes the event as the controller built it and the object's secret values, and
scrubs before the formatter runs; the provider's own secrets (the webhook URL, which is the token of
most chat services, and the HMAC key) are added to what is scrubbed, so an echo of them cannot travel
either. `send` is `request_for` plus `http_delivery.post`; the outbox (next step of issue 19) calls it
and keeps the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from tfcontroller.notify.event import NotificationEvent
from tfcontroller.notify.formats import FORMATTERS, webhook
from tfcontroller.notify.http_delivery import DeliveryResult, HTTPTarget, post, url_secrets

HTTP_TYPES: tuple[str, ...] = tuple(sorted(FORMATTERS))  # smtp and ses go through the mail transports
USER_AGENT = "tfcontroller-notify/1"


@dataclass(frozen=True)
class Request:
    """What goes on the wire: the body bytes and the headers (the signature among them for `webhook`)."""

    body: bytes = field(repr=False)
    headers: dict[str, str]


def request_for(provider_type: str, event: NotificationEvent, *, secrets: Iterable[str | None] = (),
                signing_secret: str | None = None, address: str | None = None) -> Request:
    """The request for `event` to a provider of `provider_type`, built from the event scrubbed of
    `secrets`, `address` and `signing_secret` (the provider's `token`). `webhook` signs the body with it
    (HMAC-SHA256); `flux` sends it as `Authorization: Bearer` (a receiver behind an authenticating proxy);
    the chat services have no such header and ignore it."""
    if provider_type not in FORMATTERS:
        raise ValueError(f"no HTTP format for provider type {provider_type!r}; one of {', '.join(HTTP_TYPES)}")
    clean = event.scrubbed([*secrets, *url_secrets(address or ""), signing_secret])
    doc = FORMATTERS[provider_type](clean)
    if provider_type == "webhook":
        body = webhook.encode(doc)
        headers = webhook.headers(clean, body, signing_secret)
    else:
        body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if provider_type == "flux" and signing_secret:
            headers["Authorization"] = f"Bearer {signing_secret}"
    headers["User-Agent"] = USER_AGENT
    return Request(body, headers)


def send(provider_type: str, event: NotificationEvent, target: HTTPTarget, *,
         secrets: Iterable[str | None] = (), signing_secret: str | None = None) -> DeliveryResult:
    """Deliver `event` once to `target`; the result says delivered, retryable (with Retry-After) or
    permanent. Never raises for the network."""
    values = list(secrets)
    req = request_for(provider_type, event, secrets=values, signing_secret=signing_secret, address=target.url)
    return post(target, req.body, req.headers, secrets=[*values, signing_secret])
