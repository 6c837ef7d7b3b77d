"""Terraform resource addresses as `spec.targets[]`, `spec.replace[]` and the `tfcontroller.io/replace`
annotation take them (issue 20), checked before they reach the command line.

Why check at all, when Terraform checks them too: an address that does not parse fails every plan the
same way (a retry cannot help: Stalled with the field named, not a retry loop), and a value that starts
with `-` or holds a newline must never become another argument of `terraform plan`. The grammar is
Terraform's own (addrs.ParseTarget): module steps `module.NAME` with an optional key, then a resource
`[data.]TYPE.NAME` with an optional instance key `[0]` or `["key"]`. A target may stop at a module
(`module.network`); a replacement names a managed resource instance (Terraform refuses `-replace` of a
data source or a module). Pure: no I/O."""

from __future__ import annotations

import re

MAX_ADDRESS = 1024
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_KEY = r'\[(?:[0-9]+|"(?:[^"\\\n]|\\.)*")\]'
_MODULE = rf"module\.{_NAME}(?:{_KEY})?"
_RESOURCE = rf"(?:data\.)?{_NAME}\.{_NAME}(?:{_KEY})?"
_TARGET = re.compile(rf"(?:{_MODULE}\.)*(?:{_MODULE}|{_RESOURCE})")
_INSTANCE = re.compile(rf"(?:{_MODULE}\.)*(?P<type>{_NAME})\.{_NAME}(?:{_KEY})?")


def target_problem(address: str) -> str:
    """Why `address` cannot be a `-target` ("" when it can)."""
    if not address or len(address) > MAX_ADDRESS:
        return f"must be 1 to {MAX_ADDRESS} characters"
    if not _TARGET.fullmatch(address):
        return ('is not a resource address such as aws_s3_bucket.logs, aws_s3_bucket.logs["a"], '
                "module.network or module.network.aws_vpc.main")
    return ""


def replace_problem(address: str) -> str:
    """Why `address` cannot be a `-replace` ("" when it can): a managed resource instance only."""
    if not address or len(address) > MAX_ADDRESS:
        return f"must be 1 to {MAX_ADDRESS} characters"
    match = _INSTANCE.fullmatch(address)
    if match is None or match.group("type") in ("module", "data"):
        return ("is not a managed resource instance such as aws_instance.web, aws_instance.web[0] or "
                "module.app.aws_instance.web (a data source or a whole module cannot be replaced)")
    return ""


def _unquoted(text: str, wanted: str) -> list[int]:
    """The positions of `wanted` in `text` outside a quoted instance key (`a.b["x,y@z"]`, backslash escapes
    inside the quotes): where an annotation value may be split."""
    found: list[int] = []
    quoted = escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == wanted and not quoted:
            found.append(i)
    return found


def split_addresses(text: str) -> tuple[str, ...]:
    """The addresses of a comma-separated annotation value, stripped, empty ones left out. A comma inside
    a quoted instance key (`a.b["x,y"]`) does not split."""
    bounds = [-1, *_unquoted(text, ","), len(text)]
    parts = (text[start + 1:stop].strip() for start, stop in zip(bounds, bounds[1:], strict=False))
    return tuple(a for a in parts if a)


def split_request(text: str) -> tuple[tuple[str, ...], str]:
    """A `tfcontroller.io/replace` annotation value `<address>[,…][@<token>]`: its addresses
    (split_addresses) and its token ("" when there is none). The token is what follows the last `@`
    outside a quoted instance key — an address has no `@` there, so the split is unambiguous; a token
    lets the same addresses be asked for again (a new token is a new request, policy.replace_request)."""
    ats = _unquoted(text, "@")
    if not ats:
        return split_addresses(text), ""
    return split_addresses(text[:ats[-1]]), text[ats[-1] + 1:].strip()
