"""Pure ref logic: semver range syntax (comparators, AND/OR, tilde, caret, wildcards, hyphen ranges,
pre-releases), tag version parsing, precedence and resolution from `ls-remote` maps, and revision
formatting/parsing."""

from __future__ import annotations

import pytest
import semver

from tfcontroller.source.errors import InvalidSpecError, RefNotFoundError
from tfcontroller.source.refs import (
    RefSpec,
    SemverRange,
    format_revision,
    parse_revision,
    parse_tag_version,
    resolve_ref,
)

V = semver.Version.parse


@pytest.mark.parametrize(
    ("text", "yes", "no"),
    [
        (">=1.2.0 <2.0.0", ["1.2.0", "1.9.9"], ["1.1.9", "2.0.0"]),
        (">=1.2.0, <2.0.0", ["1.5.0"], ["2.1.0"]),
        (">= 1.2.0 < 2.0.0", ["1.5.0"], ["2.1.0"]),
        ("~1.2", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.0"]),
        ("~1.2.3", ["1.2.3", "1.2.10"], ["1.3.0", "1.2.2"]),
        ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
        ("^1.0", ["1.0.0", "1.99.0"], ["2.0.0", "0.9.0"]),
        ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4"]),
        ("1.2.x", ["1.2.0", "1.2.7"], ["1.3.0"]),
        ("1.2", ["1.2.5"], ["1.3.0"]),
        ("*", ["0.0.1", "9.9.9"], []),
        ("=1.2.3", ["1.2.3"], ["1.2.4"]),
        ("1.2.3", ["1.2.3"], ["1.2.4"]),
        ("!=1.2.3", ["1.2.4"], ["1.2.3"]),
        (">1.2", ["1.3.0"], ["1.2.9"]),
        ("<=1.2", ["1.2.9"], ["1.3.0"]),
        ("1.2 - 1.4.5", ["1.2.0", "1.4.5"], ["1.4.6", "1.1.0"]),
        ("<1.0.0 || >=3.0.0", ["0.5.0", "3.1.0"], ["2.0.0"]),
        (">=1.0.0", ["1.0.0"], ["1.1.0-rc.1"]),
        (">=1.1.0-rc.0", ["1.1.0-rc.1", "1.1.0"], ["1.0.0"]),
    ],
)
def test_semver_ranges(text, yes, no):
    rng = SemverRange.parse(text)
    for version in yes:
        assert rng.matches(V(version)), (text, version)
    for version in no:
        assert not rng.matches(V(version)), (text, version)


@pytest.mark.parametrize("text", ["", "   ", ">=one", "1.2.3.4", ">=", "1.0 ||", "latest", ">>1"])
def test_bad_semver_ranges_are_invalid_spec(text):
    with pytest.raises(InvalidSpecError):
        SemverRange.parse(text)


def test_tag_versions():
    assert parse_tag_version("v1.2.3") == V("1.2.3")
    assert parse_tag_version("1.2") == V("1.2.0")
    assert parse_tag_version("release-1") is None


REFS = {
    "HEAD": "a" * 40,
    "refs/heads/main": "a" * 40,
    "refs/heads/dev": "b" * 40,
    "refs/tags/v1.0.0": "c" * 40,
    "refs/tags/v1.0.0^{}": "d" * 40,
    "refs/tags/v1.1.0": "e" * 40,
    "refs/tags/1.1.0": "f" * 40,
    "refs/pull/7/head": "9" * 40,
}


def test_resolution_from_ls_remote_output():
    assert resolve_ref(REFS, RefSpec(branch="dev")).revision == "dev@sha1:" + "b" * 40
    tag = resolve_ref(REFS, RefSpec(tag="v1.0.0"))
    assert (tag.refname, tag.commit) == ("refs/tags/v1.0.0", "d" * 40)  # peeled
    assert resolve_ref(REFS, RefSpec(semver="<1.1.0")).commit == "d" * 40
    assert (
        resolve_ref(REFS, RefSpec(semver="1.1.x")).revision == "v1.1.0@sha1:" + "e" * 40
    )  # tie: highest name
    assert resolve_ref(REFS, RefSpec(name="refs/pull/7/head")).revision == "refs/pull/7/head@sha1:" + "9" * 40
    assert resolve_ref(REFS, RefSpec(name="dev")).commit == "b" * 40
    assert resolve_ref(REFS, RefSpec(), head_target="refs/heads/main").revision == "main@sha1:" + "a" * 40
    commit = resolve_ref({}, RefSpec(commit="A" * 40, branch="main"))
    assert (commit.commit, commit.revision) == ("a" * 40, "main@sha1:" + "a" * 40)
    assert resolve_ref({}, RefSpec(commit="a" * 40)).revision == "sha1:" + "a" * 40
    for spec in (RefSpec(branch="x"), RefSpec(tag="x"), RefSpec(semver=">=5"), RefSpec(name="refs/x")):
        with pytest.raises(RefNotFoundError):
            resolve_ref(REFS, spec)
    with pytest.raises(RefNotFoundError):
        resolve_ref({}, RefSpec())


def test_precedence_follows_flux():
    assert RefSpec(branch="a", tag="b").kind == "tag"
    assert RefSpec(tag="b", semver="*").kind == "semver"
    assert RefSpec(semver="*", name="refs/x").kind == "name"
    assert RefSpec(name="refs/x", commit="a" * 40).kind == "commit"
    assert RefSpec().kind == "head"


def test_from_dict_validates():
    assert RefSpec.from_dict({"branch": " main "}).branch == "main"
    for bad in ({"commit": "xyz"}, {"semver": ">=one"}, {"branch": ""}, {"tag": 3}):
        with pytest.raises(InvalidSpecError):
            RefSpec.from_dict(bad)


def test_revisions_round_trip():
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert format_revision("main", sha) == f"main@sha1:{sha}"
    assert parse_revision(f"main@sha1:{sha}") == ("main", sha)
    assert parse_revision(f"sha1:{sha}") == (None, sha)
    assert parse_revision(f"refs/pull/1/head@sha1:{sha}") == ("refs/pull/1/head", sha)
    with pytest.raises(ValueError):
        parse_revision("main@abc")
