"""The artifact bounds as settings (issue 21): `--artifact-max-entries` / `--artifact-max-bytes` and their
environment variables parse whole numbers and sizes with units, refuse what is outside 1..the hard ceiling
with a message naming the ceiling (a usage error, exit 2, for the flags and for a bad environment value),
default to api/constants.py's bounds, and travel in a RunRequest so the runner reads with the controller's
bounds (0 there meaning the defaults, anything above a ceiling refused)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from tfcontroller.api import artifact_bounds
from tfcontroller.api import run_protocol as rp
from tfcontroller.api.artifact_bounds import ArtifactBounds, parse_bytes, parse_entries
from tfcontroller.api.constants import (
    ARTIFACT_HARD_MAX_BYTES,
    ARTIFACT_HARD_MAX_ENTRIES,
    ARTIFACT_MAX_BYTES,
    ARTIFACT_MAX_ENTRIES,
)
from tfcontroller.cli.main import build_parser, declare_all
from tfcontroller.cli.run_cmd import artifact_bounds_from_args


@pytest.mark.parametrize(("text", "want"), [("1", 1), ("6000", 6000), (" 20_000 ", 20_000),
                                            (str(ARTIFACT_HARD_MAX_ENTRIES), ARTIFACT_HARD_MAX_ENTRIES)])
def test_entries_parse(text: str, want: int) -> None:
    assert parse_entries(text) == want


@pytest.mark.parametrize("text", ["0", "-5", "many", "1.5", "", str(ARTIFACT_HARD_MAX_ENTRIES + 1)])
def test_entries_outside_the_bounds_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="whole number|must be 1 to"):
        parse_entries(text)


@pytest.mark.parametrize(("text", "want"), [("1024", 1024), ("512Mi", 512 << 20), ("1Gi", 1 << 30),
                                            ("2G", 2_000_000_000), ("64k", 64_000), ("4Gi", ARTIFACT_HARD_MAX_BYTES)])
def test_sizes_parse(text: str, want: int) -> None:
    assert parse_bytes(text) == want


@pytest.mark.parametrize("text", ["0", "5Gi", "1Ti", "lots", "1.5Gi", "-1", ""])
def test_sizes_outside_the_bounds_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a size|hard ceiling"):
        parse_bytes(text)


def test_defaults_and_the_environment() -> None:
    assert ArtifactBounds() == ArtifactBounds(ARTIFACT_MAX_ENTRIES, ARTIFACT_MAX_BYTES)
    assert ArtifactBounds.from_env({}) == ArtifactBounds()
    env = {artifact_bounds.MAX_ENTRIES_ENV: "12000", artifact_bounds.MAX_BYTES_ENV: "1Gi"}
    assert ArtifactBounds.from_env(env) == ArtifactBounds(12_000, 1 << 30)
    with pytest.raises(ValueError, match=artifact_bounds.MAX_BYTES_ENV):
        ArtifactBounds.from_env({artifact_bounds.MAX_BYTES_ENV: "9Gi"})
    with pytest.raises(ValueError, match="must be 1 to"):
        ArtifactBounds(0, 1)


def _run_args(*argv: str) -> argparse.Namespace:
    parser = build_parser()
    declare_all(parser)
    return parser.parse_args(["run", *argv])


def test_flags_win_over_the_environment_which_wins_over_the_defaults() -> None:
    env = {artifact_bounds.MAX_ENTRIES_ENV: "7000"}
    assert artifact_bounds_from_args(_run_args(), {}) == ArtifactBounds()
    assert artifact_bounds_from_args(_run_args(), env) == ArtifactBounds(7000, ARTIFACT_MAX_BYTES)
    args = _run_args("--artifact-max-entries", "9000", "--artifact-max-bytes", "512Mi")
    assert artifact_bounds_from_args(args, env) == ArtifactBounds(9000, 512 << 20)


@pytest.mark.parametrize("argv", [("--artifact-max-entries", "0"), ("--artifact-max-bytes", "8Gi"),
                                  ("--artifact-max-entries", str(ARTIFACT_HARD_MAX_ENTRIES + 1))])
def test_a_flag_outside_the_bounds_is_a_usage_error(argv: tuple[str, ...], capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        _run_args(*argv)
    assert exit_.value.code == 2 and "hard ceiling" in capsys.readouterr().err


def test_a_bad_environment_value_stops_the_command() -> None:
    with pytest.raises(SystemExit, match=artifact_bounds.MAX_ENTRIES_ENV):
        artifact_bounds_from_args(_run_args(), {artifact_bounds.MAX_ENTRIES_ENV: "none"})


def _request(**fields: Any) -> rp.RunRequest:
    return rp.RunRequest(run_id="r-1", operation=rp.PLAN, namespace="team-a", name="web",
                         artifact_url="http://artifacts/x.tar.gz", artifact_digest="sha256:" + "a" * 64, **fields)


def test_the_bounds_travel_in_the_run_request() -> None:
    request = _request(artifact_max_entries=6_500, artifact_max_bytes=1 << 30)
    back = rp.RunRequest.from_dict(request.to_dict())
    assert back.artifact_bounds() == ArtifactBounds(6_500, 1 << 30)
    assert rp.RunRequest.from_dict(_request().to_dict()).artifact_bounds() == ArtifactBounds()  # 0: defaults
    with pytest.raises(rp.RequestInvalid, match="artifact_max_entries"):
        rp.RunRequest.from_dict(_request(artifact_max_entries=ARTIFACT_HARD_MAX_ENTRIES + 1).to_dict())


def test_run_options_carry_the_bounds_to_the_manager() -> None:
    """What `build_manager` configures the process with (controllers/setup.py)."""
    from tfcontroller.cli.run_cmd import options_from_args

    opts = options_from_args(_run_args("--artifact-max-entries", "9000", "--artifact-max-bytes", "1Gi"))
    assert opts.artifact_bounds == ArtifactBounds(9000, 1 << 30)
    assert options_from_args(_run_args()).artifact_bounds in (ArtifactBounds(), ArtifactBounds.from_env(
        __import__("os").environ))
