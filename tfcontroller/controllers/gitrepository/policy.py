"""The pure decisions of the GitRepository controller (unit-tested without git or a cluster): when to
poll next, whether the stored artifact already stands for a revision, which of two objects is newer,
and the library RefSpec of the typed spec."""

from __future__ import annotations

import hashlib

from tfcontroller.api.gitrepository import GitRepository
from tfcontroller.controllers.gitrepository.context import Obj
from tfcontroller.source.refs import RefSpec

MIN_POLL_FRACTION = 0.2  # an aligned poll is never sooner than this share of the interval


def succeeded_message(revision: str) -> str:
    return f"stored artifact for revision '{revision}'"


def ref_spec_of(repo: GitRepository) -> RefSpec:
    """The source library's RefSpec for the typed spec's single ref (None: the remote's HEAD)."""
    ref = repo.spec.ref
    spec = RefSpec(**{ref.kind: ref.value}) if ref is not None else RefSpec()
    spec.validate()
    return spec


def next_poll_delay(now: float, interval: float, url: str) -> float:
    """Seconds until the next poll tick of `url`: ticks every `interval` at a phase fixed by the URL.

    Every object on one URL (and interval) lands on the same ticks, so one cached ls-remote serves them
    all; an object off the schedule (new, recovered) joins it, waiting at least MIN_POLL_FRACTION and at
    most 1 + MIN_POLL_FRACTION intervals."""
    if interval <= 0:
        return 0.0
    phase = int.from_bytes(hashlib.sha256(url.strip().encode()).digest()[:8], "big") / 2**64 * interval
    delay = (phase - now) % interval
    if delay < MIN_POLL_FRACTION * interval:
        delay += interval
    return delay


def artifact_is_current(status: Obj, generation: int, revision: str) -> bool:
    """Whether `status.artifact` already stands for `revision` under the current spec."""
    artifact = status.get("artifact") or {}
    return (
        bool(artifact.get("digest"))
        and artifact.get("revision") == revision
        and status.get("observedGeneration") == generation
    )


def older_than(obj: Obj, resource_version: str | None) -> bool:
    """Whether `obj` is older than `resource_version` (False when either is unknown).

    Kubernetes calls resourceVersions opaque, but etcd's (and the dev cluster's) are increasing integers;
    client-go's MutationCache compares them the same way for the same purpose. A value that does not
    parse is treated as "not older", so a cache is never bypassed on a guess.
    """
    mine = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    if not resource_version or not mine.isdigit() or not resource_version.isdigit():
        return False
    return int(mine) < int(resource_version)
