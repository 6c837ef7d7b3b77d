"""Evaluation through the real engine in its child process: conftest's rule names and result shapes,
several packages and bundles side by side, `data`, enforcement, time limits (fail closed / open), and that
the child sees nothing of the caller's environment."""

from __future__ import annotations

import os
import time

import pytest

from tfcontroller.policy.bundle import PolicyBundle, inline_bundle
from tfcontroller.policy.evaluate import PolicyReport, PolicyResult, PolicySpecView, evaluate, overall

INPUT = {"resource_changes": [{"address": "aws_s3_bucket.logs", "type": "aws_s3_bucket",
                               "change": {"actions": ["delete"]}}],
         "tfcontroller": {"namespace": "team-a", "name": "infra"}}

SHAPES = """package main

deny contains msg if {
  some rc in input.resource_changes
  "delete" in rc.change.actions
  msg := sprintf("%s would be deleted", [rc.address])
}

violation contains {"msg": "violation as object", "details": {"k": 1}} if { true }

warn contains {"msg": "warn as object"} if { true }

warn_naming contains "warn with a suffix" if { true }

deny_suffix contains "deny with a suffix" if { input.tfcontroller.namespace == "team-a" }

helper contains "a helper is not a rule conftest reads" if { true }
"""


def _eval(*pairs: tuple[PolicySpecView, PolicyBundle], timeout: float = 10.0) -> PolicyReport:
    return evaluate(list(pairs), INPUT, timeout=timeout)


def test_conftest_rule_names_and_shapes() -> None:
    report = _eval((PolicySpecView("team-a/shapes"), inline_bundle("team-a/shapes", SHAPES)))
    (r,) = report.results
    assert sorted(r.denies) == ["aws_s3_bucket.logs would be deleted", "deny with a suffix", "violation as object"]
    assert sorted(r.warnings) == ["warn as object", "warn with a suffix"]
    assert report.result == "denied" and r.result == "denied" and r.error == ""
    assert report.digest.startswith("sha256:") and report.evaluated_at.endswith("Z")


def test_several_packages_and_bundles_do_not_clash() -> None:
    # two bundles both in `package main`, each with its own data.limits; a second package in one bundle
    a = PolicyBundle("ns/a", (("a/main.rego", 'package main\n\ndeny contains msg if {\n  msg := sprintf("a:%v", [data.limit])\n}\n'),
                              ("a/extra.rego", 'package extra.checks\n\nwarn contains "extra" if { data.main.deny }\n')),
                     data={"limit": 1})
    b = PolicyBundle("ns/b", (("b/main.rego", 'package main\n\nwarn contains msg if {\n  msg := sprintf("b:%v", [data.limit])\n}\n'),),
                     data={"limit": 2})
    report = _eval((PolicySpecView("ns/a"), a), (PolicySpecView("ns/b"), b))
    ra, rb = report.results
    assert ra.denies == ["a:1"] and ra.warnings == ["extra"]
    assert rb.denies == [] and rb.warnings == ["b:2"]
    assert report.result == "denied"


def test_enforcement_warn_turns_denies_into_warnings() -> None:
    report = _eval((PolicySpecView("ns/p", enforcement="warn"), inline_bundle("ns/p", SHAPES)))
    (r,) = report.results
    assert r.denies == [] and "aws_s3_bucket.logs would be deleted" in r.warnings
    assert report.result == "warned" and not report.blocks


def test_passed_and_boolean_rules() -> None:
    passing = inline_bundle("ns/p", 'package main\n\ndeny contains "never" if { input.nothing }\n')
    boolean = inline_bundle("ns/b", 'package main\n\ndeny if { input.tfcontroller.name == "infra" }\n')
    report = _eval((PolicySpecView("ns/p"), passing), (PolicySpecView("ns/b"), boolean))
    assert report.results[0].result == "passed"
    assert report.results[1].denies == ["main.deny is true"]


def test_v1_object_instead_of_set_is_an_error() -> None:
    report = _eval((PolicySpecView("ns/p"), inline_bundle("ns/p", 'package main\n\ndeny[msg] if { msg := "a" }\n')))
    assert report.result == "error" and "contains msg if" in report.results[0].error


def test_runtime_error_is_an_error_result() -> None:
    bad = inline_bundle("ns/p", 'package main\n\ndeny contains "a" if { missing.fn(1) }\n')
    report = _eval((PolicySpecView("ns/p"), bad))
    assert report.result == "error" and "missing.fn" in report.results[0].error


