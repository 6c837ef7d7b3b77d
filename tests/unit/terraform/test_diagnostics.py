"""Classification of Terraform's -json diagnostics into typed errors (one table), JSON-lines parsing,
lock info parsing and secret scrubbing. Diagnostic texts are those Terraform 1.11 prints."""

from __future__ import annotations

import json

import pytest

from tfcontroller.api import errors as api_errors
from tfcontroller.api.redact import scrub
from tfcontroller.terraform import errors as e
from tfcontroller.terraform.diagnostics import classify, diagnostics_from, parse_json_lines, parse_lock_info

LOCK_DETAIL = (
    "Error message: resource temporarily unavailable\nLock Info:\n"
    "  ID:        bf88096c-4ad9-b48d-a044-cc418d0e4355\n  Path:      terraform.tfstate\n"
    "  Operation: OperationTypeApply\n  Who:       root@vm\n  Version:   1.11.4\n"
    "  Created:   2026-11-27 11:07:09.303636043 +0000 UTC\n  Info:      \n\n\nTerraform acquires a state lock"
)


def D(summary: str, detail: str = "", filename: str | None = None, line: int | None = None,
      severity: str = "error") -> e.Diagnostic:
    return e.Diagnostic(severity, summary, detail, filename, line, 1 if line else None)


@pytest.mark.parametrize(("diags", "want", "reason"), [
    ([D("Error acquiring the state lock", LOCK_DETAIL)], e.StateLockedError, "StateLocked"),
    ([D("Saved plan is stale", "The given plan file can no longer be applied")], e.StalePlanError, "PlanStale"),
    ([D("Saved plan does not match the given state",
        "The given plan file can not be applied because it was created from a different state lineage.")],
     e.StalePlanError, "PlanStale"),
    ([D("No value for required variable", 'The root module input variable "b" is not set'),
      D("No value for required variable", 'The root module input variable "a" is not set')],
     e.MissingVariablesError, "MissingVariables"),
    ([D("Invalid value for input variable", "bad", "main.tf", 3)], e.InvalidVariablesError, "VariablesInvalid"),
    ([D("Module not installed", "Run terraform init", "main.tf", 4)], e.InitRequiredError, "InitRequired"),
    ([D("Required plugins are not installed", "...")], e.InitRequiredError, "InitRequired"),
    ([D("Failed to query available provider packages", "hashicorp/null was not found")],
     e.ProviderError, "ProviderFailed"),
    ([D("Terraform encountered problems during initialisation, including problems"),
      D("Invalid expression", "Expected the start of an expression", "main.tf", 2)],
     e.ConfigurationError, "ConfigurationInvalid"),
    ([D("Reference to undeclared input variable", 'variable "nope"', "vars.tf", 7)],
     e.ConfigurationError, "ConfigurationInvalid"),
    ([D("creating S3 Bucket (x): AccessDenied", "", "main.tf", 9)], e.TransientError, "TerraformFailed"),
    # an error located in a variables file is about its content (issue 21, the Terraform fuzz): never
    # transient; summaries and file names as Terraform 1.11.4 prints them for broken -var-file files
    ([D("Missing value", "The JSON data ends prematurely.", "/run/x/vars/000-a.tfvars.json", 2),
      D("Unclosed object", "", "/run/x/vars/000-a.tfvars.json", 1)], e.InvalidVariablesError, "VariablesInvalid"),
    ([D("Incorrect JSON value type", "", "b.tfvars.json", 1)], e.InvalidVariablesError, "VariablesInvalid"),
    ([D("Invalid JSON keyword", "", "vars/c.tfvars.json", 1)], e.InvalidVariablesError, "VariablesInvalid"),
    ([D("Extraneous data after value", "", "i.tfvars.json", 1)], e.InvalidVariablesError, "VariablesInvalid"),
    ([D("Invalid multi-line string", "", "d.tfvars", 1)], e.InvalidVariablesError, "VariablesInvalid"),
    ([D("Invalid character encoding", "", "prod.auto.tfvars", 1)], e.InvalidVariablesError, "VariablesInvalid"),
    # the JSON syntax of a module's own `*.tf.json` is the configuration's
    ([D("Missing value", "The JSON data ends prematurely.", "main.tf.json", 2),
      D("Unclosed object", "", "main.tf.json", 1)], e.ConfigurationError, "ConfigurationInvalid"),
    ([D("Missing property value colon", "", "x.tf.json", 1)], e.ConfigurationError, "ConfigurationInvalid"),
    ([D("Missing JSON value", "", "x.tf.json", 1), D("Mismatched brackets", "", "x.tf.json", 1)],
     e.ConfigurationError, "ConfigurationInvalid"),
    ([D("Extraneous data after value", "", "x.tf.json", 1)], e.ConfigurationError, "ConfigurationInvalid"),
    ([D("Incorrect JSON value type", "", "x.tf.json", 1)], e.ConfigurationError, "ConfigurationInvalid"),
    # a local module source that names no directory (terraform 1.11.4 init: no range, the detail names the call)
    ([D("Unreadable module directory", "Unable to evaluate directory symlink: lstat ../../etc: no such file or "
        "directory"), D("Unreadable module directory", 'The directory  could not be read for module "up" at main.tf:1.')],
     e.ConfigurationError, "ConfigurationInvalid"),
    ([D("Some warning", severity="warning")], e.TransientError, "TerraformFailed"),
])
def test_classify_table(diags: list[e.Diagnostic], want: type, reason: str) -> None:
    err = classify("plan", diags, "stderr text")
    assert type(err) is want
    assert err.reason == reason
    assert isinstance(err, api_errors.ReconcileError)
    assert err.stderr == "stderr text"


