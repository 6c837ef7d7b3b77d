"""What the development API server serves: one `ResourceInfo` per resource.

This is the contract between the store/HTTP layer (server.py), discovery and OpenAPI documents
(discovery.py), Table output (table.py) and CRD serving: each reads the same registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ResourceInfo:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    verbs: list[str] = field(
        default_factory=lambda: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    )
    has_status: bool = False  # served with a /status subresource
    printer_columns: list[dict[str, Any]] = field(default_factory=list)  # CRD additionalPrinterColumns
    schema: dict[str, Any] | None = None  # openAPIV3Schema (CRDs); None: stored as plain objects
    list_kind: str = ""

    def __post_init__(self) -> None:
        if not self.list_kind:
            self.list_kind = f"{self.kind}List"

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version
