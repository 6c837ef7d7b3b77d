"""What the steps of one PlanPolicy reconcile hand to each other, and the controller's constants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfcontroller.api.planpolicy import PlanPolicy
from tfcontroller.runtime.policies import LoadedPolicy

CONTROLLER_NAME = "planpolicy"
# Ready=False while the source has not produced an artifact is retried at this pace (the GitRepository
# watch usually brings the object back first); also the retry of a failed download.
RETRY_SECONDS = 30.0

Obj = dict[str, Any]


@dataclass
class RunContext:
    """One reconcile's state: the target, its typed view (validate) and what was loaded (load)."""

    namespace: str
    name: str
    policy: PlanPolicy | None = None
    loaded: LoadedPolicy | None = None
