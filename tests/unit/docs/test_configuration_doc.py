"""docs/configuration.md is complete: every flag `tfcontroller run` accepts (the manager's and each controller's
flags) and every environment variable the package reads by name (`os.environ`/`getenv` literals and
`TFCONTROLLER_*` names) appear in it; docs/cli.md documents every operator command and the exit codes."""

from __future__ import annotations

import re

from tests.support.paths import REPO_ROOT
from tfcontroller.cli import kubectx
from tfcontroller.cli.main import build_parser, declare_all

ROOT = REPO_ROOT
_ENV_READ = re.compile(r"""(?:environ\.get\(|environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]+)["']""")
_PREFIXED = re.compile(r"""["'](TFCONTROLLER_[A-Z0-9_]+)["']""")
# Read by the demo/test helpers only, never by the controller or the operator commands.
_NOT_PRODUCT = ("tfcontroller/dev/cluster/", "tfcontroller/dev/gitserver.py", "tfcontroller/dev/smtp_sink.py")


def _subparsers() -> dict[str, object]:
    parser = build_parser()
    declare_all(parser)  # `run` declares the controllers' flags on demand
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(action.choices)


def test_every_run_flag_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    run = _subparsers()["run"]
    flags = [opt for a in run._actions for opt in a.option_strings if opt.startswith("--") and opt != "--help"]
    assert "--leader-elect" in flags
    missing = [f for f in flags if f"`{f}`" not in text]
    assert not missing, f"flags of `tfcontroller run` missing from docs/configuration.md: {missing}"


def test_every_environment_variable_read_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    names: set[str] = set()
    for path in (ROOT / "tfcontroller").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(_NOT_PRODUCT):
            continue
        source = path.read_text()
        names |= set(_ENV_READ.findall(source)) | set(_PREFIXED.findall(source))
    assert "TFCONTROLLER_TERRAFORM_BINARY" in names
    missing = sorted(n for n in names if f"`{n}`" not in text and f"`{n}`/" not in text)
    assert not missing, f"environment variables read by tfcontroller/ missing from docs/configuration.md: {missing}"


def test_cli_doc_lists_every_operator_command_and_exit_code() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    ops = [name for name in _subparsers() if name not in ("run", "dev-cluster")]
    assert {"get", "approve", "plan", "reconcile", "outputs"} <= set(ops)
    missing = [name for name in ops if not re.search(rf"^\| `{re.escape(name)}[ `]", text, re.M)
               and f"/ `{name} " not in text]
    assert not missing, f"commands missing from docs/cli.md: {missing}"
    for code in (kubectx.EXIT_OK, kubectx.EXIT_FAILED, kubectx.EXIT_USAGE, kubectx.EXIT_NOT_FOUND,
                 kubectx.EXIT_TIMEOUT):
        assert re.search(rf"^\| {code} \|", text, re.M), f"exit code {code} not documented in docs/cli.md"


def test_readme_carries_the_configuration_reference() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_readme_config.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "`--leader-elect`" in (ROOT / "README.md").read_text()
