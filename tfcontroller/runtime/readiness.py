"""When a dependency counts as ready: one rule for every controller that waits on another object.

Rule (kstatus's "Current", as the ManifestSet controller has always applied it): the object has a
Ready condition with status True, and its status is not behind its spec — when both
`metadata.generation` and `status.observedGeneration` are present they must be equal (a Ready=True
left over from the previous generation does not count). An object without a Ready condition has
not been reconciled yet. The reason why not is returned for the waiting object's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfcontroller.api import conditions as c


@dataclass(frozen=True)
class Readiness:
    ready: bool
    why: str = ""  # empty when ready: the dependency's own reason and message otherwise

    def __bool__(self) -> bool:
        return self.ready


def readiness(obj: dict[str, Any]) -> Readiness:
    """Whether `obj` is Ready=True for its current generation; else why not (pure)."""
    status = obj.get("status") or {}
    cond = c.find(status.get("conditions"), c.READY)
    if cond is None:
        return Readiness(False, "not reconciled yet")
    if cond.status != c.TRUE:
        return Readiness(False, f"{cond.reason}: {cond.message}" if cond.message else cond.reason)
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed != generation:
        return Readiness(False, f"generation {generation} not reconciled yet")
    return Readiness(True)
