"""What the steps of one ManifestSet reconcile hand to each other, and the controller's constants."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.api.errors import WaitingError
from tfcontroller.api.manifestset import ManifestSet
from tfcontroller.api.redact import scrub
from tfcontroller.kube.client import KubeClient
from tfcontroller.manifests.apply import Change, Manifest
from tfcontroller.manifests.inventory import InventoryEntry
from tfcontroller.manifests.prune import PruneResult

Obj = dict[str, Any]
CONTROLLER_NAME = "manifestset"

REASON_SUCCEEDED = c.SUCCEEDED
REASON_ARTIFACT_FAILED = c.ARTIFACT_FAILED
REASON_SOURCE_NOT_READY = c.SOURCE_NOT_READY  # waiting for the GitRepository's first artifact
REASON_BUILD_FAILED = "BuildFailed"
REASON_SUBSTITUTION_FAILED = "SubstitutionFailed"
REASON_DEPENDENCY_NOT_READY = c.DEPENDENCY_NOT_READY
REASON_APPLY_FAILED = "ApplyFailed"
REASON_PRUNE_FAILED = "PruneFailed"
REASON_HEALTH_CHECK_FAILED = "HealthCheckFailed"
REASON_DRIFT_CORRECTED = "DriftCorrected"
HEALTH_POLL = 0.5


@dataclass
class Rendered:
    """What build and substitute made: the manifests to apply and the variables substituted into them."""

    manifests: list[Manifest] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class Applied:
    """What apply and prune did, for status and Events."""

    changes: list[Change] = field(default_factory=list)
    inventory: list[InventoryEntry] = field(default_factory=list)
    pruned: PruneResult | None = None
    digest: str = ""  # of the desired set; equal to status.lastAppliedDigest: a change is drift
    drift_of_same_render: bool = False


@dataclass
class RunContext:
    """One reconcile's state: the target and its scratch directory, the inputs (validate, fetch), the
    values to keep out of messages, the render and what apply and prune did."""

    namespace: str
    name: str
    workdir: Path
    # inputs
    ms: ManifestSet | None = None
    kube: KubeClient | None = None  # impersonating the applying ServiceAccount when there is one
    service_account: str | None = None  # spec.serviceAccountName, else --default-service-account
    revision: str = ""
    root: Path | None = None
    secret_values: tuple[str, ...] = ()  # substituted from Secrets: scrubbed from every message (`fail`)
    rendered: Rendered = field(default_factory=Rendered)
    applied: Applied = field(default_factory=Applied)

    @property
    def interval(self) -> float | None:
        return self.ms.spec.interval if self.ms else None

    @property
    def retry(self) -> float:
        return self.ms.spec.retry_interval if self.ms else 30.0

    def fail(self, reason: str, message: str) -> WaitingError:
        """Every phase failure is retried after spec.retryInterval (the input may be fixed meanwhile). The
        message goes to status and Events, so values substituted from Secrets are scrubbed from it."""
        return WaitingError(reason, scrub(message, self.secret_values), self.retry)
