"""The pure input rule both readers share (terraform/inputs.py `typed`): a `varsFrom` string becomes the
value of a variable of its declared type (JSON decoded unless the type is string/any or unknown, a
non-JSON string kept as written). The reads of Secrets and ConfigMaps run against the dev cluster in
tests/integration/controllers/terraform/test_terraform_inputs.py and tests/integration/runner/."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.terraform.inputs import typed


@pytest.mark.parametrize(("value", "declared", "want"), [
    ("3", None, "3"),
    ("3", "string", "3"),
    ("[1, 2]", "any", "[1, 2]"),
    ('{"a":1}', "any", '{"a":1}'),
    ("3", "number", 3),
    ('["a", "b"]', "list(string)", ["a", "b"]),
    ('{"k": true}', "map(bool)", {"k": True}),
    ("true", "bool", True),
    ("not json", "number", "not json"),
    ("", "list(string)", ""),
])
def test_vars_from_string_is_typed_by_the_declared_type(value: str, declared: str | None, want: Any) -> None:
    assert typed(value, declared) == want
