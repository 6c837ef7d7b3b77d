"""Issue 20: targets, replacements and parallelism reach the Terraform command line — each address one
`-flag=ADDR` argument (never a separate value that could become an option), parallelism on plan and apply
(a saved plan carries its targets and replacements, not its parallelism) — and the run request carries
them to `tfcontroller runner run` in both runner modes, refusing what does not parse."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api import run_protocol as rp
from tfcontroller.api.terraform import PlanOptions
from tfcontroller.terraform import runner


def test_no_options_leave_the_command_line_as_it_was() -> None:
    assert runner.plan_args("p", options=PlanOptions()) == runner.plan_args("p")
    assert runner.apply_args("p", parallelism=0) == runner.apply_args("p")


def test_targets_replacements_and_parallelism_are_arguments_of_plan() -> None:
    args = runner.plan_args("p", options=PlanOptions(("module.net", 'a.b["x y"]'), ("c.d[0]",), 3))
    assert args[-4:] == ["-parallelism=3", "-target=module.net", '-target=a.b["x y"]', "-replace=c.d[0]"]
    assert args.index("-out=p") < args.index("-parallelism=3")


def test_a_destroy_plan_takes_targets_too() -> None:
    args = runner.plan_args("p", destroy=True, options=PlanOptions(targets=("a.b",)))
    assert "-destroy" in args and "-target=a.b" in args


def test_apply_repeats_only_the_parallelism() -> None:
    args = runner.apply_args("/r/plan", parallelism=5)
    assert "-parallelism=5" in args and args[-1] == "/r/plan"
    assert not any(a.startswith(("-target", "-replace")) for a in args)


@pytest.mark.parametrize("options", [
    PlanOptions(targets=("-destroy",)),
    PlanOptions(replace=("module.app",)),
    PlanOptions(replace=("a.b\n-auto-approve",)),
    PlanOptions(parallelism=-1),
])
def test_bad_options_never_reach_terraform(options: PlanOptions) -> None:
    with pytest.raises(ValueError):
        runner.plan_args("p", options=options)


def test_a_refresh_only_plan_cannot_replace() -> None:
    with pytest.raises(ValueError):
        runner.plan_args("p", refresh_only=True, options=PlanOptions(replace=("a.b",)))


def _request(**extra: Any) -> dict[str, Any]:
    return {"version": rp.PROTOCOL_VERSION, "run_id": "run-1", "operation": "plan", "namespace": "infra",
            "name": "web", "artifact_url": "file:///a.tar.gz", "artifact_digest": "sha256:" + "0" * 64, **extra}


def test_the_run_request_carries_the_plan_options() -> None:
    request = rp.RunRequest.from_dict(_request(targets=["module.net"], replace=["a.b[1]"], parallelism=2))
    assert request.plan_options == PlanOptions(("module.net",), ("a.b[1]",), 2)
    assert rp.RunRequest.from_dict(request.to_dict()) == request
    assert rp.RunRequest.from_dict(_request()).plan_options == PlanOptions()
    assert rp.plan_option_fields(request.plan_options) == {"targets": ("module.net",), "replace": ("a.b[1]",),
                                                           "parallelism": 2}


@pytest.mark.parametrize(("extra", "field"), [
    ({"targets": ["-destroy"]}, "targets[0]"),
    ({"targets": "a.b"}, "targets"),
    ({"replace": [3]}, "replace[0]"),
    ({"replace": ["data.x.y"]}, "replace[0]"),
    ({"parallelism": -2}, "parallelism"),
    ({"parallelism": "2"}, "parallelism"),
])
def test_the_runner_refuses_bad_options_naming_the_field(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(rp.RequestInvalid) as info:
        rp.RunRequest.from_dict(_request(**extra))
    assert str(info.value).startswith(field)
