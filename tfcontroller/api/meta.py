"""The parts of `metadata` the controllers read, parsed once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tfcontroller.api.constants import GITREPOSITORY_KIND
from tfcontroller.api.errors import SpecError


@dataclass(frozen=True)
class ObjectMeta:
    name: str
    namespace: str
    uid: str = ""
    generation: int = 0
    resource_version: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    finalizers: list[str] = field(default_factory=list)
    deletion_timestamp: str | None = None

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> ObjectMeta:
        meta = obj.get("metadata") or {}
        if not isinstance(meta, Mapping) or not meta.get("name"):
            raise SpecError("metadata.name", "Required value")
        return cls(
            name=str(meta["name"]),
            namespace=str(meta.get("namespace") or "default"),
            uid=str(meta.get("uid") or ""),
            generation=int(meta.get("generation") or 0),
            resource_version=str(meta.get("resourceVersion") or ""),
            labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
            finalizers=list(meta.get("finalizers") or []),
            deletion_timestamp=meta.get("deletionTimestamp"),
        )

    @property
    def deleting(self) -> bool:
        return self.deletion_timestamp is not None

    @property
    def key(self) -> str:
        """`namespace/name`, the work-queue key."""
        return f"{self.namespace}/{self.name}"


def shown_revision(obj: Mapping[str, Any]) -> str:
    """The revision a listing shows for an object of ours (`tfcontroller get`, the dashboard): the artifact's
    for a GitRepository, the last applied one otherwise (as `flux get` shows it), empty until something was
    applied: an attempted revision would read as applied (a Terraform whose first plan waits for approval)."""
    status = obj.get("status") or {}
    if obj.get("kind") == GITREPOSITORY_KIND:
        return str((status.get("artifact") or {}).get("revision") or "")
    return str(status.get("lastAppliedRevision") or "")
