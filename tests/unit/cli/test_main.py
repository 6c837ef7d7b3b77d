"""The CLI's contract with operators: bad flags give one clear line and exit code 2."""

import subprocess
import sys


def test_unknown_flag_exits_2_with_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tfcontroller", "--no-such-flag"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("tfcontroller: error:")
    assert "Traceback" not in proc.stderr


def _commands() -> list[list[str]]:
    """Every leaf command of the argparse tree (`plan show`, not `plan`), as argv words."""
    import argparse

    from tfcontroller.cli.main import build_parser

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> list[list[str]]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            return [words]
        return [leaf for name, sub in subs[0].choices.items() for leaf in walk(sub, [*words, name])]

    return walk(build_parser(), [])


def test_every_command_has_the_one_usage_error_prefix(capsys) -> None:  # type: ignore[no-untyped-def]
    """`tfcontroller <command>: error: <message>` for argparse's errors and the commands' own usage errors
    alike (docs/cli.md), whichever parser noticed the unknown flag."""
    from tfcontroller.cli.main import main

    commands = _commands()
    assert ["plan", "show"] in commands and ["reconcile"] in commands
    for words in commands:
        capsys.readouterr()
        try:
            code = main([*words, "--no-such-flag"])
        except SystemExit as exc:
            code = int(exc.code or 0)
        err = capsys.readouterr().err
        prog = "tfcontroller " + " ".join(words)
        assert code == 2, words
        assert err.startswith(f"{prog}: error: "), err
        assert err.count("\n") == 1, err
    capsys.readouterr()
    assert main(["reconcile", "app", "--timeout", "soon", "--kubeconfig", "/nonexistent"]) == 2
    assert capsys.readouterr().err.startswith("tfcontroller reconcile: error: --timeout: ")
    assert main(["plan"]) == 2
    assert capsys.readouterr().err == "tfcontroller plan: error: a sub-command is required (show)\n"
