"""The notification controller tests' environment: one dev cluster and one manager per test module (the
module's tests use a namespace each), shared by every module of this folder through this one fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.notifications import NotifyEnv
from tfcontroller.dev.cluster import DevCluster


@pytest.fixture(scope="module")
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotifyEnv]:
    with DevCluster() as cluster:
        environment = NotifyEnv(cluster, tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))
        try:
            yield environment
        finally:
            environment.close()
