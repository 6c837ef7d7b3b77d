"""The Rego lexer's readings that evaluation relies on: packages and conftest rule names, and the rebasing
of a bundle under its own `data.<root>` (strings, comments and `input.data` untouched, lines kept)."""

from __future__ import annotations

from tfcontroller.policy import lexer

MODULE = '''package terraform.tags  # a comment with data.x
import data.lib.helpers
import rego.v1

deny contains msg if {
  some rc in input.resource_changes
  rc.change.after.data == data.limits["x"]
  msg := "data.not_a_ref in a string"
}

warn_naming contains `raw data.y` if { data.lib.helpers.f(input.data) }

default allowed := []
'''


def test_packages_and_rules() -> None:
    assert lexer.packages(MODULE) == ["terraform.tags"]
    assert lexer.rule_names(MODULE) == {"deny", "warn_naming", "allowed"}
    assert sorted(n for n in lexer.rule_names(MODULE) if lexer.is_conftest_rule(n)) == ["deny", "warn_naming"]
    assert lexer.is_conftest_rule("violation_x") and not lexer.is_conftest_rule("denylist")


def test_calls_and_function_definitions() -> None:
    text = 'package a\n\nf(x) := y if { y := x }\n\ndeny contains m if { m := sprintf("%v", [f(1), object.get({}, "k", 0)]) }\n'
    assert lexer.function_names(text) == {"f"}
    assert [name for name, _ in lexer.calls(text)] == ["sprintf", "f", "object.get"]
