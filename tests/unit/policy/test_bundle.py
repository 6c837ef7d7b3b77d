"""Loading policy directories (conftest layout, no escape from the artifact) and the compile check: every
kind of broken Rego named by file:line, through the real engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tfcontroller.policy.bundle import (
    CompileError,
    PolicyBundle,
    PolicySourceError,
    compile_check,
    inline_bundle,
    load_policy_dir,
)

GOOD = 'package main\n\ndeny contains msg if {\n  input.x == 1\n  msg := "x is 1"\n}\n'


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_loads_nested_sorted_without_tests(tmp_path: Path) -> None:
    _write(tmp_path, {"policies/b.rego": GOOD, "policies/a/z.rego": GOOD, "policies/a/z_test.rego": "x",
                      "policies/README.md": "not rego", "other/c.rego": GOOD})
    bundle = load_policy_dir(tmp_path, "policies", name="ns/p", data={"k": 1})
    assert [f for f, _ in bundle.modules] == ["policies/a/z.rego", "policies/b.rego"]
    assert bundle.name == "ns/p" and bundle.data == {"k": 1}
    assert load_policy_dir(tmp_path, "./policies/").modules == bundle.modules
    assert [f for f, _ in load_policy_dir(tmp_path, "policies/b.rego").modules] == ["policies/b.rego"]


@pytest.mark.parametrize("path", ["..", "../x", "policies/../../x", "/../etc"])
def test_dotdot_escape_refused(tmp_path: Path, path: str) -> None:
    root = tmp_path / "artifact"
    _write(root, {"policies/a.rego": GOOD})
    _write(tmp_path, {"x/evil.rego": GOOD})
    with pytest.raises(PolicySourceError, match="leaves the artifact|does not exist"):
        load_policy_dir(root, path)


def test_symlinks_escaping_refused(tmp_path: Path) -> None:
    root = tmp_path / "artifact"
    _write(root, {"policies/a.rego": GOOD})
    _write(tmp_path, {"outside/evil.rego": GOOD})
    os.symlink(tmp_path / "outside" / "evil.rego", root / "policies" / "link.rego")
    with pytest.raises(PolicySourceError, match="symlink pointing outside"):
        load_policy_dir(root, "policies")
    os.unlink(root / "policies" / "link.rego")
    os.symlink(tmp_path / "outside", root / "policies" / "dir")
    with pytest.raises(PolicySourceError, match="symlink pointing outside"):
        load_policy_dir(root, "policies")
    os.unlink(root / "policies" / "dir")
    os.symlink(tmp_path / "outside", root / "linked")
    with pytest.raises(PolicySourceError, match="leaves the artifact"):
        load_policy_dir(root, "linked")


def test_symlink_inside_is_read(tmp_path: Path) -> None:
    _write(tmp_path, {"lib/a.rego": GOOD, "policies/b.rego": GOOD})
    os.symlink(tmp_path / "lib" / "a.rego", tmp_path / "policies" / "a.rego")
    assert [f for f, _ in load_policy_dir(tmp_path, "policies").modules] == ["policies/a.rego", "policies/b.rego"]


@pytest.mark.parametrize("files,path,match", [
    ({"policies/README.md": "x"}, "policies", "no .rego files"),
    ({"policies/only_test.rego": GOOD}, "policies", "no .rego files"),
    ({}, "missing", "does not exist"),
])
def test_nothing_to_load_is_clear(tmp_path: Path, files: dict[str, str], path: str, match: str) -> None:
    _write(tmp_path, files)
    with pytest.raises(PolicySourceError, match=match):
        load_policy_dir(tmp_path, path)


def test_good_bundle_compiles() -> None:
    assert compile_check(inline_bundle("ns/p", GOOD)) == []
    lib = PolicyBundle("ns/p", (("p/lib.rego", "package lib\n\nis_delete(rc) if {\n  \"delete\" in rc.change.actions\n}\n"),
                                ("p/main.rego", "package main\n\nimport data.lib\n\ndeny contains rc.address if {\n"
                                                "  some rc in input.resource_changes\n  lib.is_delete(rc)\n}\n")))
    assert compile_check(lib) == []


@pytest.mark.parametrize("text,line,fragment", [
    # syntax: an unclosed body
    ('package main\n\ndeny contains msg if {\n  msg := "a"\n', 3, "unclosed"),
    # an unknown function (the engine would only find it when a plan reaches the call)
    ('package main\n\ndeny contains msg if {\n  input.x == 1\n  no.such_fn(input.x)\n  msg := "a"\n}\n', 5,
     "unknown function no.such_fn"),
    # Rego v0: a partial set rule without contains/if
    ('package main\n\ndeny[msg] {\n  msg := "a"\n}\n', 3, "Rego v0"),
    # Rego v0: contains without if
    ('package main\n\nwarn contains msg {\n  msg := "a"\n}\n', 3, "without 'if'"),
    # Rego v0: a boolean rule without if, after a good rule
    (GOOD + '\nallow {\n  true\n}\n', 8, "without 'if'"),
    # Rego v0: a function without if
    ('package main\n\nf(x) = y {\n  y := x\n}\n\ndeny contains "a" if { f(1) == 1 }\n', 3, "without 'if'"),
    # no package
    ('deny contains "a" if { true }\n', 1, ""),
])
def test_compile_errors_name_file_and_line(text: str, line: int, fragment: str) -> None:
    errors = compile_check(PolicyBundle("ns/p", (("policies/main.rego", text),)))
    assert errors, "expected a compile error"
    assert any(e.file == "policies/main.rego" and e.line == line and fragment in e.message for e in errors), errors
    assert str(errors[0]).startswith("policies/main.rego:")


def test_every_broken_file_is_named() -> None:
    bundle = PolicyBundle("ns/p", (("a.rego", "package a\n\ndeny contains x if {\n"), ("b.rego", GOOD),
                                   ("c.rego", "package c\n\nwarn[x] {\n x := 1\n}\n")))
    files = {e.file for e in compile_check(bundle)}
    assert files == {"a.rego", "c.rego"}


def test_no_conftest_rule_and_bad_data() -> None:
    errors = compile_check(inline_bundle("ns/p", "package main\n\nallow if { true }\n"))
    assert [e.message for e in errors] == ["no deny, violation or warn rule in any package: the policy would "
                                           "check nothing"]
    assert str(errors[0]) == "inline.rego: " + errors[0].message
    errors = compile_check(inline_bundle("ns/p", GOOD, data=["not", "an", "object"]))
    assert any("data must be an object" in e.message for e in errors)


def test_valid_v1_forms_are_not_flagged() -> None:
    text = """package main

import rego.v1

default allow := false

limits := {"a": 1, "b": [1, 2]}

allow if {
  input.x == 1
} else := false if {
  input.y
}

f(x) := y if {
  y := x * 2
}

names contains n if { some n in ["a"] }

deny contains {"msg": "obj"} if { f(1) == 3 }

warn_tags contains msg if {
  every k in ["a"] { k == "a" }
  msg := sprintf("%v", [limits.a])
}
"""
    assert compile_check(inline_bundle("ns/p", text)) == []


def test_compile_error_str() -> None:
    assert str(CompileError("p/a.rego", 3, 7, "boom")) == "p/a.rego:3:7: boom"