def test_lock_error_carries_lock_info() -> None:
    err = classify("apply", [D("Error acquiring the state lock", LOCK_DETAIL)])
    assert isinstance(err, e.StateLockedError) and isinstance(err, api_errors.WaitingError)
    assert err.lock_id == "bf88096c-4ad9-b48d-a044-cc418d0e4355"
    assert err.holder == "root@vm"
    assert err.lock.operation == "OperationTypeApply"
    assert err.lock.created.startswith("2026-11-27 11:07:09")
    assert err.after_seconds > 0
    assert "root@vm" in err.message and err.lock_id in err.message


def test_lock_from_plain_stderr_of_commands_without_json() -> None:
    err = classify("workspace", [], "Error: Error locking state\n" + LOCK_DETAIL)
    assert isinstance(err, e.StateLockedError) and err.holder == "root@vm"


def test_missing_variables_named_sorted() -> None:
    err = classify("plan", [D("No value for required variable", 'input variable "zeta" is not set'),
                            D("No value for required variable", 'input variable "alpha" is not set')])
    assert isinstance(err, e.MissingVariablesError) and isinstance(err, api_errors.StallingError)
    assert err.names == ["alpha", "zeta"]
    assert "alpha, zeta" in err.message


def test_configuration_error_has_file_and_line() -> None:
    err = classify("validate", [D("Unsupported argument", 'An argument named "foo" is not expected here.',
                                  "modules/x/main.tf", 12)])
    assert isinstance(err, e.ConfigurationError)
    assert err.location == "modules/x/main.tf:12"
    assert err.message.startswith("modules/x/main.tf:12: Unsupported argument")


def test_secrets_are_scrubbed_from_message_and_stderr() -> None:
    err = classify("apply", [D("creating thing", "password hunter22 rejected")], "hunter22 in stderr",
                   secrets=["hunter22"])
    assert "hunter22" not in err.message and "hunter22" not in err.stderr
    assert all("hunter22" not in d.detail for d in err.diagnostics)
    assert scrub("ab abc", ["ab", "abc"]) == "ab ***"  # too short to be a secret: left alone


def test_parse_json_lines_and_diagnostics() -> None:
    stream = "\n".join([
        json.dumps({"@level": "info", "type": "version"}),
        "not json",
        json.dumps({"type": "diagnostic", "diagnostic": {
            "severity": "error", "summary": "Invalid expression", "detail": "x",
            "range": {"filename": "main.tf", "start": {"line": 2, "column": 11}}}}),
    ])
    messages = parse_json_lines(stream)
    assert len(messages) == 2
    diags = diagnostics_from(messages)
    assert diags == [e.Diagnostic("error", "Invalid expression", "x", "main.tf", 2, 11)]
    validate_doc = {"valid": False, "diagnostics": [{"severity": "warning", "summary": "w"}]}
    assert diagnostics_from([validate_doc])[0].severity == "warning"


def test_parse_lock_info_absent() -> None:
    assert parse_lock_info("no lock here") is None
