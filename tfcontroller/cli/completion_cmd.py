"""`tfcontroller completion bash|zsh|fish`: a shell completion script, generated from the CLI's own parser
by shtab (the library pip, DVC and others use), so that it completes exactly the commands and flags that
exist, with no list kept by hand.

    source <(tfcontroller completion bash)                     # bash, this shell
    tfcontroller completion zsh > "${fpath[1]}/_tfcontroller"  # zsh
    tfcontroller completion fish > ~/.config/fish/completions/tfcontroller.fish

Beyond commands and flags, it completes `get`'s `KIND` words (terraform, tf, gitrepo, …, all). Object names are not completed (that would need the cluster on every Tab).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

SHELLS = ("bash", "zsh", "fish")
KIND_WORDS = ("terraform", "terraforms", "tf", "gitrepository", "gitrepositories", "gitrepo", "gitrepos",
              "manifestset", "manifestsets", "ms", "all")
KIND_COMPLETER = {
    "bash": "_tfcontroller_kinds",
    "zsh": "(" + " ".join(KIND_WORDS) + ")",
    "fish": "'" + " ".join(KIND_WORDS) + "'",
}
BASH_PREAMBLE = (
    "\n# KIND words for `tfcontroller get`\n"
    "_tfcontroller_kinds() {\n"
    f'  compgen -W "{" ".join(KIND_WORDS)}" -- "$1"\n'
    "}\n"
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "completion", help="print a shell completion script (bash, zsh or fish)",
        description="Print a completion script for the shell. bash: source <(tfcontroller completion bash); "
                    "zsh: tfcontroller completion zsh > \"${fpath[1]}/_tfcontroller\"; fish: tfcontroller "
                    "completion fish > ~/.config/fish/completions/tfcontroller.fish")
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")
    parser.set_defaults(func=run)


def script(shell: str) -> str:
    """The completion script of the whole CLI for `shell`."""
    import shtab

    from tfcontroller.cli.main import build_parser, declare_all

    parser = build_parser()
    declare_all(parser)  # flags declared on demand (`run`'s) are completed too
    for action in _kind_positionals(parser):
        action.complete = {shell: KIND_COMPLETER[shell]}  # type: ignore[attr-defined]  # shtab reads it
    return str(shtab.complete(parser, shell=shell, preamble={"bash": BASH_PREAMBLE}.get(shell, "")))


def _kind_positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The first positional of `get` (KIND words); the other commands' KIND is optional before NAME."""
    out = []
    for action in parser._actions:  # argparse has no public walk of its sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            get = action.choices.get("get")
            if get is not None:
                out += [a for a in get._actions if a.dest == "words"]
    return out


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(script(args.shell))
    return 0
