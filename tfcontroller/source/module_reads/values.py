"""The values the static evaluator works with: known text, `Unknown` parts, `fileset()` results,
the scope an expression is evaluated in, the result (`ModuleReads`), and the limits that keep
hostile code cheap. Pure data and small value operations; no parsing."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Functions whose first argument is a path that Terraform reads (fileset: a directory, then a pattern).
FILE_FUNCTIONS = frozenset({
    "file", "filebase64", "fileexists", "fileset", "templatefile", "filemd5", "filesha1", "filesha256",
    "filesha512", "filebase64sha256", "filebase64sha512",
})
# Functions that pass a collection through unchanged in what matters here (a fileset's members).
_PASS_THROUGH = frozenset({"toset", "tolist", "sort", "distinct", "compact", "flatten"})
_PATH_NAMES = frozenset({"module", "root", "cwd"})
# The absolute root standing for the artifact when evaluating `path.*`; never a real path (NUL byte).
_ARTIFACT = "/\0artifact"
_MAX_DEPTH = 16  # module calls nested deeper than this are not followed (Terraform has no such limit)
_MAX_TEXT = 4096  # longer computed strings are no paths (and doubling them must not exhaust memory)
_MAX_PARTS = 64
_MAX_INSTANCES = 256  # module instances analysed (one per distinct set of arguments) before giving up
_TEMPLATE_READ = re.compile(r"[$%]\{[^}]*\b(" + "|".join(sorted(FILE_FUNCTIONS)) + r")\s*\(")
_DIRECTIVE_READ = re.compile(r"%\{[^}]*\b(" + "|".join(sorted(FILE_FUNCTIONS)) + r")\s*\(")
_TFVARS = re.compile(r"^(terraform\.tfvars|.*\.auto\.tfvars)(\.json)?$")
ANY_VARIABLE = "*"  # in `provided_vars`: every variable may be set from outside (e.g. unreadable tfvars)


@dataclass(frozen=True)
class Unknown:
    """A value not known before Terraform runs. `safe`: a relative path with no `..` (a fileset member)."""

    why: str
    safe: bool = False


Part = str | Unknown
Value = tuple[Part, ...] | list[Any] | dict[str, Any] | Unknown  # a string (maybe with unknown parts),
# a tuple, an object, or unknown


@dataclass(frozen=True)
class _FileSetValue:
    """What `fileset()` returns: its members are relative paths without `..`."""


@dataclass
class ModuleReads:
    """What a module reads: `paths` are artifact-relative files or directories (a directory stands for
    every file under it); `templates` the subset read by `templatefile` (their own calls are checked by
    `template_problems`); `modules` the local module directories reached; `unresolved` why a read could
    not be resolved, each naming the file, line and expression — non-empty means: widen the digest."""

    paths: set[str] = field(default_factory=set)
    templates: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)

    def widen(self, reason: str) -> None:
        if reason not in self.unresolved:
            self.unresolved.append(reason)


@dataclass
class _Scope:
    module_dir: str
    root_dir: str
    filename: str
    text: str
    local_exprs: dict[str, tuple[Any, str, str]]  # name → (expression tree, file name, file text)
    variables: dict[str, Value]
    iterators: dict[str, Value] = field(default_factory=dict)
    evaluating: frozenset[str] = frozenset()  # locals under evaluation (cycle guard)
    line: int | None = None  # the line of a heredoc whose expressions are walked (their `text`)
    workspace: str | None = None  # terraform.workspace, when known
    local_values: dict[str, Any] = field(default_factory=dict)  # evaluated locals of this module instance

    def with_iterators(self, names: Mapping[str, Value]) -> _Scope:
        return dataclasses.replace(self, iterators={**self.iterators, **names})

    def in_text(self, text: str, line: int | None) -> _Scope:
        return dataclasses.replace(self, text=text, line=line)


def _append(value: Any, suffix: str) -> Any:
    return _merge([*_as_parts(value), suffix])


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory and name else directory or name


# ------------------------------------------------------------------------------------------ tree helpers

def _as_parts(value: Any) -> tuple[Part, ...]:
    if isinstance(value, tuple):
        return value
    if isinstance(value, Unknown):
        return (value,)
    if isinstance(value, _FileSetValue):
        return (Unknown("a set of paths"),)
    return (Unknown("a collection"),)


def _merge(parts: list[Part]) -> tuple[Part, ...]:
    """Adjacent literal parts joined; a value longer than any path (hostile doubling) becomes unknown."""
    if sum(len(p) for p in parts if isinstance(p, str)) > _MAX_TEXT:
        return (Unknown(f"a text longer than {_MAX_TEXT} characters"),)
    merged: list[Part] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + part
        elif isinstance(part, Unknown) and merged and isinstance(merged[-1], Unknown):
            if not part.safe:  # two unknowns in a row are one; an unsafe one makes the pair unsafe
                merged[-1] = part
        elif part != "":
            merged.append(part)
    if len(merged) > _MAX_PARTS:
        return (Unknown(f"a text of more than {_MAX_PARTS} computed parts"),)
    return tuple(merged) if merged else ("",)


def _concrete(value: Any) -> str | None:
    if isinstance(value, tuple) and all(isinstance(p, str) for p in value):
        return "".join(value)
    return None


def _why(value: Any) -> str:
    unknown = next((p for p in _as_parts(value) if isinstance(p, Unknown)), None)
    return unknown.why if unknown else "unknown"


def _unescape(text: str) -> str:
    out = text.replace("$${", "${").replace("%%{", "%{")
    return re.sub(r'\\(["\\nrt])', lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)), out)

