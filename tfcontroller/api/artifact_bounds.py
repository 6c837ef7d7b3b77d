"""The bounds of a source artifact (entries and bytes of file content) this process packs and reads with.

The defaults are api/constants.py's (5,000 entries, 256 MiB); a monorepo may need more, so `tfcontroller
run` takes `--artifact-max-entries` and `--artifact-max-bytes` (defaults from `$TFCONTROLLER_ARTIFACT_MAX_ENTRIES`
and `$TFCONTROLLER_ARTIFACT_MAX_BYTES`), never above the hard ceilings (ARTIFACT_HARD_MAX_*). One pair for
the whole process, because the same artifact is packed by the GitRepository controller and read by every
consumer (the Terraform controller's module reads and digest, each run's extraction, ManifestSets,
PlanPolicies): bounds that differed between packer and reader would let a GitRepository become Ready
with an artifact every run refuses. `configure` is called once at start (`tfcontroller run`, and the runner
with the bounds its RunRequest carries); readers take `current()` when not given bounds explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tfcontroller.api.constants import (
    ARTIFACT_HARD_MAX_BYTES,
    ARTIFACT_HARD_MAX_ENTRIES,
    ARTIFACT_MAX_BYTES,
    ARTIFACT_MAX_ENTRIES,
)

MAX_ENTRIES_ENV = "TFCONTROLLER_ARTIFACT_MAX_ENTRIES"
MAX_BYTES_ENV = "TFCONTROLLER_ARTIFACT_MAX_BYTES"
_UNITS = {"": 1, "k": 1000, "ki": 1 << 10, "m": 1000**2, "mi": 1 << 20, "g": 1000**3, "gi": 1 << 30}
_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]i?)?\s*$")


@dataclass(frozen=True)
class ArtifactBounds:
    """At most `max_entries` members (files, links, directories) and `max_bytes` of file content."""

    max_entries: int = ARTIFACT_MAX_ENTRIES
    max_bytes: int = ARTIFACT_MAX_BYTES

    def __post_init__(self) -> None:
        if not 1 <= self.max_entries <= ARTIFACT_HARD_MAX_ENTRIES:
            raise ValueError(f"{self.max_entries}: the artifact entry bound must be 1 to {ARTIFACT_HARD_MAX_ENTRIES}")
        if not 1 <= self.max_bytes <= ARTIFACT_HARD_MAX_BYTES:
            raise ValueError(f"{self.max_bytes}: the artifact byte bound must be 1 to {ARTIFACT_HARD_MAX_BYTES} "
                             "(4Gi)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ArtifactBounds:
        """The bounds `$TFCONTROLLER_ARTIFACT_MAX_ENTRIES` / `$TFCONTROLLER_ARTIFACT_MAX_BYTES` set (the
        defaults where unset); ValueError naming the variable for a value that is not a valid bound."""
        entries, size = environ.get(MAX_ENTRIES_ENV, "").strip(), environ.get(MAX_BYTES_ENV, "").strip()
        try:
            max_entries = parse_entries(entries) if entries else ARTIFACT_MAX_ENTRIES
        except ValueError as exc:
            raise ValueError(f"${MAX_ENTRIES_ENV}: {exc}") from None
        try:
            max_bytes = parse_bytes(size) if size else ARTIFACT_MAX_BYTES
        except ValueError as exc:
            raise ValueError(f"${MAX_BYTES_ENV}: {exc}") from None
        return cls(max_entries, max_bytes)


def parse_entries(text: str) -> int:
    """A whole number of entries, 1 to the hard ceiling."""
    try:
        number = int(text.strip().replace("_", ""))
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number of entries") from None
    if not 1 <= number <= ARTIFACT_HARD_MAX_ENTRIES:
        raise ValueError(f"{text!r}: must be 1 to {ARTIFACT_HARD_MAX_ENTRIES} (the hard ceiling)")
    return number


def parse_bytes(text: str) -> int:
    """A size in bytes: a whole number, optionally with a unit (k, M, G decimal; Ki, Mi, Gi binary), 1 byte to
    the hard ceiling (4Gi)."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size (bytes, or a number with Ki, Mi, Gi, k, M or G)")
    number = int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
    if not 1 <= number <= ARTIFACT_HARD_MAX_BYTES:
        raise ValueError(f"{text!r}: must be 1 byte to 4Gi ({ARTIFACT_HARD_MAX_BYTES} bytes, the hard ceiling)")
    return number


_current = ArtifactBounds()


def configure(bounds: ArtifactBounds) -> None:
    """Set the bounds of this process (once, at start: `tfcontroller run`, the runner)."""
    global _current
    _current = bounds


def current() -> ArtifactBounds:
    """The bounds of this process: those `configure` set, else the defaults."""
    return _current
