"""The browser fixture's pure parts (tests/fixtures/browser.py): each test's screenshots land in a directory
of its own under test-output/, named by its node id with nothing a path cannot hold; Chromium's options are
headless with a fresh profile and a fixed window, `--no-sandbox` only as root; the binaries come from PATH."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.browser import OUTPUT_ROOT, WINDOW, browser_binaries, chromium_options, output_dir_for
from tests.support.paths import REPO_ROOT


@pytest.mark.parametrize("nodeid, want", [
    ("tests/e2e/test_dashboard_browser.py::test_overview", "tests_e2e_test_dashboard_browser.py_test_overview"),
    ("tests/e2e/t.py::test_x[local]", "tests_e2e_t.py_test_x_local"),
    ("tests/e2e/t.py::test_x[a/b c::d]", "tests_e2e_t.py_test_x_a_b_c_d"),
    ("tests/e2e/t.py::Class::test_y[../../etc]", "tests_e2e_t.py_Class_test_y_.._.._etc"),
    ("..", "test"),
    ("../x", "x"),
])
def test_output_dir_is_one_safe_directory_per_test(nodeid: str, want: str) -> None:
    path = output_dir_for(nodeid)
    assert path == OUTPUT_ROOT / want
    assert path.parent == REPO_ROOT / "test-output"  # never outside it, whatever the id holds


def test_chromium_options_headless_fresh_profile_fixed_window(tmp_path: Path) -> None:
    options = chromium_options("/somewhere/chromium", tmp_path / "profile")
    args = set(options.arguments)
    assert options.binary_location == "/somewhere/chromium"
    assert {"--headless=new", f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--user-data-dir={tmp_path / 'profile'}"} <= args
    assert ("--no-sandbox" in args) == (os.geteuid() == 0)


def test_binaries_are_looked_up_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert browser_binaries() is None  # neither there: the fixture skips, saying how to install them
    for name in ("chromium", "chromedriver"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    assert browser_binaries() == (str(tmp_path / "chromium"), str(tmp_path / "chromedriver"))
