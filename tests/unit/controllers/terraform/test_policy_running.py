"""Issue 20's pure decisions: one-shot replacements (spec.replace and the annotation, each handled once),
the retry limit of failed applies (stops after retries + 1 failures in a row, resumes on new inputs or a
reconcile request, cleared by a success), planOnly drift re-plans, and what enters the inputs digest."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.errors import SpecError
from tfcontroller.api.terraform import annotation_addresses
from tfcontroller.controllers.terraform import policy
from tfcontroller.controllers.terraform.policy import (
    ApplyFailures,
    after_apply,
    replace_request,
    retries_exhausted,
)


def test_spec_replace_is_handled_once_per_distinct_list() -> None:
    first = replace_request(["a.b"], None, None, None, ())
    assert first.addresses == ("a.b",) and first.spec == ("a.b",)
    status: dict[str, Any] = {}
    first.record(status)
    assert status == {"lastHandledSpecReplace": ["a.b"]}
    assert replace_request(["a.b"], status["lastHandledSpecReplace"], None, None, ()).addresses == ()
    assert replace_request(["a.b", "c.d"], status["lastHandledSpecReplace"], None, None, ()).addresses == \
        ("a.b", "c.d")
    assert replace_request([], ["a.b"], None, None, ()).addresses == ()  # emptied: nothing to do


def test_the_annotation_is_handled_once_per_value_and_joins_spec_replace() -> None:
    req = replace_request(["a.b"], None, " x.y,a.b ", None, ("x.y", "a.b"))
    assert req.addresses == ("a.b", "x.y") and req.annotation == "x.y,a.b"
    status: dict[str, Any] = {}
    req.record(status)
    again = replace_request(["a.b"], status["lastHandledSpecReplace"], "x.y,a.b", status["lastHandledReplace"],
                            ("x.y", "a.b"))
    assert again.addresses == () and again.spec is None and again.annotation is None
    assert replace_request([], None, "", None, ()).addresses == ()  # a blank annotation asks for nothing


def test_removing_spec_replace_re_arms_the_same_list() -> None:
    # review of issue 20, finding 6: set, handled, removed (GitOps clean-up), the same list added weeks later
    status: dict[str, Any] = {}
    replace_request(["aws_instance.a"], None, None, None, ()).record(status)
    policy.forget_handled_replace(status, ["aws_instance.a"], None)  # still there: still handled
    assert replace_request(["aws_instance.a"], status.get("lastHandledSpecReplace"), None, None, ()).addresses == ()
    policy.forget_handled_replace(status, [], None)  # removed
    assert "lastHandledSpecReplace" not in status
    again = replace_request(["aws_instance.a"], status.get("lastHandledSpecReplace"), None, None, ())
    assert again.addresses == ("aws_instance.a",)


def test_removing_the_annotation_re_arms_the_same_value() -> None:
    status: dict[str, Any] = {}
    replace_request([], None, "x.y", None, ("x.y",)).record(status)
    policy.forget_handled_replace(status, [], "x.y")
    assert replace_request([], None, "x.y", status.get("lastHandledReplace"), ("x.y",)).addresses == ()
    for gone in (None, "", "  "):  # removed, or blanked
        status["lastHandledReplace"] = "x.y"
        policy.forget_handled_replace(status, [], gone)
        assert "lastHandledReplace" not in status
    assert replace_request([], None, "x.y", status.get("lastHandledReplace"), ("x.y",)).addresses == ("x.y",)


def test_the_spec_list_and_the_annotation_are_forgotten_independently() -> None:
    status: dict[str, Any] = {"lastHandledSpecReplace": ["a.b"], "lastHandledReplace": "x.y"}
    policy.forget_handled_replace(status, ["a.b"], None)
    assert status == {"lastHandledSpecReplace": ["a.b"]}
    status["lastHandledReplace"] = "x.y"
    policy.forget_handled_replace(status, [], "x.y")
    assert status == {"lastHandledReplace": "x.y"}


@pytest.mark.parametrize(("unapplied", "spec_replace", "annotation", "carried"), [
    (["a.b"], ["a.b"], (), ("a.b",)),  # a pending replace plan discarded by a new commit or a replan
    (["a.b", "x.y"], ["a.b"], ("x.y",), ("a.b", "x.y")),
    (["a.b", "x.y"], ["a.b"], (), ("a.b",)),  # the annotation was removed: its replacement is cancelled
    (["a.b"], [], (), ()),  # the field was removed: cancelled
    (None, ["a.b"], (), ()),  # no unapplied plan (an applied plan leaves no status.plan.replace)
    ("junk", ["a.b"], (), ()),
    (["a.b", "a.b"], ["a.b"], (), ("a.b",)),
])
def test_a_discarded_plan_does_not_consume_its_replacements(unapplied: Any, spec_replace: list[str],
                                                           annotation: tuple[str, ...],
                                                           carried: tuple[str, ...]) -> None:
    assert policy.carried_replacements(unapplied, spec_replace, annotation) == carried


D1, D2 = "sha256:1", "sha256:2"


def test_retries_stop_after_retries_plus_one_failures_in_a_row() -> None:
    failures = ApplyFailures()
    for _ in range(3):
        assert not retries_exhausted(failures, 2, D1, "", 1)
        failures = after_apply(failures, succeeded=False, inputs_digest=D1, requested_at="", generation=1,
                                error="ApplyFailed: x")
        assert failures is not None
    assert failures.count == 3 and retries_exhausted(failures, 2, D1, "", 1)
    assert not retries_exhausted(failures, None, D1, "", 1)  # unset: forever
    assert not retries_exhausted(failures, 3, D1, "", 1)


def test_new_inputs_a_spec_change_or_a_reconcile_request_resume_with_a_new_streak() -> None:
    failures = ApplyFailures(1, D1, "", "ApplyFailed: x", 4)
    assert retries_exhausted(failures, 0, D1, "", 4)
    assert not retries_exhausted(failures, 0, D2, "", 4)  # the inputs digest changed
    assert not retries_exhausted(failures, 0, D1, "2026-01-01T00:00:00Z", 4)  # tfcontroller reconcile
    assert not retries_exhausted(failures, 0, D1, "", 5)  # a spec edit outside the digest (spec.timeout)
    renewed = after_apply(failures, succeeded=False, inputs_digest=D2, requested_at="", generation=4, error="e")
    assert renewed == ApplyFailures(1, D2, "", "e", 4)
    renewed = after_apply(failures, succeeded=False, inputs_digest=D1, requested_at="", generation=5, error="e")
    assert renewed == ApplyFailures(1, D1, "", "e", 5)  # a new generation starts a new streak
    assert after_apply(failures, succeeded=False, inputs_digest=D1, requested_at="", generation=4,
                       error="e") == ApplyFailures(2, D1, "", "e", 4)
    assert after_apply(failures, succeeded=True, inputs_digest=D1, requested_at="", generation=4, error="") is None


def test_apply_failures_round_trip_through_status_and_tolerate_junk() -> None:
    failures = ApplyFailures(2, D1, "r", "e", 7)
    assert ApplyFailures.of({"applyFailures": failures.to_status()}) == failures
    assert ApplyFailures.of({"applyFailures": {"count": 1, "generation": "x"}}).generation == 0
    assert ApplyFailures.of({"applyFailures": "junk"}) == ApplyFailures()
    assert ApplyFailures.of({"applyFailures": {"count": True}}).count == 0


def test_the_message_names_the_last_error_and_how_to_resume() -> None:
    text = policy.retries_message(ApplyFailures(3, D1, "", "ApplyFailed: bucket exists"), 2,
                                  "tfcontroller reconcile web -n infra")
    assert "3 applies in a row failed" in text and "ApplyFailed: bucket exists" in text
    assert "tfcontroller reconcile web -n infra" in text and "retries: 2" in text
    # exactly what resumes it: a spec change (generation), an inputs-digest change, a reconcile request
    assert "metadata.generation" in text and "spec.timeout" in text and "inputs digest" in text
    assert "a commit that changes none of them does not count" in text


def test_plan_only_plans_again_when_drift_is_due_although_a_plan_is_pending() -> None:
    status = {"plan": {"pending": "plan-x"}, "inputsDigest": D1}
    assert not policy.decide_plan(status, D1, replan_requested=False, drift_due=True,
                                  lock_blocked_last_try=False).plan
    decision = policy.decide_plan(status, D1, replan_requested=False, drift_due=True, lock_blocked_last_try=False,
                                  plan_only=True)
    assert decision.plan and decision.is_drift_check
    assert not policy.decide_plan(status, D1, replan_requested=False, drift_due=False, lock_blocked_last_try=False,
                                  plan_only=True).plan


BASE: dict[str, Any] = {"module_digest": "m", "variables": {}, "env_names_digest": "e", "backend": {},
                        "workspace": "default", "destroy": False, "terraform_version": "1.11.4"}


def test_targets_enter_the_inputs_digest_and_their_absence_keeps_old_digests() -> None:
    plain = policy.inputs_digest(**BASE)
    assert policy.inputs_digest(**BASE, targets=()) == plain
    assert policy.inputs_digest(**BASE, targets=("a.b",)) != plain
    assert policy.inputs_digest(**BASE, targets=("a.b",)) != policy.inputs_digest(**BASE, targets=("c.d",))


# review of issue 20, finding 9: an address list is a set — its order is not a change


@pytest.mark.parametrize("targets, reordered", [
    (("a.b", "c.d"), ("c.d", "a.b")),
    (("module.x.aws_instance.y[0]", "a.b", 'c.d["k"]'), ('c.d["k"]', "module.x.aws_instance.y[0]", "a.b")),
    (("z.z", "a.a", "m.m", "b.b"), ("b.b", "m.m", "a.a", "z.z")),
])
def test_reordering_targets_keeps_the_inputs_digest(targets: tuple[str, ...], reordered: tuple[str, ...]) -> None:
    assert policy.inputs_digest(**BASE, targets=targets) == policy.inputs_digest(**BASE, targets=reordered)


def test_a_real_change_of_targets_changes_the_inputs_digest() -> None:
    base = policy.inputs_digest(**BASE, targets=("a.b", "c.d"))
    for changed in (("a.b",), ("a.b", "c.d", "e.f"), ("a.b", "c.e"), ("a.b[0]", "c.d")):
        assert policy.inputs_digest(**BASE, targets=changed) != base, changed


@pytest.mark.parametrize("handled, again", [
    (["a.b", "c.d"], ["c.d", "a.b"]),
    (["x.y", "a.b[0]", 'm.n["k"]'], ['m.n["k"]', "a.b[0]", "x.y"]),
])
def test_reordering_spec_replace_is_not_a_new_request(handled: list[str], again: list[str]) -> None:
    status: dict[str, Any] = {}
    replace_request(handled, None, None, None, ()).record(status)
    req = replace_request(again, status["lastHandledSpecReplace"], None, None, ())
    assert req.addresses == () and req.spec is None  # no second replacement of the same resources
    more = replace_request([*again, "e.f"], status["lastHandledSpecReplace"], None, None, ())
    assert set(more.addresses) == {*handled, "e.f"}  # a real change is a new request
    fewer = replace_request(again[:1], status["lastHandledSpecReplace"], None, None, ())
    assert fewer.addresses == tuple(again[:1])


@pytest.mark.parametrize("handled, again, addresses", [
    ("a.b,c.d", "c.d,a.b", ("c.d", "a.b")),
    ("a.b,c.d", " a.b , c.d ", ("a.b", "c.d")),
    ("a.b,c.d", "a.b,c.d,", ("a.b", "c.d")),
    ('x.y["p,q"],a.b', 'a.b,x.y["p,q"]', ("a.b", 'x.y["p,q"]')),
])
def test_reordering_the_annotation_is_not_a_new_request(handled: str, again: str,
                                                         addresses: tuple[str, ...]) -> None:
    status: dict[str, Any] = {}
    replace_request([], None, handled, None, addresses).record(status)
    req = replace_request([], None, again, status["lastHandledReplace"], addresses)
    assert req.addresses == () and req.annotation is None
    new = replace_request([], None, again + ",e.f", status["lastHandledReplace"], (*addresses, "e.f"))
    assert set(new.addresses) == {*addresses, "e.f"}


def _annotate(status: dict[str, Any], value: str) -> policy.ReplaceRequest:
    """One reconcile's view of the annotation: forget a removed one, then what is new (as steps.py does)."""
    policy.forget_handled_replace(status, [], value)
    req = replace_request([], None, value, status.get("lastHandledReplace"), annotation_addresses(value))
    req.record(status)
    return req


