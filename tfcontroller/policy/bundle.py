"""A policy's Rego modules, loaded from a directory of an artifact (or inline), and their compile check.

Loading follows conftest's conventions: every `*.rego` file below the policy directory, sorted by path, the
`*_test.rego` files (`opa test`'s unit tests of the policies) left out. The directory comes from an
artifact built from a Git repository somebody else controls, so nothing may escape the artifact's root:
`..` in the path and symlinks pointing outside it are refused, not followed.

`compile_check` says everything that would stop a bundle from evaluating, each as `file:line:col: message`:
syntax errors (from the engine), Rego v0 syntax and unknown functions (found by the lexer, because the
engine accepts the first with another meaning and finds the second only when a query reaches it), a
bundle without any conftest rule, and `data` that is not an object.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfcontroller.policy import lexer

MAX_FILE_BYTES = 512 * 1024
MAX_BUNDLE_BYTES = 4 * 1024 * 1024
INLINE_FILE = "inline.rego"


class PolicySourceError(Exception):
    """The policy directory cannot be loaded (missing, escaping its root, no .rego files, too large)."""


@dataclass(frozen=True)
class CompileError:
    file: str
    line: int  # 0 when the problem has no line (a bundle-wide one)
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}" if self.line else \
            f"{self.file}: {self.message}"


@dataclass(frozen=True)
class PolicyBundle:
    name: str
    modules: tuple[tuple[str, str], ...]  # (file name relative to the artifact's root, text)
    data: Any = field(default=None)

    def packages(self) -> list[str]:
        """Every package the bundle's modules declare, in order, once each."""
        seen: dict[str, None] = {}
        for _, text in self.modules:
            for pkg in lexer.packages(text):
                seen.setdefault(pkg, None)
        return list(seen)

    def rules(self) -> dict[str, list[str]]:
        """The conftest rules per package: {"main": ["deny", "warn_tags"]} (sorted)."""
        out: dict[str, set[str]] = {}
        for _, text in self.modules:
            pkgs = lexer.packages(text)
            if pkgs:
                out.setdefault(pkgs[0], set()).update(n for n in lexer.rule_names(text) if lexer.is_conftest_rule(n))
        return {pkg: sorted(names) for pkg, names in out.items() if names}

    def digest(self) -> str:
        """`sha256:` over the modules (names and texts) and the data: what the bundle would decide with."""
        doc = {"modules": [list(m) for m in self.modules], "data": self.data}
        return "sha256:" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def inline_bundle(name: str, rego: str, data: Any = None) -> PolicyBundle:
    """A PlanPolicy's inline `rego` as a bundle of one module, named `inline.rego` in its errors."""
    return PolicyBundle(name=name, modules=((INLINE_FILE, rego),), data=data)


def load_policy_dir(root: Path, path: str, *, name: str = "", data: Any = None) -> PolicyBundle:
    """Every `*.rego` below `root/path` (not `*_test.rego`), sorted; names relative to `root`."""
    base = root.resolve()
    target = (base / path.lstrip("/")).resolve() if path not in ("", ".", "./") else base
    if not _inside(target, base):
        raise PolicySourceError(f"path {path!r} leaves the artifact (.. or a symlink pointing outside it)")
    if not target.exists():
        raise PolicySourceError(f"path {path!r} does not exist in the artifact")
    files = [target] if target.is_file() else _rego_files(target, base)
    files = [f for f in files if f.name.endswith(".rego") and not f.name.endswith("_test.rego")]
    if not files:
        raise PolicySourceError(f"no .rego files under {path!r} (files ending in _test.rego are tests and "
                                "left out)")
    modules: list[tuple[str, str]] = []
    total = 0
    for f in sorted(files, key=lambda p: p.relative_to(base).as_posix()):
        size = f.stat().st_size
        total += size
        if size > MAX_FILE_BYTES or total > MAX_BUNDLE_BYTES:
            raise PolicySourceError(f"{f.relative_to(base).as_posix()}: policy files are limited to "
                                    f"{MAX_FILE_BYTES // 1024} KiB each and {MAX_BUNDLE_BYTES // 1024 // 1024} MiB in all")
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise PolicySourceError(f"{f.relative_to(base).as_posix()} is not UTF-8 text") from None
        modules.append((f.relative_to(base).as_posix(), text))
    return PolicyBundle(name=name, modules=tuple(modules), data=data)


def _inside(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


def _rego_files(directory: Path, base: Path) -> list[Path]:
    """The files below `directory`, refusing any symlink (file or directory) that points outside `base`.
    Symlinked directories inside are not descended into (no loops); symlinked files inside are read."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=False):
        for entry in [*dirnames, *filenames]:
            p = Path(dirpath) / entry
            if p.is_symlink() and not _inside(p.resolve(), base):
                raise PolicySourceError(f"{p.relative_to(base).as_posix()} is a symlink pointing outside the "
                                        "artifact")
        out.extend(Path(dirpath) / f for f in filenames)
    return out


def lexical_errors(bundle: PolicyBundle, is_builtin: Any) -> list[CompileError]:
    """What the lexer finds (pure, apart from `is_builtin(name) -> bool`, the engine's list of built-ins):
    Rego v0 syntax, calls of functions neither built in nor defined in the bundle, a module without a
    package, a bundle without any conftest rule."""
    errors: list[CompileError] = []
    defined = {fn for _, text in bundle.modules for fn in lexer.function_names(text)}
    for file, text in bundle.modules:
        errors.extend(CompileError(file, f.line, f.column, f.message) for f in lexer.v1_findings(text))
        if not lexer.packages(text):
            errors.append(CompileError(file, 1, 1, "no 'package' declaration"))
        for call, tok in lexer.calls(text):
            if not is_builtin(call) and call.rsplit(".", 1)[-1] not in defined:
                errors.append(CompileError(file, tok.line, tok.column, f"unknown function {call}"))
    if not errors and not bundle.rules():
        errors.append(CompileError(bundle.modules[0][0] if bundle.modules else "(bundle)", 0, 0,
                                   "no deny, violation or warn rule in any package: the policy would check "
                                   "nothing"))
    if bundle.data is not None and not isinstance(bundle.data, dict):
        errors.append(CompileError("(data)", 0, 0, "data must be an object (its keys become data.<key>)"))
    return sorted(errors, key=lambda e: (e.file, e.line, e.column))


def compile_check(bundle: PolicyBundle, *, timeout: float = 10.0) -> list[CompileError]:
    """Everything that stops `bundle` from evaluating; empty when it compiles. The engine's parse runs in
    the policy worker process (evaluate.py: it prints its own diagnostics on the console and must not
    in the controller's log)."""
    from tfcontroller.policy.evaluate import run_compile_check

    return run_compile_check(bundle, timeout=timeout)
