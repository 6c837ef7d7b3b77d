"""What `tfcontroller outputs` reveals (`ops_outputs.output_rows`, pure): plain values as they are,
sensitive ones only with --show-sensitive, every value hidden while the sensitive marks are unknown, and
a placeholder saying why a value is missing (not in the Secret, Secret not readable)."""

from __future__ import annotations

from tfcontroller.cli.ops_outputs import NOT_STORED, SENSITIVE, UNREADABLE, by_output_name, output_rows

STATUS = {"availableOutputs": ["arn", "name", "password"], "sensitiveOutputs": ["password"]}
VALUES = {"arn": "arn:x", "name": "acme", "password": "hunter2"}


def _cells(rows: list) -> dict[str, tuple[bool, str]]:
    return {r.name: (r.sensitive, r.cell()) for r in rows}


def test_plain_values_shown_sensitive_marked() -> None:
    assert _cells(output_rows(STATUS, VALUES, readable=True, show_sensitive=False)) == {
        "arn": (False, "arn:x"), "name": (False, "acme"), "password": (True, SENSITIVE)}
    hidden = output_rows(STATUS, VALUES, readable=True, show_sensitive=False)[2]
    assert hidden.as_dict() == {"sensitive": True, "inSecret": True}  # not even an empty value


def test_show_sensitive_reveals_them() -> None:
    assert _cells(output_rows(STATUS, VALUES, readable=True, show_sensitive=True))["password"] == (True, "hunter2")


def test_unknown_marks_hide_everything() -> None:
    rows = output_rows({"availableOutputs": ["arn"]}, {"arn": "arn:x"}, readable=True, show_sensitive=False)
    assert _cells(rows) == {"arn": (True, SENSITIVE)}


def test_missing_and_unreadable_values_say_why() -> None:
    partial = output_rows(STATUS, {"name": "acme"}, readable=True, show_sensitive=True)
    assert _cells(partial) == {"arn": (False, NOT_STORED), "name": (False, "acme"), "password": (True, NOT_STORED)}
    assert {c for _, c in _cells(output_rows(STATUS, None, readable=False, show_sensitive=False)).values()} == {
        UNREADABLE}
    assert _cells(output_rows(STATUS, None, readable=True, show_sensitive=False))["name"] == (False, NOT_STORED)


def test_secret_keys_not_in_status_are_listed_and_newlines_kept_on_one_line() -> None:
    rows = output_rows({"sensitiveOutputs": []}, {"pem": "a\nb"}, readable=True, show_sensitive=False)
    assert _cells(rows) == {"pem": (False, "a\\nb")}
    assert rows[0].as_dict()["value"] == "a\nb"


def test_renamed_outputs_are_read_from_their_keys() -> None:
    """Issue 20: the Secret holds a renamed output (`output:key`) under its key; rows are by output name."""
    values = by_output_name({"network_id": "vpc-1", "name": "acme"}, {"vpc_id": "network_id", "gone": "absent"})
    assert values == {"vpc_id": "vpc-1", "name": "acme"}
    assert by_output_name(None, {"a": "b"}) is None and by_output_name({"a": "1"}, {}) == {"a": "1"}
    rows = output_rows({"availableOutputs": ["gone", "vpc_id"], "sensitiveOutputs": []}, values, readable=True,
                       show_sensitive=False)
    assert _cells(rows) == {"gone": (False, NOT_STORED), "vpc_id": (False, "vpc-1"), "name": (False, "acme")}