LOOP = 'package main\n\ndeny contains msg if {\n  some i in numbers.range(1, 1000000000)\n  i < 0\n  msg := "never"\n}\n'


def test_a_policy_that_runs_too_long_is_stopped_and_fails_closed() -> None:
    good = inline_bundle("ns/good", SHAPES)
    started = time.monotonic()
    report = _eval((PolicySpecView("ns/loop", timeout=1.0), inline_bundle("ns/loop", LOOP)),
                   (PolicySpecView("ns/good"), good), timeout=30)
    assert time.monotonic() - started < 25
    loop, after = report.results
    assert "did not finish within 1s" in loop.error and loop.result == "error" and loop.blocks
    assert after.error == "" and after.denies  # the policies after the stopped one still ran, in a new child
    assert report.result == "denied"  # a deny outranks the error; both block
    only_loop = _eval((PolicySpecView("ns/loop", timeout=1.0), inline_bundle("ns/loop", LOOP)))
    assert only_loop.result == "error" and only_loop.blocks


def test_fail_open_turns_an_error_into_a_warning() -> None:
    report = _eval((PolicySpecView("ns/loop", failure_policy="Open", timeout=1.0), inline_bundle("ns/loop", LOOP)))
    assert report.results[0].result == "error" and not report.results[0].blocks
    assert report.result == "warned" and not report.blocks


def test_the_child_sees_none_of_the_callers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-secret")
    leak = inline_bundle("ns/p", 'package main\n\nwarn contains msg if {\n  msg := sprintf("%v", [opa.runtime()])\n}\n')
    report = _eval((PolicySpecView("ns/p"), leak))
    assert "hunter2-secret" not in repr(report)
    assert os.environ["SMTP_PASSWORD"] == "hunter2-secret"


def test_no_policies_pass() -> None:
    report = evaluate([], INPUT, timeout=1)
    assert report.result == "passed" and report.results == []


@pytest.mark.parametrize("results,want", [
    ([], "passed"),
    ([PolicyResult("a", warnings=["w"])], "warned"),
    ([PolicyResult("a", denies=["d"], waived=True)], "warned"),
    ([PolicyResult("a", error="e", failure_policy="Open")], "warned"),
    ([PolicyResult("a", error="e")], "error"),
    ([PolicyResult("a", error="e"), PolicyResult("b", denies=["d"])], "denied"),
])
def test_overall(results: list[PolicyResult], want: str) -> None:
    assert overall(results) == want


def test_many_bundles_each_with_its_own_data() -> None:
    """rego-cpp refuses a third separate add_data; every bundle's data must still reach only that bundle."""
    pairs = [(PolicySpecView(f"ns/p{i}"), PolicyBundle(f"ns/p{i}", (("m.rego", 'package main\n\nwarn contains msg if {\n'
                                                                     '  msg := concat(" ", [sprintf("%v", [data.n]), json.marshal(data.list)])\n}\n'),),
                                                       data={"n": i, "list": [i, "x", 1.5, True]}))
             for i in range(5)]
    report = _eval(*pairs)
    assert [r.warnings for r in report.results] == [[f'{i} [{i},"x",1.5,true]'] for i in range(5)]


def test_malformed_engine_output_is_an_error_not_a_pass() -> None:
    """rego-cpp 1.5 leaves quotes unescaped in sprintf("%s", [a built-in's string]): the result is not JSON,
    and the policy must then fail (closed), never pass silently (docs/policy.md "Engine limits")."""
    quirk = inline_bundle("ns/p", 'package main\n\ndeny contains msg if {\n  msg := sprintf("x %s", [concat(",", ["a"])])\n}\n')
    report = _eval((PolicySpecView("ns/p"), quirk))
    assert report.result == "error" and "not JSON" in report.results[0].error


def test_groups_deal_policies_round_robin() -> None:
    from tfcontroller.policy.evaluate import _groups

    assert _groups(5, 2) == [[0, 2, 4], [1, 3]]
    assert _groups(2, 4) == [[0], [1]]
    assert _groups(3, 1) == [[0, 1, 2]]
    assert _groups(1, 0) == [[0]]


