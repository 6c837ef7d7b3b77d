"""Prune: delete what the previous inventory had and the new render does not.

Safety rules (pure `decide`): an object annotated `tfcontroller.io/prune: disabled` is kept; an object
that no longer carries this ManifestSet's owner labels (someone else took it over) is kept; an object
already gone is nothing to do. Deletion goes in reverse apply order (the rest, then Namespaces, then
CRDs), so a CRD outlives its objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tfcontroller.api.constants import ANNOTATION_PRUNE, DISABLED
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, NotFound
from tfcontroller.manifests.inventory import InventoryEntry
from tfcontroller.manifests.normalize import apply_stage

Decision = Literal["delete", "keep-annotated", "keep-foreign"]


class PruneError(Exception):
    def __init__(self, message: str, label: str) -> None:
        super().__init__(message)
        self.label = label


@dataclass
class PruneResult:
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # "label: why"


def decide(live: dict[str, Any], owner: dict[str, str]) -> Decision:
    meta = live.get("metadata") or {}
    if (meta.get("annotations") or {}).get(ANNOTATION_PRUNE) == DISABLED:
        return "keep-annotated"
    labels = meta.get("labels") or {}
    if any(labels.get(k) != v for k, v in owner.items()):
        return "keep-foreign"
    return "delete"


def entry_label(e: InventoryEntry) -> str:
    return f"{e.kind}/{e.namespace + '/' if e.namespace else ''}{e.name}"


def prune(kube: KubeClient, stale: list[InventoryEntry], owner: dict[str, str]) -> PruneResult:
    result = PruneResult()
    def stage(e: InventoryEntry) -> int:
        return apply_stage({"apiVersion": e.api_version, "kind": e.kind})
    for entry in sorted(stale, key=stage, reverse=True):
        label = entry_label(entry)
        try:
            res = kube.resource_for(entry.api_version, entry.kind)
        except NotFound:
            continue  # the kind itself is gone (its CRD was pruned): so are its objects
        ns = entry.namespace or None
        try:
            live = kube.get_or_none(res, entry.name, ns)
            if live is None:
                continue
            decision = decide(live, owner)
            if decision != "delete":
                why = "annotated tfcontroller.io/prune: disabled" if decision == "keep-annotated" else "no longer ours"
                result.kept.append(f"{label}: {why}")
                continue
            kube.delete(res, entry.name, ns, propagation_policy="Background")
            result.deleted.append(label)
        except NotFound:
            continue
        except ApiError as exc:
            raise PruneError(f"{label}: cannot prune: {exc.message or exc}", label) from None
    return result
