"""The one scrub rule (`api/redact.py`): longest secret first, a minimum length, URL userinfo.

Every layer (git errors, Terraform errors, SMTP replies, ManifestSet apply errors) goes through this one
function, so these cases hold for all of them."""

from __future__ import annotations

import pytest

from tfcontroller.api.redact import MIN_SECRET_LENGTH, REDACTED, redact_url, scrub, secrets_in_order


@pytest.mark.parametrize("secrets", [
    ["abcdef", "abcdefgh"],             # the shorter first: the notify copy leaked "gh"
    ["abcdefgh", "abcdef"],
    ["def", "abcdefgh", "abcdef"],      # a suffix and a prefix of the longest
    ["cdefgh", "abcdefgh", None, ""],   # a suffix; empty values ignored
])
def test_overlapping_secrets_leave_nothing_of_either(secrets: list[str | None]) -> None:
    values = [v for v in secrets if v]
    text = " | ".join(f"<{v}>" for v in values)
    assert scrub(text, secrets) == " | ".join(f"<{REDACTED}>" for _ in values)


def test_the_notify_case_abcdef_abcdefgh() -> None:
    out = scrub("user abcdefgh, password abcdef", ["abcdef", "abcdefgh"])
    assert out == "user ***, password ***"
    assert "gh" not in out and "abc" not in out


def test_longest_first_order_and_duplicates() -> None:
    assert secrets_in_order(["abc", "abcdef", "abc", None, ""]) == ["abcdef", "abc"]


def test_short_values_are_left_alone() -> None:
    assert MIN_SECRET_LENGTH == 3
    assert scrub("a banana", ["a"]) == "a banana"
    assert scrub("ab abc", ["ab", "abc"]) == "ab ***"
    assert scrub("key abc!", ["abc"]) == "key ***!"


@pytest.mark.parametrize(("text", "want"), [
    ("fatal: https://user:pw@h/r failed", "fatal: https://***@h/r failed"),
    ("https://TOKEN@h/r", "https://***@h/r"),
    ("HTTP://u:p@h/r", "HTTP://***@h/r"),
    ("ssh://git@h/r", "ssh://git@h/r"),
    ("ssh://git:pw@h/r", "ssh://git:***@h/r"),
    ("git::https://x-token:ghp_123@github.com/o/r.git?ref=v1", "git::https://***@github.com/o/r.git?ref=v1"),
    ("no url here, mail me@example.com", "no url here, mail me@example.com"),
])
def test_url_userinfo_is_redacted_without_knowing_the_value(text: str, want: str) -> None:
    assert scrub(text) == want


def test_known_values_and_urls_together() -> None:
    out = scrub("token s3cret at https://bot:s3cret@h/r", ["s3cret"])
    assert "s3cret" not in out and out == "token *** at https://***@h/r"


def test_redact_url() -> None:
    assert redact_url("https://u:p@h/r.git") == "https://***@h/r.git"
    assert redact_url("https://h/r.git") == "https://h/r.git"
