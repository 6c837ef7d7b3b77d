"""Where the repository is, for tests that read its files (crds/, docs/, examples/, deploy/) or run its
scripts; one definition so that moving a test file never changes what it points at."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
