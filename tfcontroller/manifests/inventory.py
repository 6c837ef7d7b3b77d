"""The ManifestSet inventory: which objects a render applied, so that pruning knows what to delete.

Entry ids follow Flux's `<namespace>_<name>_<group>_<kind>` (empty namespace for cluster-scoped objects,
empty group for the core group); `version` keeps the apiVersion's version so the object can be addressed
again. Pure data: no API calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class InventoryEntry:
    id: str
    version: str

    @property
    def namespace(self) -> str:
        return self.id.split("_")[0]

    @property
    def name(self) -> str:
        return self.id.split("_")[1]

    @property
    def group(self) -> str:
        return self.id.split("_")[2]

    @property
    def kind(self) -> str:
        return self.id.split("_")[3]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "version": self.version}


def entry_for(obj: dict[str, Any]) -> InventoryEntry:
    api_version: str = obj["apiVersion"]
    group, _, version = api_version.rpartition("/")
    meta = obj.get("metadata") or {}
    return InventoryEntry(f"{meta.get('namespace', '')}_{meta['name']}_{group}_{obj['kind']}", version)


def from_status(items: list[dict[str, str]] | None) -> list[InventoryEntry]:
    return sorted(InventoryEntry(i["id"], i.get("version", "")) for i in items or [])


def to_status(entries: list[InventoryEntry]) -> list[dict[str, str]]:
    return [e.to_dict() for e in sorted(set(entries))]


def stale_entries(previous: list[InventoryEntry], current: list[InventoryEntry]) -> list[InventoryEntry]:
    """Entries applied before but absent now: the prune candidates (version changes do not count)."""
    current_ids = {e.id for e in current}
    return sorted(e for e in previous if e.id not in current_ids)
