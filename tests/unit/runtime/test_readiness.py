"""The one dependency-readiness rule (runtime/readiness.py): Ready=True for the current generation,
else why not — every kind of not-ready a dependant can meet."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.runtime.readiness import Readiness, readiness


def obj(ready: str | None, generation: int | None = 2, observed: int | None = 2, message: str = "m") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x", "namespace": "ns"}
    if generation is not None:
        meta["generation"] = generation
    status: dict[str, Any] = {}
    if observed is not None:
        status["observedGeneration"] = observed
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "reason": "Why", "message": message}]
    return {"metadata": meta, "status": status}


@pytest.mark.parametrize(("o", "expected"), [
    (obj("True"), Readiness(True)),
    (obj("True", observed=None), Readiness(True)),  # no observedGeneration: kstatus trusts Ready
    (obj("True", generation=None), Readiness(True)),
    (obj("True", generation=3, observed=2), Readiness(False, "generation 3 not reconciled yet")),
    (obj("False"), Readiness(False, "Why: m")),
    (obj("False", message=""), Readiness(False, "Why")),
    (obj("Unknown"), Readiness(False, "Why: m")),
    (obj(None), Readiness(False, "not reconciled yet")),
    ({"metadata": {"name": "x"}}, Readiness(False, "not reconciled yet")),
    ({}, Readiness(False, "not reconciled yet")),
])
def test_readiness(o: dict[str, Any], expected: Readiness) -> None:
    assert readiness(o) == expected
    assert bool(readiness(o)) is expected.ready


def test_ready_of_an_older_generation_with_a_failure_reports_the_failure() -> None:
    # a failing Ready of the current spec is the more useful message than the generation lag
    assert readiness(obj("False", generation=3, observed=2)) == Readiness(False, "Why: m")
