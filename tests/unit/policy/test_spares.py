"""Workers started ahead of need (evaluate._Spares): each serves one request and ends, a dead one is
replaced rather than used, one started with another environment is never handed out, and a policy's
result never depends on which worker ran it. Real worker processes and the real engine throughout."""

from __future__ import annotations

import os

import pytest

from tests.support.polling import wait_for
from tfcontroller.policy.bundle import inline_bundle
from tfcontroller.policy.evaluate import SPARES, PolicySpecView, evaluate, run_compile_check

INPUT = {"resource_changes": [{"address": "aws_s3_bucket.logs", "change": {"actions": ["delete"]}}]}
DELETES = inline_bundle("ns/deletes", 'package main\n\ndeny := {msg |\n  some rc in input.resource_changes\n'
                                      '  "delete" in rc.change.actions\n  msg := rc.address\n}\n')
LANG = inline_bundle("ns/lang", 'package main\n\nwarn contains msg if {\n'
                                '  msg := object.get(opa.runtime().env, "LANG", "none")\n}\n')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie not yet reaped still answers; /proc tells
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_an_evaluation_leaves_warm_spares_and_uses_each_once() -> None:
    evaluate([(PolicySpecView("ns/deletes"), DELETES)], INPUT, timeout=10)
    before = SPARES.idle()
    assert len(before) == SPARES.size and all(_alive(p) for p in before)
    report = evaluate([(PolicySpecView("ns/deletes"), DELETES)], INPUT, timeout=10, workers=1)
    assert report.results[0].denies == ["aws_s3_bucket.logs"]
    after = SPARES.idle()
    used = set(before) - set(after)
    assert len(used) == 1, "one group, one spare taken"
    wait_for(lambda: not any(_alive(p) for p in used), timeout=10, what="the used worker to end")
    assert len(after) == SPARES.size and all(_alive(p) for p in after)


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_dead_spares_are_replaced_not_used(how: str) -> None:
    SPARES.fill()
    for pid in SPARES.idle():
        os.kill(pid, 9 if how == "SIGKILL" else 15)
    report = evaluate([(PolicySpecView("ns/deletes"), DELETES), (PolicySpecView("ns/d2"), DELETES)], INPUT,
                      timeout=10, workers=2)
    assert [(r.denies, r.error) for r in report.results] == [(["aws_s3_bucket.logs"], "")] * 2
    assert not any(r.error for r in report.results)
    assert len(SPARES.idle()) == SPARES.size and all(_alive(p) for p in SPARES.idle())
    assert run_compile_check(DELETES, timeout=10) == []  # the compile check takes spares too


def test_a_spare_started_with_another_environment_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "C")
    SPARES.fill()
    monkeypatch.setenv("LANG", "C.UTF-8")
    report = evaluate([(PolicySpecView("ns/lang"), LANG)], INPUT, timeout=10)
    assert report.results[0].warnings == ["C.UTF-8"], "the worker has the environment of now, not of its start"


def test_a_spare_killed_at_a_time_limit_is_replaced() -> None:
    loop = inline_bundle("ns/loop", "package main\n\ndeny contains x if {\n  some x in numbers.range(1, 1000000000)\n"
                                    "  x < 0\n}\n")
    SPARES.fill()
    report = evaluate([(PolicySpecView("ns/loop", timeout=1.0), loop), (PolicySpecView("ns/deletes"), DELETES)],
                      INPUT, timeout=10, workers=1)
    assert "did not finish within 1s" in report.results[0].error
    assert report.results[1].denies == ["aws_s3_bucket.logs"]
    assert len(SPARES.idle()) == SPARES.size and all(_alive(p) for p in SPARES.idle())