@pytest.mark.parametrize("workers", [1, 3])
def test_results_keep_their_order_whatever_the_workers(workers: int) -> None:
    pairs = [(PolicySpecView(f"ns/p{i}", timeout=1.0 if i == 1 else None),
              inline_bundle(f"ns/p{i}", LOOP if i == 1 else f'package main\n\nwarn contains "w{i}" if {{ true }}\n'))
             for i in range(5)]
    report = evaluate(pairs, INPUT, timeout=10, workers=workers)
    assert [r.policy for r in report.results] == [f"ns/p{i}" for i in range(5)]
    assert [r.warnings for r in report.results] == [["w0"], [], ["w2"], ["w3"], ["w4"]]
    assert "did not finish" in report.results[1].error


@pytest.mark.parametrize("text,fragment", [
    ('package main\n\ndeny contains msg if {\n  input.nothing\n  no.such(1)\n  msg := "a"\n}\n', "unknown function no.such"),
    ('package main\n\ndeny[msg] {\n  msg := "a"\n}\n', "Rego v0"),
    ('package main\n\ndeny contains msg if {\n', "unclosed"),
])
def test_a_policy_that_does_not_compile_is_an_error_even_unchecked(text: str, fragment: str) -> None:
    """Evaluation applies the compile check's rules too: an unknown function behind a condition the plan
    does not meet would otherwise pass silently."""
    report = _eval((PolicySpecView("ns/p"), inline_bundle("ns/p", text)))
    assert report.result == "error" and fragment in report.results[0].error
    assert "inline.rego:" in report.results[0].error


@pytest.mark.parametrize("workers", [1, 2])
def test_bundles_in_one_child_see_nothing_of_each_other(workers: int) -> None:
    """Each bundle is compiled on its own (worker.evaluate_bundle): another bundle's data, rules and
    packages are not in `data` for it, whatever its package is called, however many share the child."""
    holder = PolicyBundle("ns/holder", (("m.rego", 'package main\n\nsecret := "s3cr3t-rule"\n\n'
                                                   'warn contains "holder" if { true }\n'),),
                          data={"token": "s3cr3t-data"})
    peeks = [inline_bundle(f"ns/peek{i}", f'package {pkg}\n\nwarn contains "blind" if {{ true }}\n\n'
                                          'warn contains "sees the data" if { data.token }\n\n'
                                          'warn contains "sees the rule" if { data.main.secret }\n')
             for i, pkg in enumerate(["main", "other", "main.sub"])]
    report = evaluate([(PolicySpecView("ns/holder"), holder)] + [(PolicySpecView(b.name), b) for b in peeks],
                      INPUT, timeout=10, workers=workers)
    assert report.results[0].warnings == ["holder"]
    for r in report.results[1:]:
        assert (r.error, r.warnings) == ("", ["blind"])


def test_the_same_package_changed_between_evaluations_is_read_afresh() -> None:
    """Nothing compiled is kept between evaluations (nor between bundles): a changed policy is evaluated
    as it is now, even by the same name and package."""
    for text, want in [('deny contains "v1" if { true }', ["v1"]), ('deny contains "v2" if { true }', ["v2"]),
                       ('deny contains "v3" if { false }', [])]:
        bundle = inline_bundle("ns/p", f"package main\n\n{text}\n")
        assert _eval((PolicySpecView("ns/p"), bundle)).results[0].denies == want


def test_comprehension_rules_read_as_sets_and_two_of_one_name_fail_closed() -> None:
    """docs/policy.md "Writing fast policies": `deny := {msg | …}` is read as the partial rule would be;
    defining it twice in one package is a conflict, an error that blocks, never a silent pass."""
    same = inline_bundle("ns/c", 'package main\n\ndeny := {msg |\n  some rc in input.resource_changes\n'
                                 '  "delete" in rc.change.actions\n  msg := sprintf("%s would be deleted", [rc.address])\n}\n')
    assert _eval((PolicySpecView("ns/c"), same)).results[0].denies == ["aws_s3_bucket.logs would be deleted"]
    twice = inline_bundle("ns/t", 'package main\n\ndeny := {"a"}\n\ndeny := {"b"}\n')
    result = _eval((PolicySpecView("ns/t"), twice)).results[0]
    assert result.result == "error" and result.blocks


