"""The index that re-checks cross-namespace references when a Namespace's labels change (issue 16):
an object lists its own namespace only when its sourceRef or a dependsOn names another namespace."""

from __future__ import annotations

import pytest

from tfcontroller.runtime.access import cross_namespace_index


@pytest.mark.parametrize(("spec", "want"), [
    ({"sourceRef": {"name": "src"}}, []),
    ({"sourceRef": {"name": "src", "namespace": "team-a"}}, []),
    ({"sourceRef": {"name": "src", "namespace": "team-b"}}, ["team-a"]),
    ({"sourceRef": {"name": "src"}, "dependsOn": [{"name": "net"}]}, []),
    ({"sourceRef": {"name": "src"}, "dependsOn": [{"name": "net", "namespace": "team-b"}]}, ["team-a"]),
    ({"sourceRef": {"name": "src"}, "dependsOn": [{"kind": "Terraform", "name": "n", "namespace": "team-a"}]}, []),
    ({}, []),
    ({"dependsOn": ["not-an-object"]}, []),
])
def test_cross_namespace_index(spec: dict, want: list) -> None:
    assert cross_namespace_index({"metadata": {"name": "x", "namespace": "team-a"}, "spec": spec}) == want
