"""Fuzz that reaches real Terraform runs (issue 21, slice D): Terraform objects from
schema_fuzz.runnable_spec (a fixed seed) name a real GitRepository (a file:// remote holding
schema_fuzz.RUNNABLE_MODULE: `terraform_data`, variables of several types, a validated one, an output and
a sensitive output) and keep every field the controller checks well-formed except a few, which take hostile
values: vars and their Secret/ConfigMap sources (wrong types, huge, unicode, NUL, HCL-looking text, deep
JSON), path, workspace, backend, targets/replace, tfVarsFiles, CLI configuration, file mappings, approval,
destroy, planOnly, retries, durations, runnerPod, env. `tfcontroller run --runner local` reconciles them with
the real `terraform`.

Asserted, as the issue asks: no traceback in the controller's log; every object the API accepts settles
with a Ready condition (a CamelCase reason and a message, no work in flight), never a generic
`TerraformFailed` for what the input caused (only a connection or timeout failure may be one); no retry
loop — an object that is not Ready runs at most a few plans, and none while it is Stalled; no value of a
Secret in the log, a status or an Event; the work directory bounded once runs end. The reasons seen are printed with counts.
The longer run, with memory measured, is `benchmarks/fuzz.py --terraform`."""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.controllers import ControllerProcess
from tests.support.fuzz_runs import (
    TRANSIENT,
    disk_usage,
    leaks,
    module_repository,
    outcome,
    planning_runs,
    set_up,
    source_ready,
    terraform_runs,
)
from tests.support.polling import poll, wait_for
from tests.support.schema_fuzz import generate_runnable
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError
from tfcontroller.kube.resources import TERRAFORMS

pytestmark = pytest.mark.slow

SEED = 2126
COUNT = 20
# Plans/applies an object that is not Ready may have run: a first attempt, a retry or two (a stale plan is
# planned again once) — a retry loop on input that can never succeed shows as many more.
MAX_PLANNING = 4
WORK_BOUND = 64 << 20  # run directories are removed with their run: what stays is the artifact cache


def create_all(kube: KubeClient, objs: list[dict[str, Any]]) -> tuple[list[str], int]:
    accepted, refused = [], 0
    for obj in objs:
        try:
            kube.create(TERRAFORMS, obj, "default")
            accepted.append(obj["metadata"]["name"])
        except ApiError as exc:
            assert exc.status in (400, 422), f"{obj['metadata']['name']}: unexpected {exc.status}: {exc}"
            refused += 1
    return accepted, refused


def message_of(kube: KubeClient, name: str) -> str:
    obj = kube.get_or_none(TERRAFORMS, name, "default") or {}
    ready = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {})
    return str(ready.get("message") or "")


def describe(kube: KubeClient, name: str, spec: dict[str, Any]) -> str:
    """An object's spec and conditions, for a failure message."""
    obj = kube.get_or_none(TERRAFORMS, name, "default") or {}
    conditions = [{k: c.get(k) for k in ("type", "status", "reason", "message")}
                  for c in (obj.get("status") or {}).get("conditions") or []]
    return f"{name}: spec={json.dumps(spec)[:1500]}\n  conditions={json.dumps(conditions)[:2000]}"


def test_fuzzed_terraform_objects_reach_terraform_and_settle(
        controller_process: Callable[..., ControllerProcess], kube: KubeClient, tmp_path: Path) -> None:
    set_up(kube, module_repository(tmp_path / "git"))
    work = tmp_path / "work"
    proc = controller_process("--terraform-work-dir", str(work))
    proc.wait_ready(timeout=60)
    wait_for(lambda: source_ready(kube), timeout=60, what="the fuzz source's artifact")
    objs = generate_runnable(COUNT, SEED)
    started = time.monotonic()
    accepted, refused = create_all(kube, objs)
    assert accepted, "every generated object was refused: the generator no longer follows the schema"
    outcomes: dict[str, str | None] = {}
    specs = {obj["metadata"]["name"]: obj["spec"] for obj in objs}

    def settled() -> bool:
        for name in accepted:
            outcomes[name] = outcome(kube.get_or_none(TERRAFORMS, name, "default") or {})
        return all(outcomes.values())

    try:
        wait_for(settled, timeout=100, what="a settled Ready condition on every accepted object", interval=0.5)
    except AssertionError:
        raise AssertionError("not settled:\n" + "\n".join(
            describe(kube, name, specs[name]) for name, o in outcomes.items() if not o)) from None
    reasons = collections.Counter(o for o in outcomes.values())
    runs = terraform_runs(proc.log_path.read_text(errors="replace"))
    reached = sum(1 for name in accepted if runs.get(f"default/{name}"))
    print(f"\nfuzz terraform: {len(accepted)} accepted, {refused} refused, {reached} reached terraform, settled in "
          f"{time.monotonic() - started:.0f} s; reasons:")
    for key, n in reasons.most_common():
        print(f"  {key:<40} {n}")
    assert reached >= len(accepted) // 3, f"only {reached} of {len(accepted)} objects reached a Terraform run"
    generic = [describe(kube, name, specs[name]) for name in accepted
               if outcomes[name] == "False/TerraformFailed" and not TRANSIENT.search(message_of(kube, name))]
    assert not generic, "TerraformFailed where the input is at fault (check it before the run, or classify the " \
                        "diagnostic in terraform/diagnostics.py):\n" + "\n".join(generic)

    def looping() -> list[str]:
        """Objects not Ready that keep planning (more than MAX_PLANNING runs, or any new one while Stalled)."""
        now = terraform_runs(proc.log_path.read_text(errors="replace"))
        bad = []
        for name in accepted:
            key = f"default/{name}"
            if str(outcomes[name]).startswith("True/"):
                continue
            if planning_runs(now, key) > MAX_PLANNING or (
                    "Stalled" in str(outcomes[name]) and planning_runs(now, key) > planning_runs(runs, key)):
                bad.append(f"{name} ({outcomes[name]}): {dict(now[key])}")
        return bad

    # a retry loop shows within a few backoffs (the fixture caps them at 2 s): watch that long, stop early
    assert not poll(looping, timeout=8, interval=1), looping()
    log = proc.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 2000:][:6000]
    assert not leaks(kube, log, accepted), leaks(kube, log, accepted)
    assert disk_usage(work) < WORK_BOUND, f"the work directory holds {disk_usage(work)} bytes after the runs"
    assert proc.proc.poll() is None, "the controller exited"
