"""From an evaluated value to an artifact-relative path: where a path starts and ends inside a
command line, which unknown parts are safe (fileset members), and whether it stays inside the
artifact. Anything doubtful comes back as (None, why), which widens the digest."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from tfcontroller.source.module_reads.values import (
    _ARTIFACT,
    Part,
    Unknown,
    _as_parts,
    _FileSetValue,
    _join,
    _merge,
    _Scope,
)


def _resolve(value: Any, scope: _Scope) -> str | tuple[None, str]:
    """The artifact-relative path (file or directory) a value denotes, or (None, why not)."""
    if isinstance(value, _FileSetValue):
        return (None, "it is a set of paths")
    if isinstance(value, list | dict):
        return (None, "it is a collection, not a path")
    parts = _as_parts(value)
    first_unknown = next((i for i, p in enumerate(parts) if isinstance(p, Unknown)), None)
    if first_unknown is None:
        return _artifact_relative("".join(p for p in parts if isinstance(p, str)), scope)
    unknown = parts[first_unknown]
    assert isinstance(unknown, Unknown)
    if not unknown.safe:
        return (None, f"the path depends on {unknown.why}")
    tail = parts[first_unknown + 1:]
    if any(isinstance(p, Unknown) and not p.safe for p in tail):
        bad = next(p for p in tail if isinstance(p, Unknown) and not p.safe)
        assert isinstance(bad, Unknown)
        return (None, f"the path depends on {bad.why}")
    if any(".." in p.split("/") for p in tail if isinstance(p, str)):
        return (None, "the path climbs ('..') after a computed part")
    prefix = "".join(p for p in parts[:first_unknown] if isinstance(p, str))
    directory = prefix[:-1] if prefix.endswith("/") else posixpath.dirname(prefix)
    return _artifact_relative(directory or ".", scope)


def _artifact_relative(path: str, scope: _Scope) -> str | tuple[None, str]:
    if path.startswith(_ARTIFACT + "/") or path == _ARTIFACT:
        rel = path[len(_ARTIFACT):]
    elif path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", path):
        return (None, f"it reads {path!r}, outside the artifact")
    else:
        rel = _join(scope.root_dir, path)  # relative paths: against the working directory (the root module)
    cleaned = posixpath.normpath(rel.lstrip("/") or ".")
    if cleaned == ".." or cleaned.startswith("../"):
        return (None, "the path leaves the artifact")
    return "" if cleaned == "." else cleaned


_WORD_END = re.compile(r"[\s\"'`;|&()<>,]")  # where a path inside a command line or list ends


def _path_segments(parts: tuple[Part, ...]) -> list[tuple[Part, ...]]:
    """The paths inside a string built from `path.*`: each runs from a `path.*` value to the end of its
    word, so `"${path.module}/run.sh ${var.arg}"` is the script's path and `var.arg` does not matter,
    while `"${path.module}/${var.f}"` is a path that depends on `var.f`. Text before `path.*`
    ("app-${path.module}") is not part of the path."""
    segments: list[list[Part]] = []
    current: list[Part] | None = None
    for part in parts:
        if isinstance(part, Unknown):
            if current is not None:
                current.append(part)
            continue
        text = part
        while text:
            if current is None:
                at = text.find(_ARTIFACT)
                if at < 0:
                    break
                current = []
                segments.append(current)
                text = text[at:]
            stop = _WORD_END.search(text)
            if stop is None:
                current.append(text)
                break
            current.append(text[:stop.start()])
            current = None
            text = text[stop.end():]
    return [_merge(segment) for segment in segments]

