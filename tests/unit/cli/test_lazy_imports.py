"""The CLI's import rule (issue 13, point 13): building the parser — what `--help` and every command do
first — imports neither the controllers, nor Terraform, crypto, the `kubernetes` package or the HTTP
client; each command imports what it needs when it runs. Checked on `sys.modules` of a fresh
interpreter, not by timing (benchmarks/cli_startup.py measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.paths import REPO_ROOT

HEAVY = ("kubernetes", "urllib3", "boto3", "git", "cryptography", "hcl2", "jsonschema", "prometheus_client",
         "tfcontroller.controllers", "tfcontroller.terraform", "tfcontroller.crypto", "tfcontroller.runtime",
         "tfcontroller.source", "tfcontroller.manifests", "tfcontroller.notify", "tfcontroller.kube.client",
         "flask", "waitress", "werkzeug", "jinja2", "tfcontroller.dashboard.app", "tfcontroller.policy", "regopy")

PROBE = """
import contextlib, io, json, sys
from tfcontroller.cli.main import build_parser
parser = build_parser()
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    parser.parse_args(sys.argv[1:])
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(*argv: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60,
                          cwd=REPO_ROOT, check=True)
    return list(json.loads(proc.stdout))


@pytest.mark.parametrize("argv", [["--help"], ["get", "--help"], ["get", "tf", "x"], ["plan", "show", "--help"],
                                  ["outputs", "x"], ["history", "x"], ["logs", "x", "-f"], ["version"],
                                  ["completion", "bash"], ["dashboard", "--help"],
                                  ["policy", "test", "--help"], ["policy", "test", "d", "--plan", "p"],
                                  ["state", "import", "x", "--from", "-"], ["state", "pull", "x"]])
def test_parsing_imports_nothing_heavy(argv: list[str]) -> None:
    loaded = _modules_after(*argv)
    heavy = [m for m in loaded if m.startswith(HEAVY) and (m in HEAVY or m.startswith(tuple(h + "." for h in HEAVY)))]
    assert heavy == [], f"building the parser for {argv} imported {heavy}"


def test_run_declares_the_controllers_flags_when_it_is_the_command() -> None:
    """`run` is the one command whose flags need the controllers: they are declared when it parses."""
    loaded = _modules_after("run", "--help")
    assert "tfcontroller.controllers.setup" in loaded
