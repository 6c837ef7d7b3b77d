"""The `tfcontroller` command: one argparse tree, each sub-command in its own module.

Sub-command modules expose `register(subparsers)`; each registered parser sets `func(args) -> int`.
Errors surface as one clear line and an exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable
from typing import Any, NoReturn

# Each module registers its own sub-commands; the list is the only thing to edit when adding one.
COMMAND_MODULES: list[str] = [
    "tfcontroller.cli.devcluster_cmd",
    "tfcontroller.cli.run_cmd",
    "tfcontroller.cli.ops_get",
    "tfcontroller.cli.ops_approve",
    "tfcontroller.cli.ops_control",
    "tfcontroller.cli.ops_outputs",
    "tfcontroller.cli.ops_drift",
    "tfcontroller.cli.ops_history",
    "tfcontroller.cli.ops_events",
    "tfcontroller.cli.ops_logs",
    "tfcontroller.cli.ops_plan",
    "tfcontroller.cli.state_cmd",
    "tfcontroller.cli.policy_cmd",
    "tfcontroller.cli.seal_cmd",
    "tfcontroller.cli.tenant_cmd",
    "tfcontroller.cli.dashboard_cmd",
    "tfcontroller.cli.runner_cmd",
    "tfcontroller.cli.version_cmd",
    "tfcontroller.cli.completion_cmd",
]


class CLIError(Exception):
    """An error meant for the operator: printed as one line, exit code attached."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# Commands whose log lines are their output (the controller, the dev cluster); the operator commands log
# warnings only, so that a library's info line (a Terraform run in `plan show`) never reaches the terminal.
LOGGING_COMMANDS = frozenset({"run", "dev-cluster"})


class _Parser(argparse.ArgumentParser):
    """Every usage error is one line `tfcontroller <command>: error: <message>`, exit 2 (docs/cli.md).
    `declare=`: a function adding the arguments that need heavy imports (the controllers' flags of
    `run`); called when this parser parses, i.e. only when its command runs (or asks for its --help)."""

    def __init__(self, *args: Any, declare: Callable[[argparse.ArgumentParser], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._declare = declare

    def error(self, message: str) -> NoReturn:
        self.exit(2, usage_error(self.prog, message))

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        """A sub-command refuses its own unknown arguments, so the error names the command (argparse
        leaves them to the top-level parser, whose error says only `tfcontroller`); the innermost
        command's prog is kept for the usage errors commands raise themselves."""
        if self._declare is not None:
            declare, self._declare = self._declare, None
            declare(self)
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and " " in self.prog:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        if not hasattr(parsed, "usage_prog"):
            parsed.usage_prog = self.prog
        return parsed, extras


def usage_error(prog: str, message: str) -> str:
    return f"{prog}: error: {message}\n"


# `tfcontroller runner ...` starts once per Terraform run (local mode: twice per reconcile), so its parser is
# built alone: importing every command's module costs ~0.1 s of each run (issue 15).
ALONE = {"runner": "tfcontroller.cli.runner_cmd"}
_VALUED_GLOBALS = ("--log-level", "--log-format")


def command_of(argv: list[str]) -> str | None:
    """The sub-command named in `argv` (after the global options), if any. Pure."""
    tokens = iter(argv)
    for token in tokens:
        if token in _VALUED_GLOBALS:
            next(tokens, None)
        elif not token.startswith("-"):
            return token
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; `only`: the module of the one command to register (see ALONE)."""
    from tfcontroller.cli.version_cmd import VersionAction

    parser = _Parser(prog="tfcontroller", description="Terraform in GitOps: controller and operator CLI.")
    parser.add_argument("--log-level", default=None, choices=["debug", "info", "warning", "error"],
                        help="log level (default: info for run and dev-cluster, warning for the other commands)")
    parser.add_argument("--log-format", default="text", choices=["text", "json"],
                        help="log lines as key=value text or JSON objects (default: text)")
    parser.add_argument("--version", action=VersionAction,
                        help="print the version and the API it serves, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in [only] if only else COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def declare_all(parser: argparse.ArgumentParser) -> None:
    """Declare every sub-command's deferred arguments now (for `completion`, which needs them all)."""
    for action in parser._actions:  # argparse has no public walk of its sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                declare = getattr(sub, "_declare", None)
                if declare is not None:
                    sub._declare = None
                    declare(sub)
                declare_all(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(ALONE.get(command_of(sys.argv[1:] if argv is None else argv) or ""))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from tfcontroller.logging_setup import configure_logging

    default_level = "info" if args.command in LOGGING_COMMANDS else "warning"
    configure_logging(args.log_level or default_level, args.log_format)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        if exc.exit_code == 2:
            sys.stderr.write(usage_error(getattr(args, "usage_prog", "tfcontroller"), str(exc)))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an operator sees one line; details go to the debug log
        logging.getLogger("tfcontroller.cli").debug("command failed", exc_info=True)
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
