"""The one masking of Terraform's plan documents: sensitive values, unknown values, input variables.

`masked` replaces what Terraform marks sensitive (`*_sensitive`) and unknown (`after_unknown`) in one
value; `mask_show_json` applies it to a whole `terraform show -json` document and hides every input
variable's value (Terraform prints sensitive variables in clear there). Used by the plan digest
(terraform/plan.py), `plan show --json` (cli/ops_plan.py) and the policies' input (policy/input.py), so all
three hide the same things. Pure: `api/` imports nothing of ours.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SENSITIVE = "(sensitive)"
UNKNOWN = "(known after apply)"
HIDDEN_VARIABLE = "(hidden)"


def _child(mask: Any, key: Any) -> Any:
    if isinstance(mask, dict):
        return mask.get(key, False)
    if isinstance(mask, list) and isinstance(key, int) and key < len(mask):
        return mask[key]
    return mask if isinstance(mask, bool) else False


def masked(value: Any, sensitive: Any, unknown: Any, salt: bytes | None = None) -> Any:
    """`value` with sensitive parts replaced by `(sensitive)` (or, given a secret `salt`, by an HMAC so a
    changed secret still changes the digest without revealing it) and unknown parts by a marker."""
    if unknown is True:
        return UNKNOWN
    if sensitive is True:
        if salt is None:
            return SENSITIVE
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        return "(sensitive:" + hmac.new(salt, canonical, hashlib.sha256).hexdigest()[:16] + ")"
    if isinstance(value, dict) or isinstance(unknown, dict):
        base = value if isinstance(value, dict) else {}
        keys = set(base) | (set(unknown) if isinstance(unknown, dict) else set())
        return {k: masked(base.get(k), _child(sensitive, k), _child(unknown, k), salt) for k in sorted(keys)}
    if isinstance(value, list):
        return [masked(v, _child(sensitive, i), _child(unknown, i), salt) for i, v in enumerate(value)]
    return value


def _change(change: dict[str, Any]) -> dict[str, Any]:
    out = dict(change)
    for side in ("before", "after"):
        if side in change:
            out[side] = masked(change.get(side), change.get(f"{side}_sensitive", False), False)
    return out


def _module(module: dict[str, Any]) -> dict[str, Any]:
    out = dict(module)
    out["resources"] = [
        {**r, "values": masked(r.get("values"), r.get("sensitive_values") or {}, False)}
        for r in module.get("resources") or []
    ]
    if module.get("child_modules"):
        out["child_modules"] = [_module(c) for c in module["child_modules"]]
    return out


def _values(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    if isinstance(doc.get("outputs"), dict):
        out["outputs"] = {n: ({**o, "value": SENSITIVE} if o.get("sensitive") else o)
                          for n, o in doc["outputs"].items()}
    if isinstance(doc.get("root_module"), dict):
        out["root_module"] = _module(doc["root_module"])
    return out


def mask_show_json(doc: dict[str, Any]) -> dict[str, Any]:
    """The `show -json` document with every sensitive value replaced by `(sensitive)` and every input
    variable's value by `(hidden)`. Pure, so it is unit-tested on plain documents."""
    out = dict(doc)
    if isinstance(doc.get("variables"), dict):
        out["variables"] = {name: {**v, "value": HIDDEN_VARIABLE} for name, v in doc["variables"].items()}
    for key in ("resource_changes", "resource_drift"):
        if isinstance(doc.get(key), list):
            out[key] = [{**rc, "change": _change(rc.get("change") or {})} for rc in doc[key]]
    if isinstance(doc.get("output_changes"), dict):
        out["output_changes"] = {n: _change(oc or {}) for n, oc in doc["output_changes"].items()}
    out["planned_values"] = _values(doc.get("planned_values"))
    if isinstance(doc.get("prior_state"), dict):
        out["prior_state"] = {**doc["prior_state"], "values": _values(doc["prior_state"].get("values"))}
    if isinstance(doc.get("configuration"), dict):
        out["configuration"] = _configuration(doc["configuration"])
    for key in ("planned_values", "prior_state"):
        if out.get(key) is None:
            out.pop(key, None)
    return out


def _configuration(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration with the default of every variable declared `sensitive` hidden, in every module."""
    out = dict(config)
    if isinstance(config.get("root_module"), dict):
        out["root_module"] = _config_module(config["root_module"])
    return out


def _config_module(module: dict[str, Any]) -> dict[str, Any]:
    out = dict(module)
    if isinstance(module.get("variables"), dict):
        out["variables"] = {n: ({**v, "default": SENSITIVE} if isinstance(v, dict) and v.get("sensitive")
                                and "default" in v else v) for n, v in module["variables"].items()}
    calls = module.get("module_calls")
    if isinstance(calls, dict):
        out["module_calls"] = {n: ({**c, "module": _config_module(c["module"])}
                                   if isinstance(c, dict) and isinstance(c.get("module"), dict) else c)
                               for n, c in calls.items()}
    return out


# ---- values Terraform did not mark where they reappear ----------------------------------------------
# A provider may copy a sensitive value into an attribute it does not mark (the aws provider's `tags_all`
# repeats `tags`, whose `token` came from a sensitive variable, unmarked: examples/policies/testdata/). So a
# document that leaves the controller for code we do not own (policies) is also concealed by value: every
# string containing a value Terraform marked sensitive somewhere, or a secret text the caller knows.


def sensitive_texts(doc: dict[str, Any]) -> list[str]:
    """The string (and number) values the document marks sensitive: values of variables declared sensitive,
    and the leaves under `before_sensitive`/`after_sensitive` of resource, drift and output changes."""
    found: list[str] = []
    declared = ((doc.get("configuration") or {}).get("root_module") or {}).get("variables") or {}
    for name, var in (doc.get("variables") or {}).items():
        if isinstance(declared.get(name), dict) and declared[name].get("sensitive"):
            _leaves((var or {}).get("value"), True, found)
    changes = [rc.get("change") or {} for key in ("resource_changes", "resource_drift")
               for rc in doc.get(key) or [] if isinstance(rc, dict)]
    changes += [oc or {} for oc in (doc.get("output_changes") or {}).values()]
    for change in changes:
        for side in ("before", "after"):
            _leaves(change.get(side), change.get(f"{side}_sensitive", False), found)
    return found


def _leaves(value: Any, mask: Any, out: list[str]) -> None:
    if mask is True:
        if isinstance(value, dict):
            for v in value.values():
                _leaves(v, True, out)
        elif isinstance(value, list):
            for v in value:
                _leaves(v, True, out)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            out.append(str(value))
        return
    if isinstance(value, dict) and isinstance(mask, dict):
        for k, v in value.items():
            _leaves(v, mask.get(k, False), out)
    elif isinstance(value, list) and isinstance(mask, list):
        for i, v in enumerate(value):
            _leaves(v, mask[i] if i < len(mask) else False, out)


def conceal(value: Any, hidden: list[str]) -> Any:
    """`value` with every string containing one of `hidden` (longest first, api/redact's order) replaced by
    `(sensitive)`, map keys included."""
    if not hidden:
        return value
    if isinstance(value, str):
        return SENSITIVE if any(h in value for h in hidden) else value
    if isinstance(value, dict):
        return {(SENSITIVE if isinstance(k, str) and any(h in k for h in hidden) else k): conceal(v, hidden)
                for k, v in value.items()}
    if isinstance(value, list):
        return [conceal(v, hidden) for v in value]
    return value
