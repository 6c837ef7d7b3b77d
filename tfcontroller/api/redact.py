"""The one rule for keeping secrets out of messages, status, Events and logs.

Every layer that puts foreign text (git's, Terraform's, an SMTP server's or the API server's) into a
message scrubs it here, so the rules cannot drift apart again (three copies once did, and one leaked a
suffix). It lives in `api/` because `api` imports nothing of ours, so every layer may use it.

The rules:
- Known secret values are replaced by `***`, **longest first**: with the values "abcdef" and "abcdefgh",
  replacing the shorter one first would turn "abcdefgh" into "***gh" and leak its suffix.
- Values shorter than `MIN_SECRET_LENGTH` (3) characters are left alone, on purpose: replacing "a" or
  "ab" wherever it occurs garbles every message (each "a" of a word becomes `***`) and, by the pattern of
  the replacements, shows the value anyway; a value that short protects nothing (a few thousand guesses).
- URL userinfo is redacted whether or not the value is known: `https://user:pw@h` → `https://***@h` (for
  HTTP(S) the user part may be a token, `https://TOKEN@h`, so all of it goes); other schemes (ssh) keep
  the login name, which is not a secret, and lose only the password.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "***"
MIN_SECRET_LENGTH = 3

_URL_USERINFO = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@\s:]*)(?P<password>:[^/@\s]*)?@"
)


def _redact_userinfo(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    if scheme.lower().startswith("http"):
        return scheme + REDACTED + "@"  # `https://TOKEN@host` carries a secret even without a colon
    password = ":" + REDACTED if match.group("password") else ""
    return f"{scheme}{match.group('user')}{password}@"  # an SSH login name is not a secret


def secrets_in_order(secrets: Iterable[str | None]) -> list[str]:
    """The values worth replacing, longest first (so a value that contains another leaks no part)."""
    return sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every known secret value and every URL userinfo secret replaced by `***`."""
    for value in secrets_in_order(secrets):
        text = text.replace(value, REDACTED)
    return _URL_USERINFO.sub(_redact_userinfo, text)


def redact_url(url: str) -> str:
    """A URL fit for logs and status: its userinfo secret replaced."""
    return scrub(url)


def secret_forms(text: str) -> list[str]:
    """A secret text and, when it is a JSON list or object (a Secret key feeding a map variable, which
    Terraform may echo one element of), each string and number in it. Pure."""
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    return [text, *sensitive_texts(value)[1:]] if isinstance(value, dict | list) else [text]


def sensitive_texts(value: Any) -> list[str]:
    """Every text form of `value` a log line may show: itself (JSON for a structure), and its leaves. Pure."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool) or value is None:
        return []  # "true", "null": no secret, and scrubbing them would garble every line
    if isinstance(value, int | float):
        return [str(value)]
    leaves = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else ()
    return [json.dumps(value), *(text for leaf in leaves for text in sensitive_texts(leaf))]
