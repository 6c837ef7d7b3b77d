"""A mail as its receiver reads it: parsed from the bytes sent, every header and every part decoded.

Why: checking that a secret is absent from the raw bytes is not enough when a part is quoted-printable or
base64 (a soft line break can split a value); tests that look for a value, or its absence, read this."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser


def decoded(raw: bytes) -> tuple[EmailMessage, str]:
    """The parsed message, and its headers and every non-multipart part's content as one text."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    texts = [f"{name}: {value}" for name, value in msg.items()]
    texts += [str(part.get_content()) for part in msg.walk() if not part.is_multipart()]
    return msg, "\n".join(texts)
