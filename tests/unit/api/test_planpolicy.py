"""api/planpolicy.py: the typed view refuses every kind of bad spec naming the field (source and inline
both or neither, path with inline rego or leaving the artifact, bad selector, enforcement, failurePolicy,
timeout, data, a namespaceSelector outside the controller's namespace), applies defaults, and `selects` is
the one scope rule (own namespace, or cluster-wide from the controller's namespace) over labels."""

from __future__ import annotations

from typing import Any

import pytest

from tfcontroller.api.errors import SpecError
from tfcontroller.api.planpolicy import (
    ENFORCE_DENY,
    FAIL_CLOSED,
    PlanPolicy,
    PlanPolicySpec,
    inline_revision,
    policy_digest,
    policy_key,
    selects,
)

CONTROLLER_NS = "tfcontroller-system"


def policy(spec: dict[str, Any], namespace: str = "team-a") -> dict[str, Any]:
    return {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "PlanPolicy",
            "metadata": {"name": "p", "namespace": namespace}, "spec": spec}


def test_source_policy_with_defaults() -> None:
    spec = PlanPolicySpec.of(policy({"sourceRef": {"name": "policies"}, "path": "./rules/"}))
    assert spec.source_ref is not None and spec.source_ref.key == "team-a/policies"
    assert (spec.rego, spec.path, spec.enforcement, spec.failure_policy, spec.timeout, spec.suspend) == (
        None, "rules", ENFORCE_DENY, FAIL_CLOSED, 5.0, False)
    assert spec.selector.matches({}) and spec.namespace_selector is None and not spec.fail_open


def test_inline_policy_with_everything() -> None:
    obj = policy({"rego": "package main\n", "enforcement": "warn", "failurePolicy": "Open", "timeout": "2s",
                  "data": {"allowed": ["t3.micro"]}, "selector": {"matchLabels": {"tier": "prod"}}, "suspend": True})
    view = PlanPolicy.from_dict(obj)
    assert view.key == "team-a/p"
    spec = view.spec
    assert (spec.source_ref, spec.rego, spec.enforcement, spec.timeout, spec.data) == (
        None, "package main\n", "warn", 2.0, {"allowed": ["t3.micro"]})
    assert spec.fail_open and spec.suspend
    assert spec.selector.matches({"tier": "prod", "x": "y"}) and not spec.selector.matches({"tier": "dev"})


