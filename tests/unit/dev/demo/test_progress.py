"""The demo's console (issue 13, point 17): an object's phase is read from its conditions by one rule, and
every entry is printed whole, wrapped at word boundaries to the terminal's width. Before, a message was cut
at 140 characters mid-word ("…approve with: kubectl ", "…is invali") and a failed run that was being retried
read "working"."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.dev.demo.progress import Phase, format_entry, phase, runner_pod_text

APPROVE = ("Plan plan-main-0123456789-abcdef01 (3 to add, 0 to change, 0 to destroy) waits for approval: approve "
           "with: kubectl annotate terraform.tfcontroller.io app-stack-prod -n default "
           "tfcontroller.io/approve-plan=plan-main-0123456789-abcdef01 --overwrite")
INVALID = "spec.vars[0].value: the value of variable \"owner\" is invalid: expected a string, got a list"
TERRAFORM_ERROR = ("Error: creating S3 Bucket (sample-app-dev): operation error S3: CreateBucket, https response "
                   "error StatusCode: 0, RequestID: , HostID: , request send failed,\n  on main.tf line 3:\n"
                   "   3: resource \"aws_s3_bucket\" \"this\" {")
LONG_WORD = "s3://" + "x" * 150


def cond(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def obj(*conds: dict[str, str], suspend: bool = False) -> dict[str, Any]:
    return {"spec": {"suspend": suspend}, "status": {"conditions": list(conds)}}


@pytest.mark.parametrize(("o", "want"), [
    (obj(), Phase("pending", "", "waiting for the controller")),
    (obj(cond("Ready", "True", "ApplySucceeded", "Applied plan p1")), Phase("ready", "ApplySucceeded", "Applied plan p1")),
    # a run in progress: Ready Unknown beside Reconciling=True (the summariser's mark_reconciling)
    (obj(cond("Ready", "Unknown", "Progressing", "Planning main@sha1:abc (drift detection is due)"),
         cond("Reconciling", "True", "Progressing", "Planning main@sha1:abc (drift detection is due)")),
     Phase("working", "", "Planning main@sha1:abc (drift detection is due)")),
    # a failed run being retried: Reconciling=True with ProgressingWithRetry is a failure, not work
    (obj(cond("Ready", "False", "PlanFailed", TERRAFORM_ERROR),
         cond("Reconciling", "True", "ProgressingWithRetry", TERRAFORM_ERROR)),
     Phase("failing", "PlanFailed", TERRAFORM_ERROR)),
    (obj(cond("Ready", "False", "ReconciliationFailed", "boom")), Phase("failing", "ReconciliationFailed", "boom")),
    # waiting on something else is not a failure of the object
    (obj(cond("Ready", "False", "DependencyNotReady", "dependency Terraform default/a is not ready"),
         cond("Reconciling", "True", "ProgressingWithRetry", "dependency Terraform default/a is not ready")),
     Phase("waiting", "DependencyNotReady", "dependency Terraform default/a is not ready")),
    (obj(cond("Ready", "False", "StateLocked", "state locked by run r1"),
         cond("Reconciling", "True", "ProgressingWithRetry", "state locked by run r1")),
     Phase("waiting", "StateLocked", "state locked by run r1")),
    (obj(cond("Ready", "False", "PlanPending", APPROVE)), Phase("waiting", "PlanPending", APPROVE)),
    (obj(cond("Ready", "False", "SpecValidationFailed", INVALID), cond("Stalled", "True", "SpecValidationFailed", INVALID)),
     Phase("stalled", "SpecValidationFailed", INVALID)),
    (obj(cond("Ready", "True", "ApplySucceeded", "ok"), suspend=True), Phase("suspended", "", "spec.suspend is true")),
])
def test_phase_reads_conditions_as_a_person_would(o: dict[str, Any], want: Phase) -> None:
    assert phase(o) == want


@pytest.mark.parametrize("message", [APPROVE, INVALID, TERRAFORM_ERROR, LONG_WORD, "short", ""])
@pytest.mark.parametrize("width", [20, 60, 80, 120, 200])
def test_entries_keep_every_word_and_fit_the_width(message: str, width: int) -> None:
    text = Phase("failing", "PlanFailed", message).text()
    out = format_entry("[  12.5s]", "terraform/app-stack-prod", text, width)
    lines = out.split("\n")
    assert " ".join(out.split()) == " ".join(f"[  12.5s] terraform/app-stack-prod {text}".split()), (
        "the entry lost or changed words")
    assert lines[0].startswith("[  12.5s] terraform/app-stack-prod")
    usable = max(width, 52)  # on a narrow terminal the text keeps a readable line length (MIN_WIDTH) instead
    assert all(len(line) <= usable or len(line.split()) == 1 for line in lines), out  # a long word has its line
    if len(lines) > 1:  # continuation lines are indented, so an entry reads as one block
        assert all(line.startswith("   ") for line in lines[1:]), out


def test_words_are_never_cut() -> None:
    out = format_entry("[   1.0s]", "terraform/app-stack-prod", f"waiting (PlanPending): {APPROVE}", 80)
    words = set(" ".join(out.split()).split())
    for word in ("kubectl", "annotate", "tfcontroller.io/approve-plan=plan-main-0123456789-abcdef01", "--overwrite"):
        assert word in words, out


def test_newlines_in_a_message_become_spaces_under_the_indent() -> None:
    out = format_entry("[   1.0s]", "tf/x", TERRAFORM_ERROR, 80, key_width=10)
    for line in out.split("\n")[1:]:
        assert line.startswith(" " * len("[   1.0s] tf/x       ")), out


def test_a_plain_line_has_no_key_column() -> None:
    assert format_entry("[   0.0s]", "", "controller started", 80) == "[   0.0s] controller started"


def test_a_word_longer_than_a_line_stays_whole() -> None:
    out = format_entry("[   1.0s]", "tf/x", f"see {LONG_WORD} now", 80, key_width=10)
    assert LONG_WORD in out.split(), out


def _runner_pod(phase_: str, terminated: str | None = None) -> dict[str, Any]:
    state = {"terminated": {"reason": terminated}} if terminated else {"running": {}}
    return {"metadata": {"name": "tfrun-0123456789abcdef-1", "labels": {
                "tfcontroller.io/terraform": "app-stack-dev", "tfcontroller.io/run-id": "0123456789abcdef",
                "tfcontroller.io/operation": "plan"}},
            "status": {"phase": phase_, "containerStatuses": [{"name": "runner", "state": state}]}}


@pytest.mark.parametrize(("pod", "text"), [
    (_runner_pod("Running"), "plan of terraform/app-stack-dev (run 0123456789abcdef): Running"),
    (_runner_pod("Failed", "OOMKilled"), "plan of terraform/app-stack-dev (run 0123456789abcdef): Failed (OOMKilled)"),
    ({"metadata": {"name": "tfrun-x-1"}}, "run of terraform/? (run ?): Pending"),
])
def test_a_runner_pod_reads_as_its_objects_command_and_phase(pod: dict[str, Any], text: str) -> None:
    assert runner_pod_text(pod) == text
