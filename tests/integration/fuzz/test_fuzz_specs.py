"""Bad input at volume (issue 21, slice F): objects of every kind generated from the CRD schemas and then
mutated (tests/support/schema_fuzz.py, a fixed seed), created on the dev cluster while `tfcontroller run`
watches them. What the API server accepts must end with a Ready condition whose reason is CamelCase and
whose message is not empty (Ready=True, or a reason saying what to fix), and the controller's log must hold
no traceback: a spec the controller cannot parse is a condition, never a crash of a worker. The longer run,
with memory measured, is `benchmarks/fuzz.py`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.controllers import ControllerProcess
from tests.support.polling import wait_for
from tests.support.schema_fuzz import generate
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError

pytestmark = pytest.mark.slow

SEED = 2126
COUNT = 70
REASON = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def create_all(kube: KubeClient, objs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Create each object; the ones the API server refuses (400/422) are counted, not kept."""
    accepted, refused = [], 0
    for obj in objs:
        try:
            accepted.append(kube.create(kube.resource_of(obj), obj, "default"))
        except ApiError as exc:
            assert exc.status in (400, 422), f"{obj['metadata']['name']}: unexpected {exc.status}: {exc}"
            refused += 1
    return accepted, refused


def unsettled(kube: KubeClient, accepted: list[dict[str, Any]]) -> list[str]:
    """The accepted objects without a Ready condition that has a CamelCase reason and a message."""
    waiting = []
    for obj in accepted:
        current = kube.get_or_none(kube.resource_of(obj), obj["metadata"]["name"], "default") or {}
        ready = next((c for c in (current.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
                     None)
        if ready is None or not REASON.match(ready.get("reason") or "") or not ready.get("message"):
            waiting.append(f"{obj['kind']}/{obj['metadata']['name']}: {ready}")
    return waiting


def test_fuzzed_specs_end_with_a_condition_and_no_traceback(
        controller_process: Callable[..., ControllerProcess], kube: KubeClient) -> None:
    proc = controller_process()
    proc.wait_ready(timeout=60)
    accepted, refused = create_all(kube, generate(COUNT, SEED))
    assert accepted, "every generated object was refused: the generator no longer follows the schemas"
    last: list[str] = []

    def settled() -> bool:
        last[:] = unsettled(kube, accepted)
        return not last

    try:
        wait_for(settled, timeout=90, what="a Ready condition on every accepted object", interval=0.5)
    except AssertionError:
        raise AssertionError("objects without a clear Ready condition:\n" + "\n".join(last)) from None
    log = proc.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 2000:][:6000]
    assert proc.proc.poll() is None, "the controller exited"
    print(f"fuzz: {len(accepted)} accepted, {refused} refused by the API server")
