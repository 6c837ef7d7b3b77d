"""RFC 7386 JSON merge patch, applied: the one implementation both the development API server (serving
`application/merge-patch+json`) and the runtime (rebasing status patches) use."""

from __future__ import annotations

import copy
from typing import Any


def json_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a merge patch: maps merge recursively, null deletes, anything else replaces.
    Returns a new value; the inputs are left untouched."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result
