"""Cross-namespace references (issue 16), as pure rules: the namespace is the tenant boundary, so an
object's `sourceRef.namespace` or `dependsOn[].namespace` naming *another* namespace is refused unless
either the controller runs with `--allow-cross-namespace-refs` (single-team installs, today's behaviour)
or — for a source — the GitRepository's `spec.accessFrom.namespaceSelectors[]` selects the referring
object's namespace by its labels (Flux's shape, Flux's semantics: a selector matches when all its
`matchLabels` and `matchExpressions` hold; an empty selector matches every namespace).

The refusal is Stalled with reason `AccessDenied` (Flux's reason for the same refusal) and a message in
Flux's words ("cannot access ..., cross-namespace references ...") followed by the ways out. Nothing here
does I/O: the controllers read the Namespace's labels and the GitRepository and ask `source_access`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tfcontroller.api.errors import SpecError
from tfcontroller.api.fields import Fields

ACCESS_DENIED = "AccessDenied"
"""The Stalled/Ready=False reason of a refused cross-namespace reference (Flux: `meta.AccessDeniedReason`)."""

FLAG_ALLOW = "--allow-cross-namespace-refs"
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # one of OPERATORS
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values  # NotIn, as Kubernetes


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes label selector (`matchLabels` and `matchExpressions`, ANDed)."""

    match_labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        have = dict(labels or {})
        return (all(have.get(k) == v for k, v in self.match_labels)
                and all(r.matches(have) for r in self.expressions))


def parse_selector(f: Fields) -> LabelSelector:
    """One selector of `namespaceSelectors[]`; a bad operator or a missing `values` is a SpecError."""
    labels = f.data.get("matchLabels")
    if labels is not None and not (isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())):
        raise SpecError(f.field("matchLabels"), "must be a map of label names to string values")
    reqs = []
    for item in f.objects("matchExpressions"):
        op = item.req_str("operator", enum=OPERATORS)
        values = tuple(item.strings("values")) if item.has("values") else ()
        if op in ("In", "NotIn") and not values:
            raise SpecError(item.field("values"), f"operator {op} needs at least one value")
        if op in ("Exists", "DoesNotExist") and values:
            raise SpecError(item.field("values"), f"operator {op} takes no values")
        reqs.append(Requirement(item.req_str("key", non_empty=True), op, values))
    return LabelSelector(tuple(sorted((labels or {}).items())), tuple(reqs))


def parse_access_from(f: Fields) -> tuple[LabelSelector, ...] | None:
    """`spec.accessFrom` of a GitRepository: None when absent (no other namespace may use it)."""
    acc = f.obj("accessFrom")
    if acc is None:
        return None
    return tuple(parse_selector(s) for s in acc.objects("namespaceSelectors"))


def access_from_of(repo: Mapping[str, Any] | None) -> tuple[LabelSelector, ...] | None:
    """The parsed `accessFrom` of a GitRepository object; an invalid one allows nothing (the
    GitRepository's own reconcile stalls on it and says why)."""
    if repo is None:
        return None
    try:
        return parse_access_from(Fields.at(repo.get("spec"), "spec"))
    except SpecError:
        return None


def selected(selectors: tuple[LabelSelector, ...] | None, namespace_labels: Mapping[str, str] | None) -> bool:
    """Whether any selector selects a namespace with these labels (none given: nobody is selected)."""
    return any(s.matches(namespace_labels) for s in selectors or ())


def is_cross_namespace(own_namespace: str, ref_namespace: str) -> bool:
    return bool(ref_namespace) and ref_namespace != own_namespace


def source_access(kind: str, ref_namespace: str, ref_name: str, own_namespace: str, *, allow_all: bool,
                  access_from: tuple[LabelSelector, ...] | None,
                  own_namespace_labels: Mapping[str, str] | None) -> str | None:
    """None when an object in `own_namespace` may use source `kind ref_namespace/ref_name`, else the
    message of the refusal (it names the reference, the rule and both ways out)."""
    if not is_cross_namespace(own_namespace, ref_namespace) or allow_all:
        return None
    if selected(access_from, own_namespace_labels):
        return None
    return (f"cannot access {kind}/{ref_namespace}/{ref_name} from namespace {own_namespace}: "
            "cross-namespace references are refused unless the source allows them; either add to "
            f"{kind} {ref_namespace}/{ref_name} spec.accessFrom.namespaceSelectors a selector matching the "
            f"labels of namespace {own_namespace}, or run the controller with {FLAG_ALLOW} (single-team installs)")


def dependency_access(kind: str, ref_namespace: str, ref_name: str, own_namespace: str, *,
                      allow_all: bool) -> str | None:
    """None when an object in `own_namespace` may depend on `kind ref_namespace/ref_name`, else the
    message: a dependency has no accessFrom, so across namespaces only the controller's flag allows it."""
    if not is_cross_namespace(own_namespace, ref_namespace) or allow_all:
        return None
    return (f"cannot access {kind}/{ref_namespace}/{ref_name} from namespace {own_namespace}: "
            "cross-namespace dependencies are refused; either move the dependency into namespace "
            f"{own_namespace}, or run the controller with {FLAG_ALLOW} (single-team installs)")
