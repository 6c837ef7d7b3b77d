"""The fuzz generator (tests/support/schema_fuzz.py): the same seed gives the same objects, every kind is
drawn, unmutated values follow the schema's own constraints (enum, pattern), and `hermetic` points every
resolvable URL host at a closed loopback port while leaving hosts no resolver accepts for the parsers."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.schema_fuzz import from_schema, generate, hermetic, load_crds


def test_same_seed_same_objects_every_kind() -> None:
    first = generate(14, 5)
    assert first == generate(14, 5)
    assert {o["kind"] for o in first} == set(load_crds())
    assert len({o["metadata"]["name"] for o in first}) == 14


@settings(max_examples=30, deadline=None, database=None)
@given(st.data())
def test_schema_constraints_hold_before_mutation(data: st.DataObject) -> None:
    schema = {"type": "object", "required": ["mode", "interval"], "properties": {
        "mode": {"type": "string", "enum": ["a", "b"]},
        "interval": {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"},
        "count": {"type": "integer", "minimum": 1, "maximum": 5}}}
    value = data.draw(from_schema(schema))
    assert value["mode"] in ("a", "b")
    assert re.fullmatch(r"([0-9]+(\.[0-9]+)?(ms|s|m|h))+", value["interval"])
    assert 1 <= value.get("count", 1) <= 5


@pytest.mark.parametrize(("given_url", "want"), [
    ("https://github.com/org/repo", "https://127.0.0.1:1/org/repo"),
    ("ssh://git@host:22/r", "ssh://git@127.0.0.1:1/r"),
    ("git@github.com:o/r.git", "git@127.0.0.1:o/r.git"),
    ("http://65397", "http://127.0.0.1:1"),
    ("file:///srv/repo", "file:///srv/repo"),
    ("https://W\u00a0O0t=/p", "https://W\u00a0O0t=/p"),
])
def test_hermetic(given_url: str, want: str) -> None:
    assert hermetic({"a": [given_url]}) == {"a": [want]}
