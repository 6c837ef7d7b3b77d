"""Prune: delete what the previous inventory had and the new render does not.

Safety rules (pure `decide`), checked against the live object at prune time: an object annotated
`tfcontroller.io/prune: disabled` is kept; an object that no longer carries this ManifestSet's owner
labels (another ManifestSet applied it since) is kept and leaves the inventory; an object another
ManifestSet declares (`claimant`: its current render, see controllers/manifestset/claims.py) is kept and
stays in the inventory until the new owner has applied it — so moving an object between ManifestSets
hands it over (same uid) whichever of the two reconciles first, and it is still pruned if the claim
goes away before the handover. An object already gone is nothing to do. Deletion goes in reverse apply
order (the rest, then Namespaces, then CRDs), so a CRD outlives its objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from tfcontroller.api.constants import ANNOTATION_PRUNE, DISABLED
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import ApiError, Conflict, NotFound
from tfcontroller.manifests.inventory import InventoryEntry, entry_for
from tfcontroller.manifests.normalize import apply_stage, normalize

Decision = Literal["delete", "keep-annotated", "keep-foreign", "keep-claimed"]
Claimant = Callable[[InventoryEntry], "str | None"]


class PruneError(Exception):
    def __init__(self, message: str, label: str) -> None:
        super().__init__(message)
        self.label = label


@dataclass
class PruneResult:
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # "label: why"
    retained: list[InventoryEntry] = field(default_factory=list)  # kept and still ours: stay in the inventory


def decide(live: dict[str, Any], owner: dict[str, str], claimed_by: str | None = None) -> Decision:
    """What to do with a live object this ManifestSet no longer renders; `claimed_by` names another
    ManifestSet that declares it (None: nobody does)."""
    meta = live.get("metadata") or {}
    if (meta.get("annotations") or {}).get(ANNOTATION_PRUNE) == DISABLED:
        return "keep-annotated"
    labels = meta.get("labels") or {}
    if any(labels.get(k) != v for k, v in owner.items()):
        return "keep-foreign"
    if claimed_by:
        return "keep-claimed"
    return "delete"


def declared_ids(
    objs: Iterable[dict[str, Any]],
    *,
    namespaced: Callable[[dict[str, Any]], bool],
    default_namespace: str,
    target_namespace: str | None,
) -> set[str]:
    """The inventory ids a ManifestSet with these namespace rules gives rendered objects (pure, given
    `namespaced`); an object without a usable name is skipped."""
    ids: set[str] = set()
    for obj in objs:
        try:
            placed = normalize(obj, namespaced=namespaced(obj), default_namespace=default_namespace,
                               target_namespace=target_namespace, labels={})
            ids.add(entry_for(placed).id)
        except (KeyError, TypeError, AttributeError):
            continue
    return ids


def entry_label(e: InventoryEntry) -> str:
    return f"{e.kind}/{e.namespace + '/' if e.namespace else ''}{e.name}"


def _no_claims(entry: InventoryEntry) -> str | None:
    return None


WHY = {"keep-annotated": "annotated tfcontroller.io/prune: disabled", "keep-foreign": "no longer ours"}


def prune(kube: KubeClient, stale: list[InventoryEntry], owner: dict[str, str],
          claimant: Claimant = _no_claims) -> PruneResult:
    """Delete the stale entries `decide` lets go; `claimant` is asked only for objects still ours."""
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
            claimed_by = claimant(entry) if decision == "delete" else None  # costly: only when needed
            decision = decide(live, owner, claimed_by)
            if decision == "keep-claimed":
                result.kept.append(f"{label}: declared by {claimed_by}")
                result.retained.append(entry)
                continue
            if decision != "delete":
                result.kept.append(f"{label}: {WHY[decision]}")
                continue
            rv = (live.get("metadata") or {}).get("resourceVersion")
            try:  # only the version decided on: a new owner's apply in between makes this a Conflict
                kube.delete(res, entry.name, ns, propagation_policy="Background", resource_version=rv)
            except Conflict:
                result.kept.append(f"{label}: changed while pruning; checked again next time")
                result.retained.append(entry)
                continue
            result.deleted.append(label)
        except NotFound:
            continue
        except ApiError as exc:
            raise PruneError(f"{label}: cannot prune: {exc.message or exc}", label) from None
    return result
