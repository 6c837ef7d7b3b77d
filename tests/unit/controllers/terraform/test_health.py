"""The health verdict of a Terraform (controllers/terraform/health.py), a pure function of the results:
invalid checks win (no retry helps them), then failures naming each failing check and why, otherwise
the names of the checks that passed."""

from __future__ import annotations

from tfcontroller.controllers.terraform.health import (
    HEALTH_CHECK_FAILED,
    HEALTH_CHECK_INVALID,
    HEALTH_CHECKS_PASSED,
    health_verdict,
)
from tfcontroller.terraform.health import FAILED, INVALID, PASSED, CheckResult

OK = CheckResult("web", PASSED, "http://127.0.0.1:80/")
DOWN = CheckResult("db", FAILED, "db.internal:5432", "Connection refused")
SLOW = CheckResult("api", FAILED, "https://api/healthz", "timed out")
BAD = CheckResult("cache", INVALID, "{{ .cache }}:6379",
                  "spec.healthChecks[2].address: the module has no output 'cache' (it has: db)")


def test_all_passed() -> None:
    assert health_verdict([OK]) == (HEALTH_CHECKS_PASSED, "1 health check passed: web")
    assert health_verdict([OK, CheckResult("db", PASSED, "db:1")]) == (HEALTH_CHECKS_PASSED,
                                                                       "2 health checks passed: web, db")


def test_failures_name_each_check_its_target_and_why() -> None:
    reason, message = health_verdict([OK, DOWN, SLOW])
    assert reason == HEALTH_CHECK_FAILED
    assert message == ("2 of 3 health checks failed: db (db.internal:5432): Connection refused; "
                       "api (https://api/healthz): timed out")


def test_invalid_checks_come_first_and_say_what_to_fix() -> None:
    reason, message = health_verdict([DOWN, BAD, OK])
    assert reason == HEALTH_CHECK_INVALID
    assert "no output 'cache'" in message and "spec.healthChecks[2].address" in message
    assert "fix the check in spec.healthChecks or add the output to the module" in message
    assert "db.internal" not in message
