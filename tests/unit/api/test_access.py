"""The cross-namespace reference rules of issue 16 (api/access.py), on plain dicts: label selectors over
namespaces (Flux's accessFrom shape, Kubernetes semantics), when a source or a dependency in another
namespace may be used, and a refusal's message (the reference, the rule, both ways out)."""

from __future__ import annotations

import pytest

from tfcontroller.api.access import (
    FLAG_ALLOW,
    access_from_of,
    dependency_access,
    parse_access_from,
    selected,
    source_access,
)
from tfcontroller.api.errors import SpecError
from tfcontroller.api.fields import Fields
from tfcontroller.api.gitrepository import GitRepository


def selectors(*sel: dict) -> tuple:
    parsed = parse_access_from(Fields.at({"accessFrom": {"namespaceSelectors": list(sel)}}, "spec"))
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(("selector", "labels", "want"), [
    ({"matchLabels": {"team": "a"}}, {"team": "a"}, True),
    ({"matchLabels": {"team": "a"}}, {"team": "a", "env": "prod"}, True),
    ({"matchLabels": {"team": "a"}}, {"team": "b"}, False),
    ({"matchLabels": {"team": "a"}}, {}, False),
    ({"matchLabels": {"team": "a", "env": "prod"}}, {"team": "a"}, False),  # all labels must match
    ({}, {}, True),  # an empty selector selects every namespace (Flux, Kubernetes)
    ({"matchLabels": {}}, {"anything": "x"}, True),
    ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "c"]}]}, {"team": "c"}, True),
    ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}, {}, False),
    ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["b"]}]}, {"team": "a"}, True),
    ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["b"]}]}, {}, True),
    ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["b"]}]}, {"team": "b"}, False),
    ({"matchExpressions": [{"key": "shared", "operator": "Exists"}]}, {"shared": ""}, True),
    ({"matchExpressions": [{"key": "shared", "operator": "DoesNotExist"}]}, {"shared": "1"}, False),
    ({"matchLabels": {"team": "a"}, "matchExpressions": [{"key": "env", "operator": "Exists"}]},
     {"team": "a"}, False),  # labels and expressions are ANDed
])
def test_selector_matching(selector: dict, labels: dict, want: bool) -> None:
    assert selected(selectors(selector), labels) is want


def test_any_selector_of_several_selects() -> None:
    sels = selectors({"matchLabels": {"team": "a"}}, {"matchLabels": {"team": "b"}})
    assert selected(sels, {"team": "b"}) and not selected(sels, {"team": "c"})


def test_no_access_from_or_no_selectors_selects_nobody() -> None:
    assert not selected(None, {"team": "a"})
    assert not selected(selectors(), {"team": "a"})


@pytest.mark.parametrize("bad", [
    {"matchExpressions": [{"key": "team", "operator": "Equals", "values": ["a"]}]},
    {"matchExpressions": [{"key": "team", "operator": "In"}]},
    {"matchExpressions": [{"key": "team", "operator": "Exists", "values": ["a"]}]},
    {"matchLabels": {"team": 1}},
    {"matchLabels": ["team"]},
])
def test_invalid_selectors_are_spec_errors(bad: dict) -> None:
    with pytest.raises(SpecError):
        selectors(bad)


def test_gitrepository_spec_carries_access_from_and_stalls_on_a_bad_one() -> None:
    obj = {"kind": "GitRepository", "metadata": {"name": "r", "namespace": "team-b"},
           "spec": {"url": "https://example.com/r.git", "interval": "1m",
                    "accessFrom": {"namespaceSelectors": [{"matchLabels": {"team": "a"}}]}}}
    repo = GitRepository.from_dict(obj)
    assert repo.spec.access_from is not None and selected(repo.spec.access_from, {"team": "a"})
    obj["spec"]["accessFrom"] = {"namespaceSelectors": [{"matchExpressions": [{"key": "k", "operator": "?"}]}]}
    with pytest.raises(SpecError, match="operator"):
        GitRepository.from_dict(obj)
    assert access_from_of(obj) is None  # an invalid accessFrom allows nobody


REPO_B = {"spec": {"accessFrom": {"namespaceSelectors": [{"matchLabels": {"tenant": "team-a"}}]}}}


@pytest.mark.parametrize(("ref_ns", "allow_all", "repo", "labels", "allowed"), [
    ("team-a", False, None, {}, True),  # same namespace: always
    ("team-b", True, None, {}, True),  # --allow-cross-namespace-refs
    ("team-b", False, None, {"tenant": "team-a"}, False),  # no accessFrom: refused
    ("team-b", False, REPO_B, {"tenant": "team-a"}, True),  # selected by its labels
    ("team-b", False, REPO_B, {"tenant": "team-c"}, False),
    ("team-b", False, REPO_B, {}, False),  # an unlabelled namespace
])
def test_source_access(ref_ns: str, allow_all: bool, repo: dict | None, labels: dict, allowed: bool) -> None:
    why = source_access("GitRepository", ref_ns, "infra", "team-a", allow_all=allow_all,
                        access_from=access_from_of(repo), own_namespace_labels=labels)
    assert (why is None) is allowed


def test_a_refused_source_names_the_reference_the_rule_and_both_ways_out() -> None:
    why = source_access("GitRepository", "team-b", "infra", "team-a", allow_all=False, access_from=None,
                        own_namespace_labels={})
    assert why is not None
    assert why.startswith("cannot access GitRepository/team-b/infra from namespace team-a")
    assert "cross-namespace references are refused" in why
    assert "spec.accessFrom.namespaceSelectors" in why and FLAG_ALLOW in why


@pytest.mark.parametrize(("ref_ns", "allow_all", "allowed"), [
    ("team-a", False, True), ("", False, True), ("team-b", False, False), ("team-b", True, True),
])
def test_dependency_access(ref_ns: str, allow_all: bool, allowed: bool) -> None:
    why = dependency_access("Terraform", ref_ns, "network", "team-a", allow_all=allow_all)
    assert (why is None) is allowed
    if why:
        assert "Terraform/team-b/network" in why and FLAG_ALLOW in why and "move the dependency" in why
