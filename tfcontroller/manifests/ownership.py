"""Which fields of a live object count as ours, so that what Git no longer declares leaves it (pure).

Server-side apply removes a field only when our field manager applied it before and no other manager
owns it. Two ways a field Git declared ends up owned by nobody-we-know, so that removing it from Git
would leave it in the cluster for ever:
- `stringData` of a Secret is write-only: the apply records `f:stringData`, the server stores `data`
  keys owned by no one. We now send `data` (normalize.fold_string_data); `string_data_leftovers`
  finds the keys an earlier version sent as `stringData` and Git dropped, to remove them explicitly.
- An object applied with `kubectl apply` before a ManifestSet took it over: kubectl's managers
  (`kubectl-client-side-apply`, `kubectl`, and the server's `before-first-apply`) keep owning every
  field whose value we apply unchanged. As Flux does, `adopted_managed_fields` merges those entries
  into our Apply entry, so that the apply after it removes what Git does not declare (including
  kubectl's `last-applied-configuration` annotation). Fields set with `kubectl edit`/`patch`/`label`,
  or by other controllers, stay theirs.
"""

from __future__ import annotations

import copy
from typing import Any

from tfcontroller.manifests.normalize import is_secret

ADOPTED_MANAGERS = frozenset({
    ("kubectl-client-side-apply", "Update"),  # kubectl apply (client-side)
    ("kubectl", "Update"),  # kubectl apply of older kubectl versions
    ("kubectl", "Apply"),  # kubectl apply --server-side
    ("before-first-apply", "Update"),  # what the server records for fields set before any managedFields
})


def _entries(live: dict[str, Any]) -> list[dict[str, Any]]:
    return list((live.get("metadata") or {}).get("managedFields") or [])


def _is_apply_of(entry: dict[str, Any], manager: str) -> bool:
    return entry.get("manager") == manager and entry.get("operation") == "Apply" and not entry.get("subresource")


def _adoptable(entry: dict[str, Any]) -> bool:
    return (entry.get("manager"), entry.get("operation")) in ADOPTED_MANAGERS and not entry.get("subresource")


def _union(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The union of two `fieldsV1` trees."""
    out = copy.deepcopy(a)
    for key, child in b.items():
        out[key] = _union(out[key], child) if key in out else copy.deepcopy(child)
    return out


def adopted_managed_fields(live: dict[str, Any], manager: str) -> list[dict[str, Any]] | None:
    """The live managedFields with kubectl's apply entries merged into `manager`'s Apply entry, or None
    when there is nothing to adopt."""
    entries = _entries(live)
    adopt = [e for e in entries if _adoptable(e)]
    if not adopt:
        return None
    ours = [e for e in entries if _is_apply_of(e, manager)]
    fields: dict[str, Any] = {}
    for entry in ours + adopt:
        fields = _union(fields, entry.get("fieldsV1") or {})
    base = ours[0] if ours else {"manager": manager, "operation": "Apply",
                                 "apiVersion": live.get("apiVersion", ""), "fieldsType": "FieldsV1"}
    rest = [e for e in entries if not _adoptable(e) and not _is_apply_of(e, manager)]
    return [*rest, {**base, "fieldsV1": fields}]


def _field_names(fields_v1: dict[str, Any], top: str) -> set[str]:
    return {k[2:] for k in (fields_v1.get(top) or {}) if k.startswith("f:")}


def string_data_leftovers(live: dict[str, Any] | None, desired: dict[str, Any], manager: str) -> list[str]:
    """Data keys of a live Secret that `manager` applied as `stringData` before, that no manager owns as
    `data`, and that `desired` no longer declares: what server-side apply alone would leave behind."""
    if live is None or not is_secret(desired):
        return []
    sent_as_string: set[str] = set()
    owned_as_data: set[str] = set()
    for entry in _entries(live):
        fields = entry.get("fieldsV1") or {}
        owned_as_data |= _field_names(fields, "f:data")
        if _is_apply_of(entry, manager):
            sent_as_string |= _field_names(fields, "f:stringData")
    live_keys = set(live.get("data") or {})
    wanted = set(desired.get("data") or {}) | set(desired.get("stringData") or {})
    return sorted((sent_as_string & live_keys) - owned_as_data - wanted)
