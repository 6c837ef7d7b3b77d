"""The checker every controller test runs on the objects it observes (tests/support/kstatus.py): one valid
status passes, and each broken invariant of the API conventions/kstatus is named."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.kstatus import assert_kstatus, kstatus_violations

T = "2026-01-02T03:04:05Z"


def cond(type_: str, status: str, reason: str = "Succeeded", **extra: Any) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": "m", "lastTransitionTime": T, **extra}


def obj(*conditions: dict[str, Any], generation: int = 2, observed: int | None = 2) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": list(conditions)}
    if observed is not None:
        status["observedGeneration"] = observed
    return {"kind": "Terraform", "metadata": {"name": "a", "namespace": "ns", "generation": generation},
            "status": status}


GOOD = [
    None,
    {"metadata": {"name": "new", "generation": 1}},
    obj(cond("Ready", "True", observedGeneration=2)),
    obj(cond("Ready", "False", "PlanPendingApproval"), cond("Planned", "True", "PlanCreated")),
    obj(cond("Ready", "Unknown", "Progressing"), cond("Reconciling", "True", "Progressing"), observed=1),
    obj(cond("Ready", "False", "SpecValidationFailed"), cond("Stalled", "True", "SpecValidationFailed")),
    obj(cond("Ready", "True", lastTransitionTime="2026-01-02T03:04:05.123+01:00")),
]


@pytest.mark.parametrize("good", GOOD)
def test_valid_statuses_pass(good: dict[str, Any] | None) -> None:
    assert_kstatus(copy.deepcopy(good))


BAD = [
    (obj(cond("Planned", "True")), "Ready is not among them"),
    (obj(cond("Ready", "True"), observed=3), "status.observedGeneration 3 is above"),
    (obj(cond("Ready", "True", observedGeneration=5)), "observedGeneration 5 is above"),
    (obj(cond("Ready", "False", "Failed"), cond("Stalled", "False", "Failed")), "Stalled is present with status False"),
    (obj(cond("Ready", "Unknown", "Progressing"), cond("Reconciling", "Unknown", "Progressing")),
     "Reconciling is present"),
    (obj(cond("Ready", "False", "X"), cond("Reconciling", "True", "X"), cond("Stalled", "True", "X")),
     "both True"),
    (obj(cond("Ready", "Unknown", "X"), cond("Stalled", "True", "X")), "Stalled=True but Ready is Unknown"),
    (obj(cond("Ready", "True"), cond("Reconciling", "True", "Progressing")), "Ready=True beside Reconciling"),
    (obj(cond("Ready", "Maybe")), "not one of"),
    (obj(cond("Ready", "True", "apply succeeded")), "not CamelCase"),
    (obj(cond("Ready", "True", "")), "not CamelCase"),
    (obj({"type": "Ready", "status": "True", "reason": "Ok", "lastTransitionTime": T}), "no message"),
    (obj(cond("Ready", "True", lastTransitionTime="2026-01-02 03:04:05")), "not RFC 3339"),
    (obj(cond("Ready", "True", lastTransitionTime=None)), "not RFC 3339"),
    (obj(cond("Ready", "True"), cond("Ready", "True")), "appears 2 times"),
    (obj({"status": "True", "reason": "Ok", "message": "", "lastTransitionTime": T}, cond("Ready", "True")),
     "has no type"),
]


@pytest.mark.parametrize(("bad", "names"), BAD)
def test_each_broken_invariant_is_named(bad: dict[str, Any], names: str) -> None:
    assert any(names in p for p in kstatus_violations(bad)), kstatus_violations(bad)
    with pytest.raises(AssertionError, match="Terraform ns/a breaks the status conventions"):
        assert_kstatus(bad)
