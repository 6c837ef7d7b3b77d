"""`artifact_relative`: the one normalisation of a path inside an artifact (spec.path), used by the
module digest, the module reads, reading module files from the tarball and resolving the run directory."""

from __future__ import annotations

import pytest

from tfcontroller.api.refs import artifact_relative


@pytest.mark.parametrize(("path", "want"), [
    ("", ""), (".", ""), ("./", ""), ("/", ""), (None, ""), ("  ", ""),
    ("infra/tf", "infra/tf"), ("./infra/tf/", "infra/tf"), ("/infra", "infra"), (" infra ", "infra"),
    ("a/./b/../c", "a/c"), ("a/..", ""), ("a//b", "a/b"), ("..a", "..a"),
])
def test_normalised(path: str | None, want: str) -> None:
    assert artifact_relative(path) == want


@pytest.mark.parametrize("path", ["..", "../", "../x", "a/../..", "./../x", "/../x"])
def test_leaving_the_artifact_is_none(path: str) -> None:
    assert artifact_relative(path) is None
