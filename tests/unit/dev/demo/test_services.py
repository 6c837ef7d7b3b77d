"""The demo runs from a clone: `services.ROOT` must be the repository root, whatever folder the demo's
modules sit in (it moved once from tfcontroller/demo/ to tfcontroller/dev/demo/ and pointed into the
package), since the tour reads examples/, modules/, crds/ and localstack/ from there."""

from __future__ import annotations

from tests.support.paths import REPO_ROOT
from tfcontroller.dev.demo import services

REPO = REPO_ROOT


def test_root_is_the_repository_the_tour_reads_from() -> None:
    assert services.ROOT == REPO
    for needed in ("examples", "modules", "crds", "localstack/up.sh", "localstack/down.sh", "pyproject.toml"):
        assert (services.ROOT / needed).exists(), needed
