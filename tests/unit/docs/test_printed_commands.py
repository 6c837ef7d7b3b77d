"""The commands the docs tell a user to type are the ones the controller prints: each is the output of
its formatter in tfcontroller.api.commands, so a fix there (the approve hint once lacked `-n` and
`--overwrite`) cannot leave a stale copy in the docs."""

from __future__ import annotations

import re

from tests.support.paths import REPO_ROOT
from tfcontroller.api import commands

DOCS = REPO_ROOT / "docs"
COMMAND = re.compile(r"kubectl annotate [\w.-]+[/ ]")  # a command line, not prose about the command


def test_manual_example_prints_the_approve_command() -> None:
    text = (DOCS / "api-examples" / "terraform-manual.yaml").read_text()
    assert commands.approve_command("default", "bucket", "PLAN_ID") in text


def test_state_ownership_doc_prints_the_take_over_command() -> None:
    text = (DOCS / "api-examples" / "README.md").read_text()
    assert commands.take_over_state_command("NAMESPACE", "NAME", "STATE_SECRET") in text


def test_no_doc_prints_an_annotate_command_without_namespace_and_overwrite() -> None:
    for path in [*DOCS.rglob("*.md"), *DOCS.rglob("*.yaml"), DOCS.parent / "README.md"]:
        for line in path.read_text().splitlines():
            if COMMAND.search(line):
                assert " -n " in line and "--overwrite" in line, f"{path}: {line.strip()}"
