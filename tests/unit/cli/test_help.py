"""Every command and every flag of `tfcontroller` says what it does in `--help` (issue 13, point 15), and
no help text leaks documentation markup (a Markdown backtick once opened `seal --help`): the whole
argparse tree is walked, so a command or flag added later without help fails here."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from tfcontroller.cli.main import build_parser


def parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser, str | None]]:
    """(prog, parser, the help its parent lists it with) for the parser and every sub-command below it."""
    yield parser.prog, parser, parser.description
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                for prog, found, _ in parsers(sub):
                    yield prog, found, listed.get(name) if found is sub else _


def test_every_command_is_listed_with_help_and_has_a_description() -> None:
    missing = []
    for prog, parser, listed in parsers(build_parser()):
        if prog == "tfcontroller":
            continue
        if not (listed or "").strip():
            missing.append(f"{prog}: no help in its parent's command list")
        if not (parser.description or "").strip():
            missing.append(f"{prog}: no description at the top of --help")
    assert not missing, "\n".join(missing)


def test_every_argument_has_help() -> None:
    missing = []
    for prog, parser, _ in parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{prog} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "arguments without help:\n" + "\n".join(missing)


def test_no_markup_in_help_texts() -> None:
    leaks = []
    for prog, parser, listed in parsers(build_parser()):
        texts = [parser.description or "", listed or "", *(a.help or "" for a in parser._actions)]
        leaks += [f"{prog}: {t!r}" for t in texts if "`" in t or "**" in t]
    assert not leaks, "\n".join(leaks)


def test_help_starts_with_usage_then_a_plain_description() -> None:
    for prog, parser, _ in parsers(build_parser()):
        text = parser.format_help()
        assert text.startswith("usage: "), prog
        description = (parser.description or "").strip()
        assert not description or description[0].isalnum(), f"{prog}: {description[:40]!r}"