def test_a_new_token_asks_for_the_same_addresses_again_in_one_step() -> None:
    """Review s19, finding 7: `<address>[,…]@<token>`. A request is its set of addresses and its token: a
    new token (kubectl annotate --overwrite, a GitOps commit) replaces the same addresses again without
    removing the annotation first; the same token, however spelled, is the handled request."""
    status: dict[str, Any] = {}
    assert _annotate(status, "a.b,c.d@1").addresses == ("a.b", "c.d")
    for same in ("a.b,c.d@1", "c.d, a.b @ 1", "a.b,c.d,@1 "):  # order, spacing: the same request
        assert _annotate(status, same).addresses == (), same
    assert _annotate(status, "a.b,c.d@2").addresses == ("a.b", "c.d")  # a new token: again
    assert _annotate(status, "a.b,c.d").addresses == ("a.b", "c.d")  # dropping the token is a new request too
    assert _annotate(status, "c.d,a.b").addresses == ()
    assert _annotate(status, "a.b@2026-11-30T10:00:00Z").addresses == ("a.b",)  # fewer addresses, any token
    assert _annotate(status, 'm.n["x@y"]@t').addresses == ('m.n["x@y"]',)  # an @ inside a key is no token
    assert _annotate(status, 'm.n["x@y"]').addresses == ('m.n["x@y"]',)


def test_a_handled_value_without_a_token_still_matches() -> None:
    """A status written before tokens existed (`lastHandledReplace: a.b`) is the same request as `a.b`."""
    status: dict[str, Any] = {"lastHandledReplace": "a.b"}
    assert _annotate(status, "a.b").addresses == ()
    assert _annotate(status, "a.b@x").addresses == ("a.b",)


@pytest.mark.parametrize("value", ["@1", " @ 1", ",@t"])
def test_a_token_without_addresses_is_refused_naming_the_annotation(value: str) -> None:
    with pytest.raises(SpecError) as exc:
        annotation_addresses(value)
    assert "tfcontroller.io/replace" in str(exc.value) and "<address>" in str(exc.value)


@pytest.mark.parametrize("value", ["a.b@1@2", "a@b.c@1"])
def test_a_stray_at_sign_is_a_bad_address(value: str) -> None:
    with pytest.raises(SpecError):
        annotation_addresses(value)
