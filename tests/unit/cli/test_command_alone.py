"""The runner's CLI is built alone (cli/main.py ALONE): it starts once per Terraform run, so the other
commands' modules are not imported then; every other command line gets the whole CLI."""

from __future__ import annotations

import pytest

from tfcontroller.cli.main import ALONE, build_parser, command_of


@pytest.mark.parametrize(("argv", "command"), [
    (["runner", "run", "--exchange", "x"], "runner"),
    (["--log-level", "debug", "runner", "run"], "runner"),
    (["--log-format", "json", "--log-level", "info", "run"], "run"),
    (["--version"], None),
    ([], None),
    (["--log-level"], None),
])
def test_command_of(argv: list[str], command: str | None) -> None:
    assert command_of(argv) == command


def test_the_runner_parser_alone_has_only_the_runner() -> None:
    alone = build_parser(ALONE["runner"])
    assert alone.parse_args(["runner", "run", "--exchange", "/x"]).exchange == "/x"
    with pytest.raises(SystemExit):
        alone.parse_args(["run"])  # no other command there
    assert build_parser().parse_args(["runner", "run", "--exchange", "/x"]).exchange == "/x"
