"""One formatter per user command (tfcontroller.api.commands): every kubectl command names the namespace
and overwrites the annotation a previous request left; values are shell-quoted; the CLI approve names the
namespace too. (tests/integration/controllers/terraform/test_terraform_commands.py runs them with the real kubectl.)"""

from __future__ import annotations

import shlex

import pytest

from tfcontroller.api import commands
from tfcontroller.api.constants import (
    ANNOTATION_APPROVE_PLAN,
    ANNOTATION_FORCE_UNLOCK,
    ANNOTATION_REPLAN,
    ANNOTATION_TAKE_OVER_STATE,
)

CASES = [
    (commands.approve_command, ANNOTATION_APPROVE_PLAN, "plan-main-0123456789-abcdef01"),
    (commands.force_unlock_command, ANNOTATION_FORCE_UNLOCK, "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"),
    (commands.take_over_state_command, ANNOTATION_TAKE_OVER_STATE, "tfstate-default-shared"),
    (commands.replan_command, ANNOTATION_REPLAN, "2026-11-29T19:00:00Z"),
]


@pytest.mark.parametrize(("formatter", "annotation", "value"), CASES)
def test_annotate_commands_name_namespace_and_overwrite(formatter, annotation: str, value: str) -> None:
    got = formatter("team-a", "web", value)
    assert got == f"kubectl annotate terraform/web -n team-a {annotation}={value} --overwrite"
    assert shlex.split(got) == ["kubectl", "annotate", "terraform/web", "-n", "team-a", f"{annotation}={value}",
                                "--overwrite"]


@pytest.mark.parametrize("value", ["has space", "semi;colon", "$(reboot)", "quote'd"])
def test_odd_values_survive_the_shell(value: str) -> None:
    argv = shlex.split(commands.approve_command("ns", "web", value))
    assert argv[5] == f"{ANNOTATION_APPROVE_PLAN}={value}"


def test_cli_approve_names_plan_and_namespace() -> None:
    assert commands.cli_approve_command("team-a", "web", "plan-x") == "tfcontroller approve web --plan plan-x -n team-a"


def test_cli_replan_names_namespace_and_quotes() -> None:
    assert commands.cli_replan_command("team-a", "web") == "tfcontroller replan web -n team-a"
    assert shlex.split(commands.cli_replan_command("ns", "odd name"))[2] == "odd name"


def test_one_approval_hint_names_object_and_namespace_in_both_forms() -> None:
    """The hint every place prints (status, Events, mail, `plan show`, the CLI's refusals): both commands,
    each naming the object and its namespace, each between backticks so a copy takes no punctuation."""
    hint = commands.approve_hint("team-a", "web", "plan-x")
    assert hint == ("approve with `tfcontroller approve web --plan plan-x -n team-a` or "
                    "`kubectl annotate terraform/web -n team-a tfcontroller.io/approve-plan=plan-x --overwrite`")
    cli, kubectl = hint.split("`")[1], hint.split("`")[3]
    assert cli == commands.cli_approve_command("team-a", "web", "plan-x")
    assert kubectl == commands.approve_command("team-a", "web", "plan-x")


def test_cli_reconcile_names_kind_namespace_and_quotes() -> None:
    from tfcontroller.cli.kubectx import KIND_ALIASES
    assert commands.cli_reconcile_command("Terraform", "team-a", "web") == "tfcontroller reconcile terraform web -n team-a"
    assert shlex.split(commands.cli_reconcile_command("Terraform", "ns", "odd name"))[3] == "odd name"
    assert "terraform" in KIND_ALIASES  # the CLI takes the kind as written
