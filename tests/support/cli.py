"""Helpers of the operator CLI tests: the result of an in-process `tfcontroller ...` run, plan ids,
a Ready condition and a Terraform object as the fixtures in tests/integration/cli/conftest.py write them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
PLAN_ID = "plan-main-0123456789-abcdef01"
OTHER_PLAN_ID = "plan-main-0123456789-99999999"


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


def _stamp(seconds_ago: int = 0) -> str:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def ready(status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": "Ready", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": _stamp()}


def terraform(name: str, *, namespace: str = "default", approve: str = "", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"sourceRef": {"name": "infra"}, "path": "./terraform/s3-bucket", "interval": "10m",
                 "approvePlan": approve, **spec},
    }


def table_rows(out: str) -> list[dict[str, str]]:
    """A kubectl-style table (as `get` prints it) as one dict per row, cells cut at the headers' columns,
    so that an empty cell or a message with spaces reads right."""
    lines = [line for line in out.splitlines() if line.strip()]
    head = lines[0]
    starts = [i for i, ch in enumerate(head) if ch != " " and (i == 0 or head[i - 1] == " " and head[i - 2:i] == "  ")]
    names = [head[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return [{n: line[a:b].strip() for n, a, b in zip(names, starts, [*starts[1:], None], strict=True)}
            for line in lines[1:]]
