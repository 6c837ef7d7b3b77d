"""The Terraform controller's local copies of GitRepository artifacts, and their garbage collection.

Each artifact is downloaded once into `<work_dir>/artifacts/<sha256 hex>.tar.gz` (checked against its
digest) and shared by every Terraform that uses it. Without collection the directory grows by one
archive per commit, forever. What must stay:
- an artifact a reconcile is using right now (counted in memory: `hold`/`release`), and
- the latest artifact of every Terraform object (`status.lastArtifactDigest`): a deletion with
  `destroyResourcesOnDeletion` destroys with it when the GitRepository is gone.
Everything else is removed after a new artifact was downloaded, which is the only time the directory
grows; a reconcile that changes nothing never lists or deletes anything. Unfinished downloads
(`.download-*`) are removed only once they are old: another thread may be writing one.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from tfcontroller.source.store import fetch_artifact

log = logging.getLogger(__name__)

_ARCHIVE = re.compile(r"^([0-9a-f]{64})\.tar\.gz$")
_PARTIAL_PREFIX = ".download-"
PARTIAL_MAX_AGE = 3600.0


def hex_of(digest: str) -> str:
    return digest.split(":", 1)[-1]


def files_to_remove(files: Mapping[str, float], keep: Iterable[str], now: float,
                    partial_max_age: float = PARTIAL_MAX_AGE) -> list[str]:
    """Pure: names (of `files`, name -> mtime) to delete, keeping the digests in `keep`."""
    kept = {hex_of(d) for d in keep if d}
    doomed = []
    for name, mtime in files.items():
        match = _ARCHIVE.match(name)
        if match is not None:
            if match.group(1) not in kept:
                doomed.append(name)
        elif name.startswith(_PARTIAL_PREFIX) and now - mtime > partial_max_age:
            doomed.append(name)
    return sorted(doomed)


class ArtifactCache:
    """Downloads, lookups, in-use counts and collection; thread-safe."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._in_use: Counter[str] = Counter()

    def path_for(self, digest: str) -> Path:
        return self.root / f"{hex_of(digest)}.tar.gz"

    def cached(self, digest: str | None) -> Path | None:
        if not digest:
            return None
        path = self.path_for(digest)
        return path if path.is_file() else None

    def fetch(self, url: str, digest: str) -> tuple[Path, bool]:
        """The local copy of an artifact and whether it was downloaded now. Raises what
        `source.store.fetch_artifact` raises (OSError, ValueError, URLError, digest mismatch)."""
        cached = self.cached(digest)
        if cached is not None:
            return cached, False
        return fetch_artifact(url, self.path_for(digest), digest), True

    def hold(self, digest: str) -> None:
        with self._lock:
            self._in_use[hex_of(digest)] += 1

    def release(self, digest: str) -> None:
        with self._lock:
            key = hex_of(digest)
            self._in_use[key] -= 1
            if self._in_use[key] <= 0:
                del self._in_use[key]

    def in_use(self) -> set[str]:
        with self._lock:
            return set(self._in_use)

    def collect(self, latest: Iterable[str]) -> list[str]:
        """Remove every archive that is neither in use nor in `latest` (each object's latest digest).
        Returns the removed names."""
        keep = set(latest) | self.in_use()
        files: dict[str, float] = {}
        for entry in self.root.iterdir():
            try:
                files[entry.name] = entry.stat().st_mtime
            except OSError:
                continue
        # Held digests are re-read under the lock just before deleting: a reconcile that started using
        # an archive after `keep` was computed must not lose it.
        removed = []
        for name in files_to_remove(files, keep, time.time()):
            with self._lock:
                match = _ARCHIVE.match(name)
                if match is not None and match.group(1) in self._in_use:
                    continue
                try:
                    (self.root / name).unlink()
                except FileNotFoundError:
                    continue
            removed.append(name)
        if removed:
            log.info("removed %d unused artifacts from %s", len(removed), self.root)
        return removed
