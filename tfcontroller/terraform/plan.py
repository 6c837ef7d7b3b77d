"""The plan model: counts, a digest of what the plan would change, the plan id, and the masking rule.

Everything here works on the dict `terraform show -json <planfile>` prints, so it is unit-tested on plain
data. The digest is what an approval binds to (design.md §4.2): it covers each changing resource's address,
actions and planned values (sensitive and unknown values replaced by markers), plus output changes, and
leaves out the plan's metadata (timestamp, versions, prior state), so re-planning an unchanged situation
gives the same digest and any different change gives a different one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.constants import plan_id
from tfcontroller.api.show_mask import (
    SENSITIVE as SENSITIVE,  # re-exported: plan_view and others read them here
)
from tfcontroller.api.show_mask import UNKNOWN as UNKNOWN
from tfcontroller.api.show_mask import masked as masked

_IGNORED_ACTIONS = ({"no-op"}, {"read"})


@dataclass(frozen=True)
class ResourceChange:
    address: str
    actions: tuple[str, ...]
    importing: bool = False
    moved_from: str = ""

    @property
    def kind(self) -> str:
        """create, update, delete, replace (delete+create either order), import or move (a no-op that only
        imports or moves), or the action itself."""
        acts = set(self.actions)
        if acts == {"create", "delete"}:
            return "replace"
        if acts == {"no-op"} and (self.importing or self.moved_from):
            return "import" if self.importing else "move"
        return self.actions[0] if len(self.actions) == 1 else "+".join(self.actions)


@dataclass(frozen=True)
class PlanSummary:
    add: int = 0
    change: int = 0
    destroy: int = 0
    resources: tuple[ResourceChange, ...] = field(default_factory=tuple)
    outputs_changed: tuple[str, ...] = field(default_factory=tuple)
    prior_resource_count: int = 0
    imports: int = 0  # resources an `import` block brings under management (issue 20)
    moves: int = 0  # resources a `moved` block gives a new address

    @property
    def has_changes(self) -> bool:
        return bool(self.resources or self.outputs_changed)

    @property
    def creates_everything(self) -> bool:
        """Every managed resource would be created and none exists in the prior state: the shape of a plan
        made against a lost state (the state-loss guard, design.md §4.5, checks this)."""
        return bool(self.resources) and self.prior_resource_count == 0 and all(
            r.kind == "create" for r in self.resources)


def _imports(rc: Mapping[str, Any]) -> bool:
    return bool((rc.get("change") or {}).get("importing"))


def _moves(rc: Mapping[str, Any]) -> bool:
    previous = rc.get("previous_address")
    return bool(previous) and previous != rc.get("address")


def _changing(show_json: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The managed resources the plan changes. An import or a move with a `no-op` action is a change too:
    it changes the state, and only an apply records it (a plan of nothing else is not "no changes")."""
    out = []
    for rc in show_json.get("resource_changes") or []:
        actions = set((rc.get("change") or {}).get("actions") or [])
        if rc.get("mode", "managed") != "managed" or not actions:
            continue
        if actions in _IGNORED_ACTIONS and not (_imports(rc) or _moves(rc)):
            continue
        out.append(rc)
    return out


def _prior_resources(show_json: Mapping[str, Any]) -> int:
    def count(module: Mapping[str, Any]) -> int:
        own = sum(1 for r in module.get("resources") or [] if r.get("mode", "managed") == "managed")
        return own + sum(count(c) for c in module.get("child_modules") or [])

    root = ((show_json.get("prior_state") or {}).get("values") or {}).get("root_module") or {}
    return count(root)


def summarize(show_json: Mapping[str, Any]) -> PlanSummary:
    """Counts as Terraform prints them: a replacement is one add and one destroy; reads and no-ops
    are ignored. Imports and moves are counted on their own (api/plan_counts.py), also when the resource
    changes otherwise as well (an import that updates is one import and one change)."""
    add = change = destroy = imports = moves = 0
    resources = []
    for rc in _changing(show_json):
        actions = tuple((rc.get("change") or {}).get("actions") or [])
        add += "create" in actions
        destroy += "delete" in actions
        change += "update" in actions
        imports += _imports(rc)
        moves += _moves(rc)
        resources.append(ResourceChange(str(rc.get("address")), actions, _imports(rc),
                                        str(rc.get("previous_address") or "") if _moves(rc) else ""))
    outputs = tuple(sorted(
        name for name, oc in (show_json.get("output_changes") or {}).items()
        if set((oc or {}).get("actions") or []) not in ({"no-op"}, set())
    ))
    return PlanSummary(add, change, destroy, tuple(resources), outputs, _prior_resources(show_json), imports, moves)


# --- masking: the one rule is api/show_mask.py (masked, SENSITIVE, UNKNOWN) ---------------------


# --- digest and id ------------------------------------------------------------------------------


def _change_view(rc: Mapping[str, Any], salt: bytes | None) -> dict[str, Any]:
    ch = rc.get("change") or {}
    return {
        "address": rc.get("address"),
        "actions": list(ch.get("actions") or []),
        "after": masked(ch.get("after"), ch.get("after_sensitive", False), ch.get("after_unknown", False), salt),
        "replace_paths": ch.get("replace_paths") or [],
    } | _import_move_view(rc)


def _import_move_view(rc: Mapping[str, Any]) -> dict[str, Any]:
    """An import or a move is a change an approval binds to (which resource is imported, from which
    address it moves); left out when absent, so that the digests of other plans stay as they were."""
    out: dict[str, Any] = {}
    if _imports(rc):
        out["importing"] = (rc.get("change") or {}).get("importing")
    if _moves(rc):
        out["previous_address"] = rc.get("previous_address")
    return out


def plan_digest(show_json: Mapping[str, Any], sensitive_salt: bytes | None = None) -> str:
    """`sha256:<hex>` over what the plan would change (see the module docstring)."""
    resources = sorted((_change_view(rc, sensitive_salt) for rc in _changing(show_json)),
                       key=lambda v: str(v["address"]))
    drift = sorted((_change_view(rc, sensitive_salt) for rc in show_json.get("resource_drift") or []),
                   key=lambda v: str(v["address"]))
    outputs = {}
    for name, oc in sorted((show_json.get("output_changes") or {}).items()):
        oc = oc or {}
        outputs[name] = {
            "actions": list(oc.get("actions") or []),
            "after": masked(oc.get("after"), oc.get("after_sensitive", False), oc.get("after_unknown", False),
                            sensitive_salt),
        }
    view = {"resources": resources, "drift": drift, "outputs": outputs}
    canonical = json.dumps(view, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def make_plan_id(ref: str, commit: str, digest: str) -> str:
    """`plan-<ref>-<10 hex of commit>-<8 hex of digest>` (design.md §3; tfcontroller.api.constants)."""
    return plan_id(ref, commit, digest)


# --- human-readable -----------------------------------------------------------------------------


def human_readable(show_json: Mapping[str, Any]) -> str:
    """A short text rendering (sensitive values show as `(sensitive)`, never their content): the readable
    plan's own rendering (plan_view.py), so that there is one."""
    from tfcontroller.terraform.plan_view import (  # plan_view imports this
        build_plan_view,
        diff_lines,
        render_text,
    )

    view = build_plan_view(show_json, plan_id="", revision="", created_at="", is_drift=False, is_destroy=False)
    return render_text(diff_lines(view))
