"""What an apply changed: the field paths that differ between two versions of an object.

Used to report self-heal ("Deployment/prod/web: spec.replicas corrected") and to tell a no-op apply
from a real change. Pure. Server bookkeeping (resourceVersion, managedFields, generation, status) is
ignored. Only paths are reported, never values: an object may be a Secret.
"""

from __future__ import annotations

from typing import Any

_IGNORED_META = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid")


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k != "status"}
    out["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _IGNORED_META}
    return out


def _walk(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(sub)
            else:
                _walk(a[key], b[key], sub, out)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, f"{path}[{i}]", out)
        return
    if a != b:
        out.append(path)


def changed_paths(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Dotted paths that differ (`spec.replicas`, `data.KEY`, `spec.template...env[0].value`)."""
    if before is None:
        return []
    out: list[str] = []
    _walk(_strip(before), _strip(after), "", out)
    return out


def summarize_paths(paths: list[str], limit: int = 5) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" (+{len(paths) - limit} more)" if len(paths) > limit else "")