# A helper rule that conflicts when the plan holds two regions (a complete rule with two values is an
# evaluation error in Rego), beside a deny that fires: a plan shaped to make the helper fail must not hide
# the deny, whatever the failure policy.
DENY_BESIDE_A_FAILING_RULE = """package main

region := r.change.after.region if {
  some r in input.resource_changes
}

deny contains "public bucket" if { true }

warn contains msg if {
  msg := sprintf("region %s", [region])
}
"""


@pytest.mark.parametrize("failure_policy", ["Closed", "Open"])
def test_an_error_in_one_rule_never_hides_a_deny_of_another(failure_policy: str) -> None:
    doc = {"resource_changes": [{"address": f"x.r{i}", "type": "x", "change": {"actions": ["create"],
                                                                          "after": {"region": f"eu-{i}"}}}
                                for i in range(2)],
           "tfcontroller": {"namespace": "team-a", "name": "infra"}}
    spec = PolicySpecView("team-a/p", failure_policy=failure_policy)
    report = evaluate([(spec, inline_bundle("team-a/p", DENY_BESIDE_A_FAILING_RULE))], doc, timeout=10.0)
    (r,) = report.results
    assert r.denies == ["public bucket"]
    assert r.error  # the failing rule is reported too
    assert r.result == "denied" and r.blocks and report.result == "denied"


def test_a_policy_past_the_memory_limit_fails_closed_instead_of_growing() -> None:
    """A million-element array takes the engine ~0.8 GiB (and ~3 s): under a 0.4 GiB bound the child is
    stopped and the policy is an error that blocks, naming the bound; the same policy under the default
    bound evaluates (so it is the memory bound that stopped it, not the time limit)."""
    big = "package main\n\nbig := count([i | some i in numbers.range(1, 1000000)])\n\ndeny contains \"big\" if { big > 0 }\n"
    spec = PolicySpecView("team-a/big")
    limited = evaluate([(spec, inline_bundle("team-a/big", big))], INPUT, timeout=60.0, workers=1,
                       memory_bytes=400 * 1024**2)
    (r,) = limited.results
    assert "MiB of memory" in r.error and not r.denies and r.blocks and limited.result == "error"
    unlimited = evaluate([(spec, inline_bundle("team-a/big", big))], INPUT, timeout=60.0, workers=1)
    assert unlimited.results[0].denies == ["big"]


# ---- several groups on one loaded input (evaluate._run_shared, worker._fork_groups; review s20 gap 3) --------
BIG = "package main\n\nbig := count([i | some i in numbers.range(1, 1000000)])\n\ndeny contains \"big\" if { big > 0 }\n"


def test_forked_groups_keep_the_limits_of_children_of_their_own() -> None:
    """Two groups share one input load (forks of one worker): a fork past the memory bound is stopped and its
    policy fails closed, the rest of its group (here a loop) runs in a fresh child and is stopped there, and
    the other group's policies are unaffected, in order. (A fork past its time limit: the test above, whose
    two policies are two groups.)"""
    good = inline_bundle("ns/good", SHAPES)
    pairs = [(PolicySpecView("ns/big"), inline_bundle("ns/big", BIG)), (PolicySpecView("ns/good"), good),
             (PolicySpecView("ns/loop", timeout=1.0), inline_bundle("ns/loop", LOOP)),
             (PolicySpecView("ns/good2"), good)]
    report = evaluate(pairs, INPUT, timeout=30.0, workers=2, memory_bytes=400 * 1024**2)
    big, good1, loop, good2 = report.results
    assert "MiB of memory" in big.error and big.blocks
    # the loop materialises its range: stopped at its 1 s limit or at the bound, by its own child
    assert ("did not finish within 1s" in loop.error or "MiB of memory" in loop.error) and loop.blocks
    for r in (good1, good2):
        assert r.error == "" and "aws_s3_bucket.logs would be deleted" in r.denies
    assert [r.policy for r in report.results] == ["ns/big", "ns/good", "ns/loop", "ns/good2"]


def test_forked_groups_see_none_of_the_callers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-secret")
    leak = inline_bundle("ns/p", 'package main\n\nwarn contains msg if {\n  msg := sprintf("%v", [opa.runtime()])\n}\n')
    report = evaluate([(PolicySpecView("ns/p"), leak), (PolicySpecView("ns/q"), leak)], INPUT, timeout=10, workers=2)
    assert all(r.warnings and not r.error for r in report.results)
    assert "hunter2-secret" not in repr(report)
