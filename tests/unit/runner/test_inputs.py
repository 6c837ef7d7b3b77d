"""The runner's own pure input rule (runner/inputs.py): the message of a read its ServiceAccount may not
do (the field, the object, the server's refusal, the fix). The typing of values it shares with the
controller is tested in tests/unit/terraform/test_inputs.py."""

from __future__ import annotations

import pytest

from tfcontroller.runner.inputs import forbidden_message


@pytest.mark.parametrize(("kind", "resource"), [("Secret", "secrets"), ("ConfigMap", "configmaps")])
def test_forbidden_message_names_the_object_the_refusal_and_the_grant(kind: str, resource: str) -> None:
    refusal = f'{resource} "db" is forbidden: User "system:serviceaccount:team-a:tfcontroller-runner" cannot get'
    message = forbidden_message("spec.varsFrom[2]", kind, "team-a", "db", refusal)
    assert message.startswith(f"spec.varsFrom[2]: the runner may not read {kind} team-a/db (")
    assert "system:serviceaccount:team-a:tfcontroller-runner" in message
    assert message.endswith(f"grant its ServiceAccount `get` on {resource} 'db' in namespace team-a "
                            "(the namespace's runner Role)")
