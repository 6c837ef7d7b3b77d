"""What the local-mode and pod-mode runners share (terraform/delegated.py): `init` runs nothing, a plan
run's result becomes the PlanResult the steps read and its show document what `show_json` returns (a
show before any plan is refused), an apply run's outputs become the outputs message with names and
sensitivity only, `output_json` is refused; the empty results carry each runner's own args."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfcontroller.api import run_protocol as rp
from tfcontroller.api.errors import TransientError
from tfcontroller.terraform.config import TerraformConfig
from tfcontroller.terraform.delegated import RUNNER_FAILED, DelegatingRunner
from tfcontroller.terraform.pod_runner import PodRunner
from tfcontroller.terraform.protocol_runner import ProtocolRunner
from tfcontroller.terraform.runner import PlanResult


def _runner(tmp_path: Path) -> DelegatingRunner:
    return DelegatingRunner(tmp_path, {}, TerraformConfig.from_env())


def _result(**fields: object) -> rp.RunResult:
    return rp.RunResult("run-1", rp.PLAN, rp.SUCCEEDED, "PlanGenerated", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("summary", "want"), [
    (rp.PlanSummary(True, 1, 2, 3), PlanResult(True, 1, 2, 3)),
    (rp.PlanSummary(False), PlanResult(False, 0, 0, 0)),
    (None, PlanResult(False, 0, 0, 0)),  # no summary: nothing to do
])
def test_a_plan_run_is_the_plan_result_and_its_show(tmp_path: Path, summary: rp.PlanSummary | None,
                                                   want: PlanResult) -> None:
    runner = _runner(tmp_path)
    show = {"format_version": "1.2", "resource_changes": []}
    assert runner._planned(_result(plan=summary, show=show)) == want
    assert runner.show_json("ignored") == show


def test_show_before_a_plan_and_outputs_are_refused(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    for call in (lambda: runner.show_json("plan"), runner.output_json):
        with pytest.raises(TransientError) as caught:
            call()
        assert caught.value.reason == RUNNER_FAILED


def test_an_apply_run_is_the_outputs_message_without_values(tmp_path: Path) -> None:
    done = _runner(tmp_path)._applied(_result(outputs={"url": False, "password": True}))
    assert done.returncode == 0 and done.args == ("tfcontroller", "runner", "apply")
    assert done.messages == ({"type": "outputs", "outputs": {"url": {"sensitive": False},
                                                             "password": {"sensitive": True}}},)


def test_init_runs_nothing_and_each_runner_names_itself(tmp_path: Path) -> None:
    done = _runner(tmp_path).init()
    assert done.args == ("tfcontroller", "runner", "init") and done.returncode == 0 and done.messages == ()
    assert ProtocolRunner.EMPTY_ARGS == ("tfcontroller", "runner")
    assert PodRunner.EMPTY_ARGS == ("tfcontroller", "runner", "pod")
