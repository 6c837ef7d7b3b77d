"""notify.dispatch.request_for: the body is the formatter's output for the *scrubbed* event (the caller
cannot skip the scrub), the provider's own address and signing key are scrubbed too, only `webhook`
is signed, and a type without an HTTP format is refused by name."""

from __future__ import annotations

import json

import pytest

from tfcontroller.notify import dispatch
from tfcontroller.notify import event as ev
from tfcontroller.notify.formats import FORMATTERS, webhook

OBJ = ev.ObjectRef("Terraform", "team-a", "bucket", "uid-1")
URL = "https://hooks.slack.com/services/T0/B0/TOKENtoken"


@pytest.mark.parametrize("provider", sorted(FORMATTERS))
def test_body_is_the_format_of_the_scrubbed_event(provider: str) -> None:
    raw = ev.simple_event("Stalled", OBJ, f"bad spec: pw-12345 at {URL} key hmac-key-1 (path /services/T0/B0/TOKENtoken)")
    req = dispatch.request_for(provider, raw, secrets=["pw-12345"], signing_secret="hmac-key-1", address=URL)
    want = FORMATTERS[provider](raw.scrubbed(["pw-12345", URL, "/services/T0/B0/TOKENtoken", "hmac-key-1"]))
    assert json.loads(req.body) == want
    for secret in ("pw-12345", "TOKENtoken", "hmac-key-1"):
        assert secret.encode() not in req.body
    assert (webhook.SIGNATURE_HEADER in req.headers) == (provider == "webhook")
    assert req.headers["Content-Type"] == "application/json"


def test_unsigned_webhook_without_a_secret() -> None:
    req = dispatch.request_for("webhook", ev.simple_event("Stalled", OBJ, "m"))
    assert webhook.SIGNATURE_HEADER not in req.headers


@pytest.mark.parametrize("provider", ["smtp", "ses", "Slack", "teams", ""])
def test_a_type_without_an_http_format_is_refused(provider: str) -> None:
    with pytest.raises(ValueError, match="no HTTP format for provider type"):
        dispatch.request_for(provider, ev.simple_event("Stalled", OBJ, "m"))


@pytest.mark.parametrize("provider", sorted(FORMATTERS))
def test_the_token_is_a_bearer_header_for_flux_only(provider: str) -> None:
    req = dispatch.request_for(provider, ev.simple_event("Stalled", OBJ, "m"), signing_secret="tok-1")
    want = "Bearer tok-1" if provider == "flux" else None
    assert req.headers.get("Authorization") == want


def test_flux_without_a_token_sends_no_authorization() -> None:
    req = dispatch.request_for("flux", ev.simple_event("Stalled", OBJ, "m"))
    assert "Authorization" not in req.headers
