"""Typed view of a PlanPolicy (issue 18): where its Rego comes from, which Terraforms it gates, how strictly.

A PlanPolicy's scope is its namespace, except in the controller's own namespace, where it is the
cluster-wide default: it gates the Terraforms of every namespace its `namespaceSelector` selects (omitted:
every namespace). `selects` is that rule, pure, for the PlanPolicy controller and the Terraform gate alike.

`PlanPolicySpec.of(obj)` raises `SpecError` naming the field for what the CRD schema cannot (or a server
without the schema did not) refuse: both or neither of `sourceRef`/`rego`, `path` with inline rego or leaving
the artifact, a bad selector, enforcement, failurePolicy or timeout, and — when the caller knows the
controller's namespace — a `namespaceSelector` on a PlanPolicy that cannot apply to other namespaces (it
would silently select nothing beyond its own namespace; better to say so).

`policy_digest` and `inline_revision` are the status fields `digest` and `revision`: the digest covers
what decides a verdict (the modules, `data`, enforcement and failure policy), so a change of any of them —
and nothing else — makes the Terraform gate re-evaluate pending plans.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.access import LabelSelector, parse_selector
from tfcontroller.api.constants import PLANPOLICY_KIND
from tfcontroller.api.errors import SpecError
from tfcontroller.api.fields import Fields
from tfcontroller.api.meta import ObjectMeta
from tfcontroller.api.refs import ObjectRef, clean_path, parse_source_ref

ENFORCE_DENY = "deny"
ENFORCE_WARN = "warn"
ENFORCEMENTS = (ENFORCE_DENY, ENFORCE_WARN)
FAIL_CLOSED = "Closed"
FAIL_OPEN = "Open"
FAILURE_POLICIES = (FAIL_CLOSED, FAIL_OPEN)
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 60.0  # an evaluation runs on every plan, in the controller: longer is a mistake, not a need

# Ready reasons of a PlanPolicy (the failure ones are also the Terraform gate's PolicyUnavailable detail)
REASON_COMPILED = "PolicyCompiled"
REASON_COMPILE_FAILED = "CompileFailed"


@dataclass(frozen=True)
class PlanPolicySpec:
    source_ref: ObjectRef | None  # exactly one of source_ref and rego
    rego: str | None
    path: str = "."
    selector: LabelSelector = field(default_factory=LabelSelector)
    namespace_selector: LabelSelector | None = None
    enforcement: str = ENFORCE_DENY
    failure_policy: str = FAIL_CLOSED
    data: Any = None
    timeout: float = DEFAULT_TIMEOUT
    suspend: bool = False

    @property
    def fail_open(self) -> bool:
        return self.failure_policy == FAIL_OPEN

    @classmethod
    def of(cls, obj: Mapping[str, Any], controller_namespace: str | None = None) -> PlanPolicySpec:
        """The spec of a PlanPolicy object; SpecError names the field at fault."""
        return PlanPolicy.from_dict(obj, controller_namespace).spec


@dataclass(frozen=True)
class PlanPolicy:
    meta: ObjectMeta
    spec: PlanPolicySpec
    status: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], controller_namespace: str | None = None) -> PlanPolicy:
        if obj.get("kind", PLANPOLICY_KIND) != PLANPOLICY_KIND:
            raise SpecError("kind", f"expected {PLANPOLICY_KIND}, got {obj.get('kind')!r}")
        meta = ObjectMeta.from_dict(obj)
        spec = parse_spec(Fields.at(obj.get("spec"), "spec"), meta, controller_namespace)
        return cls(meta, spec, dict(obj.get("status") or {}))

    @property
    def key(self) -> str:
        """`<namespace>/<name>`: how results, exceptions and messages name the policy."""
        return self.meta.key


def parse_spec(f: Fields, meta: ObjectMeta, controller_namespace: str | None = None) -> PlanPolicySpec:
    which = f.exactly_one("sourceRef", "rego")
    source_ref = parse_source_ref(f, meta.namespace) if which == "sourceRef" else None
    rego = f.req_str("rego", non_empty=True) if which == "rego" else None
    if rego is not None and f.has("path"):
        raise SpecError(f.field("path"), "only with sourceRef: inline rego is one module, it has no path")
    timeout = f.duration("timeout", default=DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT
    if timeout > MAX_TIMEOUT:
        raise SpecError(f.field("timeout"), f"must be at most {MAX_TIMEOUT:.0f}s: policies run on every plan")
    return PlanPolicySpec(
        source_ref=source_ref,
        rego=rego,
        path=clean_path(f) if source_ref is not None else ".",
        selector=_selector(f, "selector") or LabelSelector(),
        namespace_selector=_namespace_selector(f, meta, controller_namespace),
        enforcement=f.str("enforcement", default=ENFORCE_DENY, enum=ENFORCEMENTS) or ENFORCE_DENY,
        failure_policy=f.str("failurePolicy", default=FAIL_CLOSED, enum=FAILURE_POLICIES) or FAIL_CLOSED,
        data=_data(f),
        timeout=timeout,
        suspend=f.bool("suspend"),
    )


def _selector(f: Fields, key: str) -> LabelSelector | None:
    sub = f.obj(key)
    return None if sub is None else parse_selector(sub)


def _namespace_selector(f: Fields, meta: ObjectMeta, controller_namespace: str | None) -> LabelSelector | None:
    selector = _selector(f, "namespaceSelector")
    if selector is not None and controller_namespace is not None and meta.namespace != controller_namespace:
        raise SpecError(f.field("namespaceSelector"),
                        f"only a PlanPolicy in the controller's namespace ({controller_namespace}) applies to other "
                        f"namespaces; this one gates namespace {meta.namespace} only: remove namespaceSelector, "
                        f"or move the PlanPolicy to namespace {controller_namespace}")
    return selector


def _data(f: Fields) -> Any:
    value = f.data.get("data")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise SpecError(f.field("data"), "must be a JSON document") from None
    return value


def selects(policy_namespace: str, spec: PlanPolicySpec, *, controller_namespace: str, terraform_namespace: str,
            terraform_labels: Mapping[str, str] | None, namespace_labels: Mapping[str, str] | None) -> bool:
    """Whether this PlanPolicy gates a Terraform: a PlanPolicy of the controller's namespace gates every
    namespace its `namespaceSelector` selects (none: all); any other gates its own namespace only. Then its
    `selector` over the Terraform's labels (none or {}: all)."""
    if policy_namespace == controller_namespace:
        in_scope = spec.namespace_selector is None or spec.namespace_selector.matches(namespace_labels)
    else:
        in_scope = policy_namespace == terraform_namespace
    return in_scope and spec.selector.matches(terraform_labels)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def policy_digest(modules: Sequence[tuple[str, str]], spec: PlanPolicySpec) -> str:
    """`sha256:<hex>` over what decides a verdict: each module (file name and text, in order), `data`,
    enforcement and failure policy. Not the source's revision: a commit elsewhere in the repository
    changes no verdict and must not re-evaluate every pending plan."""
    doc = {"modules": [[name, text] for name, text in modules], "data": spec.data,
           "enforcement": spec.enforcement, "failurePolicy": spec.failure_policy}
    return "sha256:" + hashlib.sha256(canonical_json(doc).encode()).hexdigest()


def inline_revision(rego: str) -> str:
    """`inline@sha256:<hex>`: the revision of inline rego (status.revision, as an artifact's `<ref>@sha1:...`)."""
    return "inline@sha256:" + hashlib.sha256(rego.encode()).hexdigest()


def policy_key(reference: str, own_namespace: str) -> str:
    """`<namespace>/<name>` of a policy named as `<namespace>/<name>` or `<name>` (meaning `own_namespace`)."""
    return reference if "/" in reference else f"{own_namespace}/{reference}"
