"""The runner's log lines (runner/output.py) and the text forms of sensitive values (runner/execute.py),
on plain messages: what a message of Terraform's `-json` stream prints, what a diagnostic adds (position,
address, detail; never the snippet's values), the start/end lines, and which forms of a sensitive value
are scrubbed."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.redact import secret_forms, sensitive_texts
from tfcontroller.runner.output import RunOutput, ended_line, message_lines, started_line

DIAGNOSTIC: dict[str, Any] = {
    "@level": "error", "@message": "Error: Invalid function argument", "type": "diagnostic",
    "diagnostic": {"severity": "error", "summary": "Invalid function argument",
                   "detail": 'cannot convert "x" to number;\nsecond line', "address": "terraform_data.a",
                   "range": {"filename": "main.tf", "start": {"line": 11, "column": 3}},
                   "snippet": {"code": "input = tonumber(var.secret)",
                               "values": [{"traversal": "var.secret", "statement": 'is "VALUE"'}]}},
}


@pytest.mark.parametrize(("message", "want"), [
    ({"@message": "terraform_data.a: Plan to create", "type": "planned_change"},
     ["plan: terraform_data.a: Plan to create"]),
    ({"@message": "first\n\nsecond  ", "type": "log"}, ["plan: first", "plan: second"]),
    ({"@message": "", "type": "log"}, []),
    ({"type": "log"}, []),
    ({"@message": 3, "type": "log"}, []),
    (DIAGNOSTIC, ["plan: Error: Invalid function argument", "plan:   on main.tf line 11, in terraform_data.a",
                  'plan:   cannot convert "x" to number;', "plan:   second line"]),
    ({"type": "diagnostic", "diagnostic": {"severity": "warning", "summary": "Deprecated"}},
     ["plan: Warning: Deprecated"]),
    ({"type": "diagnostic", "@message": "Error: No range", "diagnostic": {"summary": "No range", "detail": "d",
                                                                          "range": {"filename": "x.tf"}}},
     ["plan: Error: No range", "plan:   on x.tf", "plan:   d"]),
])
def test_message_lines(message: dict[str, Any], want: list[str]) -> None:
    assert message_lines("plan", message) == want


def test_a_diagnostic_never_prints_the_snippet_values() -> None:
    assert not any("VALUE" in line or "tonumber" in line for line in message_lines("plan", DIAGNOSTIC))


def test_start_and_end_lines() -> None:
    assert started_line("apply") == "terraform apply: started"
    assert ended_line("plan", 2, 1.234) == "terraform plan: exit 2 after 1.2s"
    assert ended_line("apply", -9, 30) == "terraform apply: killed by signal 9 after 30.0s"


def test_run_output_prints_through_its_line_function() -> None:
    printed: list[str] = []
    out = RunOutput(printed.append)
    out.started("init")
    out.message("init", {"@message": "Initializing"})
    out.ended("init", 0, 0.5)
    assert printed == ["terraform init: started", "init: Initializing", "terraform init: exit 0 after 0.5s"]


@pytest.mark.parametrize(("value", "want"), [
    ("s3cret", ["s3cret"]),
    (12345, ["12345"]),
    (True, []),
    (None, []),
    ({"k": "elem", "n": 7}, ['{"k": "elem", "n": 7}', "elem", "7"]),
    (["a1", ["b2"]], ['["a1", ["b2"]]', "a1", '["b2"]', "b2"]),
])
def test_sensitive_texts_cover_a_value_and_its_elements(value: Any, want: list[str]) -> None:
    assert sensitive_texts(value) == want


@pytest.mark.parametrize(("text", "want"), [
    ("plain-secret", ["plain-secret"]),
    ('{"password": "db-pass", "port": 5432, "tls": true}', ['{"password": "db-pass", "port": 5432, "tls": true}',
                                                           "db-pass", "5432"]),
    ('["a-one", {"b": "b-two"}]', ['["a-one", {"b": "b-two"}]', "a-one", '{"b": "b-two"}', "b-two"]),
    ("12345", ["12345"]),  # JSON, but no structure: the text itself
    ("{not json", ["{not json"]),
])
def test_secret_forms_cover_the_elements_of_a_json_secret(text: str, want: list[str]) -> None:
    assert secret_forms(text) == want
