"""PolicyExceptions waive one plan of one Terraform: the right plan id waives the named policies' denies;
another plan id, another Terraform, another namespace or another policy name waive nothing."""

from __future__ import annotations

import pytest

from tfcontroller.policy.evaluate import PolicyReport, PolicyResult, overall
from tfcontroller.policy.exceptions import ExceptionView, apply_exceptions

PLAN = "plan-main-0123456789-abcdef01"


def _report() -> PolicyReport:
    results = [PolicyResult("team-a/protect", denies=["aws_s3_bucket.logs would be deleted"]),
               PolicyResult("platform/tags", denies=["aws_s3_bucket.new lacks owner"]),
               PolicyResult("team-a/broken", error="did not finish within 5s"),
               PolicyResult("team-a/fine")]
    return PolicyReport(result=overall(results), results=results)


def _exc(**kw: object) -> ExceptionView:
    base: dict[str, object] = {"namespace": "team-a", "name": "let-it-go", "terraform": "infra", "plan_id": PLAN,
                               "policies": ("protect",), "reason": "decommissioned"}
    base.update(kw)
    return ExceptionView(**base)  # type: ignore[arg-type]


def _apply(*exceptions: ExceptionView) -> PolicyReport:
    return apply_exceptions(_report(), exceptions, PLAN, namespace="team-a", name="infra")


def test_the_right_plan_id_waives_the_named_policy_only() -> None:
    report = _apply(_exc())
    protect, tags, broken, fine = report.results
    assert protect.waived and protect.exception == "let-it-go" and protect.result == "waived"
    assert protect.denies == ["aws_s3_bucket.logs would be deleted"]  # messages kept
    assert not tags.waived and tags.result == "denied"
    assert broken.result == "error" and fine.result == "passed"
    assert report.result == "denied"


def test_waiving_every_deny_leaves_the_error_blocking_then_warned() -> None:
    report = _apply(_exc(policies=("protect", "platform/tags", "broken")))
    assert [r.result for r in report.results] == ["waived", "waived", "error", "passed"]
    assert report.result == "error"  # an error is never waived: nobody saw what the policy would say
    results = [r for r in report.results if not r.error]
    assert overall(results) == "warned"


@pytest.mark.parametrize("exc", [
    _exc(plan_id="plan-main-0123456789-ffffffff"),  # another plan of the same object
    _exc(plan_id=""),
    _exc(terraform="other"),  # another Terraform
    _exc(namespace="team-b"),  # same names, another namespace
    _exc(policies=("tags",)),  # "tags" means team-a/tags, not platform/tags
    _exc(policies=("team-b/protect",)),
    _exc(policies=()),
])
def test_exceptions_that_waive_nothing(exc: ExceptionView) -> None:
    report = _apply(exc)
    assert not any(r.waived for r in report.results)
    assert report.result == "denied"


def test_an_empty_plan_id_never_matches() -> None:
    report = apply_exceptions(_report(), [_exc(plan_id="")], "", namespace="team-a", name="infra")
    assert not any(r.waived for r in report.results)


def test_qualified_policy_name_and_first_exception_by_name() -> None:
    report = _apply(_exc(name="b-second"), _exc(name="a-first", policies=("team-a/protect", "platform/tags")))
    assert [r.exception for r in report.results[:2]] == ["a-first", "a-first"]
