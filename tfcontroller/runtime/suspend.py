"""What a suspended object's status says when the controller has never written one.

`spec.suspend: true` stops reconciling (Flux's meaning): the last status stays as it was, so that a user
sees what the object last did. An object created suspended, though, had no status at all: no Ready
condition, so neither `kubectl wait`, `tfcontroller get` nor a kstatus client could tell "suspended" from
"the controller is not running" (found by the schema fuzz, issue 21). Every controller therefore writes
Ready=Unknown reason `Suspended` on a suspended object that has no Ready condition yet, and nothing on one
that has. The decision is the pure `suspended_status`; `report_suspended` sends it.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from tfcontroller.api import conditions as c
from tfcontroller.kube.client import KubeClient
from tfcontroller.kube.errors import NotFound
from tfcontroller.kube.resources import Resource
from tfcontroller.runtime.status import patch_status_with_retry

log = logging.getLogger(__name__)

SUSPENDED_MESSAGE = "spec.suspend is true: nothing is reconciled until it is set to false"


def suspended_status(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The status to write for suspended `obj`: None when it already has a Ready condition (kept as the
    last thing the object did), else its status with Ready=Unknown/Suspended added."""
    status = copy.deepcopy(obj.get("status") or {})
    conditions: list[dict[str, Any]] = list(status.get("conditions") or [])
    if c.find(conditions, c.READY) is not None:
        return None
    generation = (obj.get("metadata") or {}).get("generation")
    c.set_condition(conditions, c.READY, c.UNKNOWN, c.SUSPENDED, SUSPENDED_MESSAGE, observed_generation=generation)
    status["conditions"] = conditions
    return status


def report_suspended(kube: KubeClient, resource: Resource, obj: dict[str, Any]) -> None:
    """Write `suspended_status(obj)` when there is one; an object deleted meanwhile needs nothing."""
    status = suspended_status(obj)
    if status is None:
        return
    try:
        patch_status_with_retry(kube, resource, obj, {**obj, "status": status})
    except NotFound:
        log.debug("suspended object is gone", extra={"obj": f"{obj['metadata'].get('namespace')}/"
                                                            f"{obj['metadata']['name']}"})
