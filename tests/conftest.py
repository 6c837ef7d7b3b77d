"""Shared pytest configuration. Server fixtures live in tests/fixtures/, one module per server or
harness, each cleaning up after itself; list a new one in `pytest_plugins`. Helpers that are not
fixtures (polling, `assert_kstatus`, harness classes, builders) live in tests/support/. No test imports
a conftest.

Layout: tests/unit/<pkg>/test_<module>.py for pure code (no server, no binary), tests/integration/<pkg>/
for code run against the dev cluster, real git, terraform, kubectl or SMTP, tests/e2e/ for whole
scenarios (`tfcontroller run`, the demo, LocalStack). Runner modes (`@pytest.mark.runner_modes`) and the hold
server a sandboxed module reaches: tests/README.md."""

import os
import signal

# A terminal's size must not leak into the commands the tests run: pytest-xdist workers get COLUMNS=80 and a
# developer's shell may export it, and the CLI shortens tables to $COLUMNS (a test that wants a width sets it).
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

# A test run started in the background of a non-interactive shell (`pytest ... &`, as CI runners and nohup do)
# inherits SIGINT ignored, and so would every process it starts: the tests that press Ctrl-C on a demo, a
# `get -w` or a runner would then wait for nothing. Python installs its handler only when SIGINT was not ignored.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

pytest_plugins: list[str] = [
    "tests.fixtures.devcluster",
    "tests.fixtures.smtp",
    "tests.fixtures.git_servers",
    "tests.fixtures.aws",
    "tests.fixtures.controllers",
    "tests.fixtures.manifestset",
    "tests.fixtures.terraform",
    "tests.fixtures.browser",
    "tests.fixtures.dashboard",
    "tests.fixtures.oidc",
    "tests.fixtures.http_receiver",
]
