"""The sha256 of a file, in chunks: what an artifact's digest is. Apart from `artifact.py` so that the
runner, which only downloads and checks artifacts (`store.fetch_artifact`), does not import git and the
module-reads analysis that building one needs (each local run starts a runner: import time is per run)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
