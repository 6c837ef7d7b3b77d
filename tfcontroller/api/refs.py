"""References shared by the kinds: the source, Secret/ConfigMap value sources, dependencies."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from tfcontroller.api.constants import GITREPOSITORY_KIND
from tfcontroller.api.errors import SpecError
from tfcontroller.api.fields import Fields

VALUE_SOURCE_KINDS = ("Secret", "ConfigMap")


@dataclass(frozen=True)
class ObjectRef:
    """A namespaced reference; `namespace` is already defaulted to the referring object's."""

    kind: str
    name: str
    namespace: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_source_ref(f: Fields, own_namespace: str) -> ObjectRef:
    ref = f.obj("sourceRef", required=True)
    assert ref is not None
    kind = ref.str("kind", default=GITREPOSITORY_KIND, enum=(GITREPOSITORY_KIND,))
    return ObjectRef(kind or GITREPOSITORY_KIND, ref.req_str("name", non_empty=True),
                     ref.name("namespace", required=False, label=True) or own_namespace)


@dataclass(frozen=True)
class ValuesFrom:
    """All keys (or `keys`) of a Secret or ConfigMap in the object's namespace."""

    kind: str
    name: str
    optional: bool = False
    keys: tuple[str, ...] | None = None


def parse_values_from(f: Fields, key: str, with_keys: bool = False) -> list[ValuesFrom]:
    out = []
    for item in f.objects(key):
        keys = tuple(item.strings("keys")) if with_keys and item.has("keys") else None
        if not with_keys and item.has("keys"):
            raise SpecError(item.field("keys"), "not supported here")
        out.append(ValuesFrom(item.req_str("kind", enum=VALUE_SOURCE_KINDS), item.req_str("name", non_empty=True),
                              item.bool("optional"), keys))
    return out


@dataclass(frozen=True)
class KeyRef:
    """One key of a Secret or ConfigMap."""

    kind: str
    name: str
    key: str
    optional: bool = False


def artifact_relative(path: str | None) -> str | None:
    """A path inside an artifact, normalised: `./infra/tf/` → `infra/tf`; "", ".", "/" → "" (the root);
    None when it leaves the artifact (`..`, `a/../..`). A leading `/` means the artifact's root. The
    one rule for every consumer of `spec.path` (digests, module reads, extraction)."""
    raw = (path or "").strip().lstrip("/")
    cleaned = posixpath.normpath(raw) if raw else "."
    if cleaned == ".." or cleaned.startswith("../"):
        return None
    return "" if cleaned == "." else cleaned


SEGMENT_MAX = 255  # bytes of one path segment: what a tar member's name and a filesystem (NAME_MAX) can hold
ARTIFACT_PATH_MAX = 1024  # bytes of a whole artifact path: deeper than any module tree, well under PATH_MAX


def unstorable_path(path: str) -> str | None:
    """Why `path` can name nothing an artifact holds or a run directory can take (None: it can): a NUL
    byte, a segment over SEGMENT_MAX bytes (UTF-8), or over ARTIFACT_PATH_MAX bytes in all. Found by the
    fuzz (issue 21): `path: <300 characters>` failed every run with `OSError: File name too long`
    (ReconciliationFailed, retried for ever); such a path is a spec error, refused before any run."""
    if "\0" in path:
        return "holds a NUL byte"
    size = len(path.encode("utf-8", "surrogatepass"))
    if size > ARTIFACT_PATH_MAX:
        return f"is {size} bytes long; an artifact path is at most {ARTIFACT_PATH_MAX}"
    long = next((s for s in path.split("/") if len(s.encode("utf-8", "surrogatepass")) > SEGMENT_MAX), None)
    if long is not None:
        return f"has a segment of {len(long.encode('utf-8', 'surrogatepass'))} bytes ({long[:20]!r}…); " \
               f"a file or directory name is at most {SEGMENT_MAX}"
    return None


def clean_path(f: Fields, key: str = "path") -> str:
    """A directory inside the artifact: relative, normalised, never escaping the root ("." for the root),
    and one an artifact can hold (`unstorable_path`)."""
    raw = f.str(key, default="./") or "./"
    if raw.startswith("/") or "\\" in raw:
        raise SpecError(f.field(key), f"must be a relative path inside the artifact, not {raw!r}")
    why = unstorable_path(raw)
    if why:
        raise SpecError(f.field(key), f"names no directory of the artifact: {raw[:40]!r} {why}")
    norm = posixpath.normpath(raw)
    if norm == ".." or norm.startswith("../"):
        raise SpecError(f.field(key), f"must not leave the artifact: {raw!r}")
    return norm
