"""`assert_kstatus(obj)`: the invariants of the Kubernetes API conventions and kstatus that every object
our controllers write must satisfy, checked on every object the controller tests observe (their wait
helpers call it), so that a status no client could interpret fails the test that produced it.

The rules (Flux's "abnormal-true" polarity for Reconciling and Stalled):
- once the controller has written conditions, `Ready` is one of them;
- `status.observedGeneration` and every condition's `observedGeneration` are not above
  `metadata.generation`;
- `Reconciling` and `Stalled` are present only while True, and never both True;
- `Stalled=True` implies `Ready=False`; `Ready=True` implies neither `Stalled` nor `Reconciling`;
- every condition has a type, a status of True/False/Unknown, a CamelCase reason, a message string and
  an RFC 3339 `lastTransitionTime`; no type appears twice.

An object without status conditions (not reconciled yet, or deleted: None) passes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

CAMEL_CASE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
STATUSES = ("True", "False", "Unknown")
ABNORMAL_TRUE = ("Reconciling", "Stalled")


def kstatus_violations(obj: Mapping[str, Any] | None) -> list[str]:
    """Every broken invariant of `obj`, as readable sentences (empty when the object is fine)."""
    if not obj:
        return []
    status = obj.get("status") or {}
    conditions = status.get("conditions") or []
    generation = (obj.get("metadata") or {}).get("generation")
    problems = _generation_problems(status, conditions, generation)
    problems += [p for cond in conditions for p in _condition_problems(cond)]
    types = [cond.get("type") for cond in conditions]
    problems += [f"condition type {t} appears {types.count(t)} times" for t in sorted(set(types), key=str)
                 if types.count(t) > 1]
    if conditions:
        problems += _summary_problems({cond.get("type"): cond.get("status") for cond in conditions})
    return problems


def _generation_problems(status: Mapping[str, Any], conditions: list[Mapping[str, Any]],
                         generation: int | None) -> list[str]:
    if generation is None:
        return []
    problems = []
    observed = status.get("observedGeneration")
    if observed is not None and observed > generation:
        problems.append(f"status.observedGeneration {observed} is above metadata.generation {generation}")
    for cond in conditions:
        got = cond.get("observedGeneration")
        if got is not None and got > generation:
            problems.append(f"condition {cond.get('type')}: observedGeneration {got} is above "
                            f"metadata.generation {generation}")
    return problems


def _condition_problems(cond: Mapping[str, Any]) -> list[str]:
    name = cond.get("type")
    problems = []
    if not isinstance(name, str) or not name:
        problems.append(f"a condition has no type: {dict(cond)}")
    if cond.get("status") not in STATUSES:
        problems.append(f"condition {name}: status {cond.get('status')!r} is not one of {STATUSES}")
    if not isinstance(cond.get("reason"), str) or not CAMEL_CASE.match(cond["reason"]):
        problems.append(f"condition {name}: reason {cond.get('reason')!r} is not CamelCase")
    if not isinstance(cond.get("message"), str):
        problems.append(f"condition {name}: no message")
    if not isinstance(cond.get("lastTransitionTime"), str) or not RFC3339.match(cond["lastTransitionTime"]):
        problems.append(f"condition {name}: lastTransitionTime {cond.get('lastTransitionTime')!r} is not RFC 3339")
    return problems


def _summary_problems(by_type: Mapping[Any, Any]) -> list[str]:
    problems = []
    if "Ready" not in by_type:
        problems.append("conditions are written but Ready is not among them")
    problems += [f"{t} is present with status {by_type[t]} (it must be removed unless True)"
                 for t in ABNORMAL_TRUE if t in by_type and by_type[t] != "True"]
    if by_type.get("Reconciling") == "True" and by_type.get("Stalled") == "True":
        problems.append("Reconciling and Stalled are both True")
    if by_type.get("Stalled") == "True" and by_type.get("Ready") != "False":
        problems.append(f"Stalled=True but Ready is {by_type.get('Ready')} (must be False)")
    if by_type.get("Ready") == "True" and any(t in by_type for t in ABNORMAL_TRUE):
        problems.append("Ready=True beside " + ", ".join(t for t in ABNORMAL_TRUE if t in by_type))
    return problems


def assert_kstatus(obj: Mapping[str, Any] | None) -> None:
    """Fail naming the object and every broken invariant; return quietly when there is none."""
    problems = kstatus_violations(obj)
    if problems:
        meta = (obj or {}).get("metadata") or {}
        name = f"{(obj or {}).get('kind', 'object')} {meta.get('namespace')}/{meta.get('name')}"
        raise AssertionError(f"{name} breaks the status conventions: " + "; ".join(problems)
                             + f"\nstatus: {(obj or {}).get('status')}")
