"""Policy evaluation time (issue 18: 20 policies on a plan of 500 resource changes in under 1 s).

The policies are the four examples of examples/policies/ five times over (20 bundles: each evaluated on its
own, as 20 PlanPolicies selecting one Terraform would be); the plan is the real aws 5.100.0 `show -json`
of examples/policies/testdata/ with its resource changes repeated to `--changes` (addresses renumbered,
every fifth a delete, every seventh an update: ~1,350 denies in all, a worst case), so each rule scans
them all; `--compliant` makes them creates the policies accept, but for one delete. One run is what the
controller does per plan: `policy_input` (masking) and `evaluate` (the child process started, the input
loaded into the engine, every policy's rules queried). Runs `--repetitions` times; prints the median and
fastest wall time, the CPU seconds of a run (this process and the workers), the child's fixed cost (one trivial policy on the same input) and the median's ratio to
the 1 s target. Exit code 0 when the median holds. Not part of `make test`; see benchmarks/README.md.

    .venv/bin/python benchmarks/policy_eval.py [--policies 20] [--changes 500] [--repetitions 7]
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tfcontroller.policy.bundle import PolicyBundle, inline_bundle, load_policy_dir  # noqa: E402
from tfcontroller.policy.evaluate import PolicySpecView, evaluate  # noqa: E402
from tfcontroller.policy.input import PolicyMeta, policy_input  # noqa: E402

TARGET = 1.0  # seconds
EXAMPLES = ROOT / "examples" / "policies"
KINDS = ("protect-stateful", "required-tags", "no-public-s3", "instance-types")
DATA = {"allowed_instance_types": ["t3.micro", "t3.small", "t3.medium"]}


def big_plan(changes: int, compliant: bool = False) -> dict[str, Any]:
    """The real plan's changes repeated to `changes`; `compliant`: all creates, tagged, private, allowed
    types, but for one protected delete (the usual case: policies find little)."""
    real = json.loads((EXAMPLES / "testdata" / "plan-aws-5.100.0.json").read_text())
    base = real["resource_changes"]
    out = []
    for i in range(changes):
        rc = copy.deepcopy(base[i % len(base)])
        rc["name"] = f"{rc['name']}_{i}"
        rc["address"] = f"{rc['type']}.{rc['name']}"
        if compliant:
            _comply(rc["change"], delete=i == 0)
        elif i % 5 == 0:
            rc["change"]["actions"] = ["delete"]
        elif i % 7 == 0:
            rc["change"]["actions"] = ["update"]
        out.append(rc)
    real["resource_changes"] = out
    return real


def _comply(change: dict[str, Any], delete: bool) -> None:
    change["actions"] = ["delete"] if delete else ["create"]
    after = change.get("after")
    if isinstance(after, dict):
        if "tags" in after:
            after["tags"] = after["tags_all"] = {"owner": "team-a", "cost-center": "cc-42"}
        if "acl" in after:
            after["acl"] = "private"
        if "block_public_policy" in after:
            after["block_public_policy"] = True
        if "instance_type" in after:
            after["instance_type"] = "t3.micro"


def bundles(count: int) -> list[tuple[PolicySpecView, PolicyBundle]]:
    out = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        name = f"platform/{kind}-{i}"
        out.append((PolicySpecView(name), load_policy_dir(EXAMPLES, kind, name=name, data=DATA)))
    return out


def once(selected: list[tuple[PolicySpecView, PolicyBundle]], show: dict[str, Any],
         workers: int | None = None) -> tuple[float, str]:
    cpu_before = _cpu()
    started = time.perf_counter()
    report = evaluate(selected, policy_input(show, PolicyMeta("team-a", "infra", plan_id="plan-x")), timeout=30,
                      workers=workers)
    elapsed = time.perf_counter() - started
    CPU.append(_cpu() - cpu_before)
    assert not any(r.error for r in report.results), [r.error for r in report.results if r.error]
    return elapsed, f"{report.result}, {sum(len(r.denies) for r in report.results)} denies"


CPU: list[float] = []


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the workers): what a run costs whatever the
    machine's load, unlike its wall time."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=20)
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--repetitions", type=int, default=7)
    parser.add_argument("--compliant", action="store_true",
                        help="a plan the policies find (almost) nothing in, instead of one with ~1,350 denies")
    parser.add_argument("--workers", type=int, default=None,
                        help="children evaluating groups of policies side by side (default: evaluate's)")
    args = parser.parse_args()
    show = big_plan(args.changes, args.compliant)
    selected = bundles(args.policies)
    trivial = [(PolicySpecView("platform/trivial"),
                inline_bundle("platform/trivial", 'package main\n\ndeny contains "x" if { input.none }\n'))]
    print(f"{args.policies} policies ({args.workers or 'default'} workers) on a plan of {args.changes} resource changes "
          f"({len(json.dumps(show)) // 1024} KiB of JSON), {args.repetitions} runs")
    fixed, total = [], []
    outcome = ""
    for _ in range(args.repetitions):  # interleaved, so that a busy moment costs both alike
        fixed.append(once(trivial, show)[0])
        elapsed, outcome = once(selected, show, args.workers)
        total.append(elapsed)
    median = statistics.median(total)
    print(f"result: {outcome}")
    print(f"child start + masking + input load (1 trivial policy): median {statistics.median(fixed):.3f}s, "
          f"fastest {min(fixed):.3f}s")
    print(f"{args.policies} policies: median {median:.3f}s, fastest {min(total):.3f}s, "
          f"runs {' '.join(f'{t:.2f}' for t in total)}")
    print(f"{args.policies} policies: CPU (this process and the workers) median "
          f"{statistics.median(CPU[1::2]):.3f}s, fastest {min(CPU[1::2]):.3f}s")
    print(f"median / target ({TARGET:g}s): {median / TARGET:.2f}")
    return 0 if median < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
