"""What changed outside Terraform, computed from a `terraform show -json` plan document.

Pure: no I/O, so that "what drifted?" and "is this the same drift as last time?" are decided on plain
dicts and unit-tested without Terraform.

Which entries count as drift: `resource_drift` entries (Terraform's record of changes made outside it,
found by the refresh) that matter, attribute by attribute: the resource was deleted, or a changed
attribute is one the remediation plan changes back (it differs between the `resource_changes` entry's
before and after) or is listed in `relevant_attributes` (something in the plan depends on it). Everything
else is refresh noise — for example an `aws_s3_bucket` whose versioning and lifecycle attributes were set
by their own `aws_s3_bucket_versioning` / `..._lifecycle_configuration` resources — and reporting it would
mail a drift nobody can act on, also when it sits beside a real change (a tag) of the same bucket. The
matching `resource_changes` action is recorded as `remediation`.

Attribute paths: object keys that are identifiers use dots (`tags.env`, `versioning[0].enabled`), other
keys are quoted (`tags["team name"]`), list elements use `[index]`. Lists of different lengths are
reported as one change of the whole list, because element-wise diffs of a shifted list are noise.
Null and an empty map or list are treated as equal (providers normalise one into the other).

Sensitive values: `before_sensitive` / `after_sensitive` mirror the value with `true` where the value is
sensitive (possibly a whole attribute or the whole object). A change under a sensitive mark is
reported once, at the marked path, with both sides replaced by `(sensitive)`; the diff never descends
into it, so neither values nor the structure of a sensitive value leave this module.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SENSITIVE = "(sensitive)"
UNKNOWN = "(known after apply)"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class AttributeChange:
    """One attribute that differs; `before`/`after` are JSON values, or SENSITIVE when `sensitive`."""

    path: str
    before: Any
    after: Any
    sensitive: bool = False
    unknown: bool = False  # `after` is UNKNOWN: known only after apply


@dataclass(frozen=True)
class DriftedResource:
    """A resource changed outside Terraform.

    `action` is what happened outside Terraform as Terraform reports it (`update`, or `delete` when the
    object is gone); `remediation` is what the plan will do about it (actions joined with `-`, e.g.
    `update`, `create`, `delete-create`, `no-op`), or "" when the plan has no entry for the address.
    """

    address: str
    action: str
    changed_attributes: list[AttributeChange] = field(default_factory=list)
    remediation: str = ""

    @property
    def attribute_paths(self) -> list[str]:
        return [c.path for c in self.changed_attributes]


@dataclass(frozen=True)
class DriftReport:
    """All drifted resources of one plan, ordered by address."""

    resources: list[DriftedResource] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.resources)

    @property
    def addresses(self) -> list[str]:
        return [r.address for r in self.resources]

    @property
    def fingerprint(self) -> str:
        """`sha256:<hex>` over the sorted addresses, actions and changed attribute paths, never values.

        Same set of drifted resources and attributes → same fingerprint, whatever the new values are;
        this is what e-mails are deduplicated on (design.md §4 rule 6). The action is included so that a
        resource deleted outside Terraform is not confused with one that was merely modified.
        """
        items = sorted([r.address, r.action, sorted(r.attribute_paths)] for r in self.resources)
        encoded = json.dumps(items, separators=(",", ":"), sort_keys=True).encode()
        return "sha256:" + hashlib.sha256(encoded).hexdigest()

    def summary_message(self, max: int = 5) -> str:  # noqa: A002 - the name the callers use
        """"3 resources changed outside Terraform: a, b, c" naming at most `max` resources."""
        n = len(self.resources)
        if n == 0:
            return "No resources changed outside Terraform"
        names = self.addresses[:max]
        text = f"{resource_count(n)} changed outside Terraform: {', '.join(names)}"
        if n > len(names):
            text += f" and {n - len(names)} more"
        return text

    def event_message(self) -> str:
        """Addresses and attribute paths only (no values), for the `DriftDetected` Event."""
        parts = []
        for r in self.resources:
            paths = ", ".join(r.attribute_paths)
            parts.append(f"{r.address} ({r.action}{': ' + paths if paths else ''})")
        return "; ".join(parts)


def resource_count(n: int) -> str:
    """'1 resource' / '3 resources'."""
    return f"{n} resource" if n == 1 else f"{n} resources"


def analyze(show_json: Mapping[str, Any]) -> DriftReport:
    """Build the DriftReport of a `terraform show -json <planfile>` document."""
    remediation: dict[str, str] = {}
    planned: dict[str, list[str] | None] = {}  # paths the plan changes per address (None: not known)
    for rc in show_json.get("resource_changes") or []:
        change = rc.get("change") or {}
        remediation[rc.get("address", "")] = "-".join(change.get("actions") or [])
        planned[rc.get("address", "")] = _planned_paths(change)

    relevant: dict[str, set[str]] = {}
    for ra in show_json.get("relevant_attributes") or []:
        path = ra.get("attribute") or []
        relevant.setdefault(ra.get("resource", ""), set()).add(str(path[0]) if path else "")

    resources: list[DriftedResource] = []
    for entry in show_json.get("resource_drift") or []:
        if entry.get("mode", "managed") != "managed":
            continue
        change = entry.get("change") or {}
        actions = [a for a in change.get("actions") or [] if a != "no-op"]
        if not actions:
            continue
        address = entry.get("address", "")
        changes: list[AttributeChange] = []
        if change.get("after") is not None and change.get("before") is not None:
            changes = diff_attributes(
                change.get("before"),
                change.get("after"),
                before_sensitive=change.get("before_sensitive"),
                after_sensitive=change.get("after_sensitive"),
                after_unknown=change.get("after_unknown"),
            )
        fix = remediation.get(address, "")
        kept = _mattering(change, fix, changes, relevant.get(address, set()), planned.get(address))
        if kept is None:
            continue
        resources.append(DriftedResource(address, "-".join(actions), kept, fix))
    resources.sort(key=lambda r: r.address)
    return DriftReport(resources)


def _planned_paths(change: Mapping[str, Any]) -> list[str] | None:
    """The attribute paths a `resource_changes` entry changes (unknown-after counts as a change), or None
    when the entry carries no before/after to compare (then nothing can be ruled out)."""
    if "before" not in change and "after" not in change:
        return None
    return [c.path for c in diff_attributes(
        change.get("before"), change.get("after"), before_sensitive=change.get("before_sensitive"),
        after_sensitive=change.get("after_sensitive"), after_unknown=change.get("after_unknown"))]


def _mattering(change: Mapping[str, Any], remediation: str, changes: list[AttributeChange], relevant: set[str],
               planned: list[str] | None) -> list[AttributeChange] | None:
    """The changed attributes worth reporting for one drift entry, or None when the entry is noise.

    Terraform's rule for its "changed outside of Terraform" report, per attribute: an attribute counts when
    something in the plan depends on it (`relevant_attributes`) or when the remediation plan changes it
    back. What the refresh found but the plan leaves as it is — an attribute managed by a sibling
    resource (`versioning`, `lifecycle_rule` of a bucket with `aws_s3_bucket_versioning` /
    `..._lifecycle_configuration`), an optional-computed nested block going from [] to what the API
    holds, a default the provider filled in — is noise, also beside a real change of the same resource.
    A resource deleted outside Terraform always counts; so does a changed resource whose diff cannot be
    told apart (no attribute diff, or a plan entry without before/after, or no plan entry)."""
    if change.get("after") is None:  # deleted outside Terraform
        return changes
    if "" in relevant:  # the whole object is relevant
        return changes
    if not changes or planned is None or not remediation:  # the plan's side cannot be told: by the action
        if remediation not in ("no-op", "read"):
            return changes
        return [c for c in changes if _top_level(c.path) in relevant] or None
    kept = [c for c in changes if _top_level(c.path) in relevant or any(_overlaps(c.path, p) for p in planned)]
    return kept or None


def _overlaps(path: str, other: str) -> bool:
    """Whether two attribute paths name the same value or one contains the other (`tags` / `tags.env`,
    `rule[0]` / `rule[0].days`; the root path "" contains everything)."""
    if path == other or not path or not other:
        return True
    short, long = (path, other) if len(path) < len(other) else (other, path)
    return long.startswith(short) and long[len(short)] in ".["


def _top_level(path: str) -> str:
    for i, ch in enumerate(path):
        if ch in ".[":
            return path[:i]
    return path


def diff_attributes(
    before: Any,
    after: Any,
    *,
    before_sensitive: Any = None,
    after_sensitive: Any = None,
    after_unknown: Any = None,
    expand: bool = False,
) -> list[AttributeChange]:
    """Every leaf-or-subtree path where `before` and `after` differ, ordered by path.

    `expand` (a plan's readable diff, plan_view.py): a value present on one side only (null on the other:
    a create, a new block) is listed leaf by leaf instead of as one change of the whole value, and values
    known only after apply (`after_unknown` marks, whose keys are absent from `after`) are listed too. The
    drift report keeps the default, so its fingerprints do not change."""
    out: list[AttributeChange] = []
    _diff("", before, after, before_sensitive, after_sensitive, after_unknown, out, expand)
    out.sort(key=lambda c: c.path)
    return out


def _diff(path: str, before: Any, after: Any, bs: Any, as_: Any, au: Any, out: list[AttributeChange],
          expand: bool = False) -> None:
    if bs is True or as_ is True:
        if before != after or au is True:
            out.append(AttributeChange(path, SENSITIVE, SENSITIVE, sensitive=True, unknown=au is True))
        return
    if au is True:
        out.append(AttributeChange(path, _redact_all(before, bs), UNKNOWN, unknown=True))
        return
    if expand:
        before, after = _expanded(before, after, au)
    if _is_empty(before) and _is_empty(after) and not (expand and _has_true(au)):
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = set(before) | set(after) | (set(au) if expand and isinstance(au, Mapping) else set())
        for key in sorted(keys, key=str):
            _diff(
                join_key(path, str(key)),
                before.get(key),
                after.get(key),
                _child(bs, key),
                _child(as_, key),
                _child(au, key),
                out,
                expand,
            )
        return
    if _is_list(before) and _is_list(after) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            _diff(f"{path}[{i}]", b, a, _child(bs, i), _child(as_, i), _child(au, i), out, expand)
        return
    if before != after or _has_true(au):
        shown_after = _redact_all(after, as_)
        if _has_true(au):
            shown_after = UNKNOWN
        out.append(AttributeChange(path, _redact_all(before, bs), shown_after, unknown=_has_true(au)))


def _expanded(before: Any, after: Any, au: Any) -> tuple[Any, Any]:
    """A null side as an empty value of the other side's shape (or of the unknown marks' shape), so that
    the walk descends into a value that appears or vanishes whole."""
    shape = next((v for v in (after, before, au) if isinstance(v, Mapping) or _is_list(v)), None)
    if isinstance(shape, Mapping):
        return ({} if before is None else before), ({} if after is None else after)
    if isinstance(shape, Sequence):
        n = len(shape)
        return ([None] * n if before is None else before), ([None] * n if after is None else after)
    return before, after


def join_key(path: str, key: str) -> str:
    if _IDENT.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _is_list(v: Any) -> bool:
    return isinstance(v, Sequence) and not isinstance(v, str | bytes)


def _is_empty(v: Any) -> bool:
    """Null and an empty map/list mean the same to providers (the aws provider refreshes `tags` from
    null to {}); reporting that as drift would be noise."""
    return v is None or (isinstance(v, Mapping | list | tuple) and len(v) == 0)


def _child(mask: Any, key: Any) -> Any:
    """The part of a sensitivity/unknown mask under `key`; masks may be partial or absent."""
    if mask is True:
        return True
    if isinstance(mask, Mapping):
        return mask.get(key)
    if _is_list(mask) and isinstance(key, int) and key < len(mask):
        return mask[key]
    return None


def _has_true(mask: Any) -> bool:
    if mask is True:
        return True
    if isinstance(mask, Mapping):
        return any(_has_true(v) for v in mask.values())
    if _is_list(mask):
        return any(_has_true(v) for v in mask)
    return False


def _redact_all(value: Any, mask: Any) -> Any:
    """`value` with every part the mask marks sensitive replaced by SENSITIVE (for whole-subtree values)."""
    if mask is True:
        return SENSITIVE
    if isinstance(value, Mapping):
        return {k: _redact_all(v, _child(mask, k)) for k, v in value.items()}
    if _is_list(value):
        return [_redact_all(v, _child(mask, i)) for i, v in enumerate(value)]
    return value
