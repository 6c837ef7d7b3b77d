"""Artifact bounds as settings, end to end (issue 21): a monorepo commit of 6,000 files is refused at
packing with the default bound (ArtifactTooLarge naming the count, spec.ignore and --artifact-max-entries);
with the bound raised (what `tfcontroller run --artifact-max-entries` configures) it packs, the
Terraform controller reads it and a real run — the local runner, a separate process that learns the bound
from its run request — extracts it and applies. Back at the default bound, the controller refuses the same
artifact (Stalled ArtifactTooLarge naming the flag) instead of retrying."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.terraform_helpers import SIMPLE_TF, Harness, ready_reason
from tfcontroller.api import artifact_bounds
from tfcontroller.api import conditions as c
from tfcontroller.api.artifact_bounds import ArtifactBounds
from tfcontroller.source.artifact import build_archive
from tfcontroller.source.errors import ArtifactTooLargeError

FILES = 6_000


@pytest.fixture
def bounds() -> Iterator[None]:
    """The process's bounds are restored whatever the test set."""
    try:
        yield
    finally:
        artifact_bounds.configure(ArtifactBounds())


@pytest.mark.slow
def test_a_raised_bound_lets_a_6000_file_repository_through(harness: Harness, git_file_remote: Any,
                                                             bounds: None, tmp_path: Any) -> None:
    remote = git_file_remote("monorepo")
    files = {f"apps/team{i % 20}/f{i}.txt": "x" for i in range(FILES)}
    commit = remote.commit({"infra/main.tf": SIMPLE_TF, **files})

    with pytest.raises(ArtifactTooLargeError, match=r"more than 5000.*spec\.ignore.*--artifact-max-entries") as err:
        build_archive(remote.bare, commit, tmp_path / "refused.tar.gz")
    assert err.value.reason == "ArtifactTooLarge"

    artifact_bounds.configure(ArtifactBounds(max_entries=10_000))
    harness.publish("src", remote.bare, commit)
    harness.create("mono", path="./infra")
    obj = harness.reconcile_until("mono", lambda o: ready_reason(o) == "True/ApplySucceeded", timeout=120,
                                  what="the apply of a 6,000-file artifact")
    assert obj["status"]["availableOutputs"] == ["greeting"]

    # the same artifact read with the default bound again: refused for good, the flag named
    artifact_bounds.configure(ArtifactBounds())
    harness.patch("mono", {"spec": {"vars": [{"name": "greeting", "value": "salut"}]}})
    obj = harness.reconcile_until("mono", lambda o: c.is_true(o["status"].get("conditions"), c.STALLED),
                                  what="Stalled on the default bound")
    ready = next(x for x in obj["status"]["conditions"] if x["type"] == c.READY)
    assert ready["reason"] == "ArtifactTooLarge" and "--artifact-max-entries" in ready["message"]
