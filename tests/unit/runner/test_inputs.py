"""The runner's pure input rules (runner/inputs.py): typed values from Secrets/ConfigMaps, and the
message of a read its ServiceAccount may not do (the field, the object, the server's refusal, the fix)."""

from __future__ import annotations

import pytest

from tfcontroller.runner.inputs import forbidden_message, typed


@pytest.mark.parametrize(("value", "declared", "want"), [
    ("3", "number", 3), ('["a","b"]', "list(string)", ["a", "b"]), ("not json", "number", "not json"),
    ("3", "string", "3"), ("3", None, "3"), ('{"a":1}', "any", '{"a":1}'), ("true", "bool", True),
])
def test_typed(value: str, declared: str | None, want: object) -> None:
    assert typed(value, declared) == want


@pytest.mark.parametrize(("kind", "resource"), [("Secret", "secrets"), ("ConfigMap", "configmaps")])
def test_forbidden_message_names_the_object_the_refusal_and_the_grant(kind: str, resource: str) -> None:
    refusal = f'{resource} "db" is forbidden: User "system:serviceaccount:team-a:tfcontroller-runner" cannot get'
    message = forbidden_message("spec.varsFrom[2]", kind, "team-a", "db", refusal)
    assert message.startswith(f"spec.varsFrom[2]: the runner may not read {kind} team-a/db (")
    assert "system:serviceaccount:team-a:tfcontroller-runner" in message
    assert message.endswith(f"grant its ServiceAccount `get` on {resource} 'db' in namespace team-a "
                            "(the namespace's runner Role)")
