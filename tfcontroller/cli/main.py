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
    "tfcontroller.cli.ops_events",
    "tfcontroller.cli.ops_plan",
    "tfcontroller.cli.seal_cmd",
    "tfcontroller.cli.version_cmd",
    "tfcontroller.cli.completion_cmd",
]


class CLIError(Exception):
    """An error meant for the operator: printed as one line, exit code attached."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Parser(argparse.ArgumentParser):
    """`declare=`: a function adding the arguments that need heavy imports (the controllers' flags of
    `run`); called when this parser parses, i.e. only when its command runs (or asks for its --help)."""

    def __init__(self, *args: Any, declare: Callable[[argparse.ArgumentParser], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._declare = declare

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self._declare is not None:
            declare, self._declare = self._declare, None
            declare(self)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:  # one clear line, exit 2, as argparse promises
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from tfcontroller.cli.version_cmd import VersionAction

    parser = _Parser(prog="tfcontroller", description="Terraform in GitOps: controller and operator CLI.")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    parser.add_argument("--version", action=VersionAction,
                        help="print the version and the API it serves, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from tfcontroller.logging_setup import configure_logging

    configure_logging(args.log_level, args.log_format)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
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