@pytest.mark.parametrize(("spec", "field", "words"), [
    ({}, "spec", "exactly one of: sourceRef, rego"),
    ({"sourceRef": {"name": "p"}, "rego": "package main"}, "spec", "found sourceRef, rego"),
    ({"rego": ""}, "spec.rego", "must not be empty"),
    ({"rego": "package main", "path": "x"}, "spec.path", "only with sourceRef"),
    ({"sourceRef": {"name": "p"}, "path": "../other"}, "spec.path", "must not leave the artifact"),
    ({"sourceRef": {"name": "p"}, "path": "/abs"}, "spec.path", "relative path"),
    ({"sourceRef": {"kind": "Bucket", "name": "p"}}, "spec.sourceRef.kind", "supported values: GitRepository"),
    ({"sourceRef": {}}, "spec.sourceRef.name", "Required value"),
    ({"rego": "package main", "enforcement": "block"}, "spec.enforcement", "supported values: deny, warn"),
    ({"rego": "package main", "enforcement": "Deny"}, "spec.enforcement", "supported values"),
    ({"rego": "package main", "failurePolicy": "Ignore"}, "spec.failurePolicy", "supported values: Closed, Open"),
    ({"rego": "package main", "timeout": "soon"}, "spec.timeout", "Go duration"),
    ({"rego": "package main", "timeout": "0s"}, "spec.timeout", "greater than zero"),
    ({"rego": "package main", "timeout": "5m"}, "spec.timeout", "at most 60s"),
    ({"rego": "package main", "selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
     "spec.selector.matchExpressions[0].operator", "supported values"),
    ({"rego": "package main", "selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
     "spec.selector.matchExpressions[0].values", "at least one value"),
    ({"rego": "package main", "selector": {"matchLabels": {"a": 1}}}, "spec.selector.matchLabels", "string values"),
    ({"rego": "package main", "selector": "tier=prod"}, "spec.selector", "must be an object"),
    ({"rego": "package main", "data": float("nan")}, "spec.data", "JSON document"),
    ({"rego": "package main", "suspend": "yes"}, "spec.suspend", "boolean"),
])
def test_bad_specs_name_the_field(spec: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        PlanPolicySpec.of(policy(spec))
    assert info.value.field == field and words in info.value.message
    assert info.value.reason == "SpecValidationFailed"


def test_namespace_selector_only_in_the_controller_namespace() -> None:
    spec = {"rego": "package main", "namespaceSelector": {"matchLabels": {"team": "a"}}}
    with pytest.raises(SpecError) as info:
        PlanPolicySpec.of(policy(spec, "team-a"), controller_namespace=CONTROLLER_NS)
    assert info.value.field == "spec.namespaceSelector"
    assert "move the PlanPolicy to namespace tfcontroller-system" in info.value.message
    ok = PlanPolicySpec.of(policy(spec, CONTROLLER_NS), controller_namespace=CONTROLLER_NS)
    assert ok.namespace_selector is not None and ok.namespace_selector.matches({"team": "a"})
    assert PlanPolicySpec.of(policy(spec, "team-a")).namespace_selector is not None  # namespace unknown: kept


def _selects(policy_ns: str, spec: dict[str, Any], tf_ns: str, tf_labels: dict[str, str],
             ns_labels: dict[str, str] | None = None) -> bool:
    return selects(policy_ns, PlanPolicySpec.of(policy(spec, policy_ns)), controller_namespace=CONTROLLER_NS,
                   terraform_namespace=tf_ns, terraform_labels=tf_labels, namespace_labels=ns_labels or {})


def test_selects_own_namespace_only_outside_the_controller_namespace() -> None:
    base = {"rego": "package main"}
    assert _selects("team-a", base, "team-a", {})
    assert not _selects("team-a", base, "team-b", {})
    # a namespaceSelector (accepted when the controller namespace is unknown) never widens the scope
    wide = dict(base, namespaceSelector={})
    assert not _selects("team-a", wide, "team-b", {})


def test_selects_by_terraform_labels() -> None:
    spec = {"rego": "package main", "selector": {"matchLabels": {"tier": "prod"},
                                                 "matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}]}}
    assert _selects("team-a", spec, "team-a", {"tier": "prod"})
    assert not _selects("team-a", spec, "team-a", {"tier": "prod", "legacy": "yes"})
    assert not _selects("team-a", spec, "team-a", {})
    assert _selects("team-a", dict(spec, selector={}), "team-a", {})  # {} selects every Terraform


def test_cluster_wide_default_from_the_controller_namespace() -> None:
    every = {"rego": "package main"}
    assert _selects(CONTROLLER_NS, every, "team-a", {}) and _selects(CONTROLLER_NS, every, "team-b", {})
    tenants = {"rego": "package main", "namespaceSelector": {"matchExpressions": [
        {"key": "tfcontroller.io/tenant", "operator": "Exists"}]}, "selector": {"matchLabels": {"tier": "prod"}}}
    assert _selects(CONTROLLER_NS, tenants, "team-a", {"tier": "prod"}, {"tfcontroller.io/tenant": "a"})
    assert not _selects(CONTROLLER_NS, tenants, "team-a", {"tier": "prod"}, {})
    assert not _selects(CONTROLLER_NS, tenants, "team-a", {"tier": "dev"}, {"tfcontroller.io/tenant": "a"})


def test_digest_covers_modules_data_enforcement_and_failure_policy_only() -> None:
    spec = PlanPolicySpec.of(policy({"rego": "package main", "data": {"a": [1, 2]}}))
    modules = (("a.rego", "package a"), ("b.rego", "package b"))
    d = policy_digest(modules, spec)
    assert d.startswith("sha256:") and len(d) == 7 + 64
    same = PlanPolicySpec.of(policy({"rego": "package other", "data": {"a": [1, 2]}, "timeout": "9s",
                                     "selector": {"matchLabels": {"x": "y"}}}))
    assert policy_digest(modules, same) == d  # neither the selector nor the timeout decides a verdict
    changed = [
        policy_digest((("a.rego", "package a "), ("b.rego", "package b")), spec),
        policy_digest((("c.rego", "package a"), ("b.rego", "package b")), spec),
        policy_digest(tuple(reversed(modules)), spec),
        policy_digest(modules, PlanPolicySpec.of(policy({"rego": "x", "data": {"a": [2, 1]}}))),
        policy_digest(modules, PlanPolicySpec.of(policy({"rego": "x", "data": {"a": [1, 2]}, "enforcement": "warn"}))),
        policy_digest(modules, PlanPolicySpec.of(policy({"rego": "x", "data": {"a": [1, 2]}, "failurePolicy": "Open"}))),
    ]
    assert d not in changed and len(set(changed)) == len(changed)


def test_inline_revision_and_policy_key() -> None:
    assert inline_revision("package main") == inline_revision("package main")
    assert inline_revision("package main").startswith("inline@sha256:")
    assert inline_revision("package main") != inline_revision("package main\n")
    assert policy_key("p", "team-a") == "team-a/p" and policy_key("ops/p", "team-a") == "ops/p"
