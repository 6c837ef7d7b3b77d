"""What the steps of one GitRepository reconcile hand to each other, and the controller's constants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfcontroller.api.gitrepository import GitRepository
from tfcontroller.source.auth import GitAuth
from tfcontroller.source.git import FetchResult
from tfcontroller.source.refs import RefSpec, ResolvedRef
from tfcontroller.source.store import Artifact

CONTROLLER_NAME = "gitrepository"
REASON_SUCCEEDED = "Succeeded"
REASON_NEW_ARTIFACT = "NewArtifact"
DEFAULT_LS_REMOTE_TTL = 5.0

Obj = dict[str, Any]


@dataclass
class RunContext:
    """One reconcile's state: the target, the inputs the first steps read, what the later ones made."""

    namespace: str
    name: str
    bypass_cache: bool = False  # a `requested-at` annotation asked for a fresh ls-remote
    # inputs: validate, load_credentials
    repo: GitRepository | None = None
    ref_spec: RefSpec | None = None
    auth: GitAuth | None = None
    # results: resolve, fetch, store_artifact
    resolved: ResolvedRef | None = None
    fetched: FetchResult | None = None
    artifact: Artifact | None = None
    new_artifact: bool = False

    @property
    def interval(self) -> float | None:
        return self.repo.spec.interval if self.repo else None
