"""Render a ManifestSet's `path` into a list of Kubernetes objects.

A directory with a kustomization file goes through kustomize (the `kustomize` binary when present, else
`kubectl kustomize`, both found by configuration); any other directory contributes every *.yaml, *.yml and
*.json file, multi-document YAML included, in sorted path order so that renders are stable.
Errors name the file (and for YAML the line) so that the status message says what to fix.
Plain (unquoted) YAML strings holding a `${` reference are loaded as `substitute.Unquoted`, so that
substitution can give them the type of their value (`replicas: ${replicas}` → 3) while quoted ones stay
strings. kustomize writes its output without the quotes of the sources, so with `mark_quoted` the
references in quoted scalars of the sources are marked before the build (substitute.py), in place:
only the controller's disposable copy of an artifact may be rendered that way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tfcontroller.manifests.substitute import Unquoted, mark_quoted_references

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"  # kustomize's record of where an object came from
ORIGIN_BUILD_METADATA = "originAnnotations"  # the kustomization setting that asks for it


class RenderError(Exception):
    """The manifests cannot be rendered; `file` names the source of the problem when known."""

    def __init__(self, message: str, file: str | None = None) -> None:
        super().__init__(message)
        self.file = file


@dataclass
class RenderedObject:
    obj: dict[str, Any]
    source: str  # the file it came from, relative to the artifact root (kustomize's origin annotation)


@dataclass
class KustomizeConfig:
    """How to run kustomize: an explicit binary, else `kustomize` on PATH, else `kubectl kustomize`."""

    kustomize_binary: str | None = field(default_factory=lambda: os.environ.get("TFCONTROLLER_KUSTOMIZE_BINARY"))
    kubectl_binary: str | None = field(default_factory=lambda: os.environ.get("TFCONTROLLER_KUBECTL_BINARY"))
    timeout: float = 60.0

    def command(self) -> list[str]:
        if self.kustomize_binary:
            return [self.kustomize_binary, "build"]
        found = shutil.which("kustomize")
        if found:
            return [found, "build"]
        kubectl = self.kubectl_binary or shutil.which("kubectl")
        if kubectl:
            return [kubectl, "kustomize"]
        raise RenderError(
            "neither `kustomize` nor `kubectl` was found: install one, or set TFCONTROLLER_KUSTOMIZE_BINARY"
        )


def render(root: Path, path: str, kustomize: KustomizeConfig | None = None, *,
           mark_quoted: bool = False) -> list[RenderedObject]:
    """Render `path` (relative to the extracted artifact `root`). `mark_quoted` (for substitution)
    marks the quoted references of the YAML files under `root` in place before a kustomize build."""
    target = _safe_join(root, path)
    if not target.is_dir():
        raise RenderError(f"path {path!r} is not a directory in the source artifact", file=path)
    if any((target / name).is_file() for name in KUSTOMIZATION_FILES):
        if mark_quoted:
            _mark_quoted_sources(root)
        return _render_kustomize(root, target, kustomize or KustomizeConfig())
    return _render_plain(root, target)


def _safe_join(root: Path, path: str) -> Path:
    resolved_root = root.resolve()
    target = (resolved_root / path.lstrip("/")).resolve()
    if target != resolved_root and resolved_root not in target.parents:
        raise RenderError(f"path {path!r} leaves the source artifact", file=path)
    return target


def _mark_quoted_sources(root: Path) -> None:
    """Mark the quoted `${...}` references of every YAML file under `root` (kustomization files
    excepted: their inline patches are YAML inside block scalars), so they survive kustomize."""
    for file in root.rglob("*"):
        if file.suffix not in (".yaml", ".yml") or file.name in KUSTOMIZATION_FILES:
            continue
        if file.is_symlink() or not file.is_file():
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # kustomize reports unreadable files itself
        marked = mark_quoted_references(text)
        if marked != text:
            file.write_text(marked, encoding="utf-8")


def _render_kustomize(root: Path, target: Path, cfg: KustomizeConfig) -> list[RenderedObject]:
    """Build `target` through a wrapper kustomization that asks for origin annotations, so that every
    object names the file it came from (a nested kustomization's resource, a generator's kustomization
    file), not the top kustomization. The wrapper lists `target` as its only resource and adds nothing
    else, so the objects are those of a plain build; the annotation is removed again unless the user's
    own kustomization asked for it. Should the wrapped build fail (e.g. `target` is a Component), the
    plain build runs, for its error message and for kustomizations a wrapper cannot include."""
    rel = os.path.relpath(target, root.resolve())
    fallback = f"{rel}/kustomization.yaml"
    keep_origin = _asks_for_origin(target)
    with tempfile.TemporaryDirectory(prefix="tfc-origin-") as wrapper:
        wrapper_dir = Path(wrapper)
        (wrapper_dir / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": [os.path.relpath(target, wrapper_dir)], "buildMetadata": ["originAnnotations"]}))
        proc = _kustomize(cfg, wrapper_dir, rel)
        if proc.returncode == 0:
            objs = _load_yaml_stream(proc.stdout, fallback)
            return [RenderedObject(obj, _origin_of(obj, root, wrapper_dir, fallback, keep=keep_origin))
                    for obj in objs]
    proc = _kustomize(cfg, target, rel)
    if proc.returncode != 0:
        detail = kustomize_error(proc.stderr).replace(str(root.resolve()) + "/", "")
        raise RenderError(f"kustomize build of {rel} failed: {detail}", file=rel)
    return [RenderedObject(obj, fallback) for obj in _load_yaml_stream(proc.stdout, fallback)]


# klog's line header as `kubectl kustomize` writes it: severity, date, time, thread id, file:line, "]"
_KLOG_HEADER = re.compile(r"^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ [\w.-]+:\d+\] ")
_COMMAND_FAILED = re.compile(r'^"command failed" err=(".*")$')


def kustomize_error(stderr: str) -> str:
    """kustomize's error without its logging dress: `kubectl kustomize` wraps it in a klog line whose
    header carries a timestamp and a thread id (`E1129 22:18:46.101040 9343 run.go:72] "command failed"
    err="…"`), `kustomize build` prefixes `Error: `. Unwrapped, the message says only what is wrong, and
    it stays the same from one attempt to the next, so a failure that repeats is one Event, not a new
    Warning per retry. Pure."""
    lines = []
    for line in stderr.strip().splitlines():
        line = _KLOG_HEADER.sub("", line.strip())
        wrapped = _COMMAND_FAILED.match(line)
        if wrapped:
            try:
                line = str(json.loads(wrapped.group(1)))  # Go's %q quoting: JSON's escapes
            except ValueError:
                line = wrapped.group(1)[1:-1]
        lines.append(line.removeprefix("Error: "))
    return "\n".join(line for line in lines if line)


def _kustomize(cfg: KustomizeConfig, directory: Path, rel: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([*cfg.command(), str(directory)], capture_output=True, text=True,
                              timeout=cfg.timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"kustomize build of {rel} timed out after {cfg.timeout:.0f}s", file=rel) from exc


def _asks_for_origin(target: Path) -> bool:
    """The user's kustomization sets `buildMetadata: [originAnnotations]`: the annotation is theirs."""
    for name in KUSTOMIZATION_FILES:
        file = target / name
        if file.is_file():
            try:
                doc = yaml.safe_load(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                return False
            meta = doc.get("buildMetadata") if isinstance(doc, dict) else None
            return isinstance(meta, list) and ORIGIN_BUILD_METADATA in meta
    return False


def _origin_of(obj: dict[str, Any], root: Path, wrapper: Path, fallback: str, *, keep: bool) -> str:
    """The file `obj` came from, relative to the artifact root, read from kustomize's origin annotation
    (`path` of a resource, `configuredIn` of a generated object; `repo` for a remote one), which is
    removed from `obj` unless `keep`. Anything unreadable names the top kustomization file."""
    annotations = (obj.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or ORIGIN_ANNOTATION not in annotations:
        return fallback
    raw = annotations[ORIGIN_ANNOTATION] if keep else annotations.pop(ORIGIN_ANNOTATION)
    if not annotations and not keep:
        del obj["metadata"]["annotations"]
    try:
        origin = yaml.safe_load(raw) if isinstance(raw, str) else None
    except yaml.YAMLError:
        origin = None
    if not isinstance(origin, dict):
        return fallback
    path = origin.get("path") or origin.get("configuredIn")
    if not isinstance(path, str) or not path:
        return fallback
    if origin.get("repo"):
        return f"{origin['repo']}//{path}"
    found = os.path.relpath(os.path.normpath(wrapper / path), root.resolve())
    return fallback if found == ".." or found.startswith("../") else found


def _render_plain(root: Path, target: Path) -> list[RenderedObject]:
    out: list[RenderedObject] = []
    files = sorted(
        p for p in target.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml", ".json")
    )
    for file in files:
        rel = os.path.relpath(file, root.resolve())
        text = file.read_text(encoding="utf-8")
        if file.suffix == ".json":
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as exc:
                raise RenderError(f"{rel}: invalid JSON at line {exc.lineno}: {exc.msg}", file=rel) from exc
            docs = doc.get("items", []) if isinstance(doc, dict) and doc.get("kind", "").endswith("List") else [doc]
        else:
            docs = _load_yaml_stream(text, rel)
        for d in docs:
            out.append(RenderedObject(_check_object(d, rel), rel))
    return out


class _Loader(yaml.SafeLoader):
    """SafeLoader that marks plain scalars with a `${` reference (see the module docstring)."""


def _construct_str(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    value = loader.construct_scalar(node)  # type: ignore[arg-type]
    if node.style is None and "${" in value:  # type: ignore[attr-defined]
        return Unquoted(value)
    return str(value)


_Loader.add_constructor("tag:yaml.org,2002:str", _construct_str)


def _load_yaml_stream(text: str, source: str) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RenderError(f"{source}: invalid YAML{where}: {problem}", file=source) from exc
    out: list[dict[str, Any]] = []
    for d in docs:
        if isinstance(d, dict) and d.get("kind", "").endswith("List") and isinstance(d.get("items"), list):
            out.extend(_check_object(i, source) for i in d["items"])
        else:
            out.append(_check_object(d, source))
    return out


def _check_object(doc: Any, source: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise RenderError(f"{source}: a document is not a mapping (got {type(doc).__name__})", file=source)
    missing = [k for k in ("apiVersion", "kind") if not doc.get(k)]
    name = (doc.get("metadata") or {}).get("name")
    if not name:
        missing.append("metadata.name")
    if missing:
        label = f"{doc.get('kind', '?')}/{name or '?'}"
        raise RenderError(f"{source}: object {label} lacks {', '.join(missing)}", file=source)
    return doc
