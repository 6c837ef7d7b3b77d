"""Which commit a GitRepository's `ref` means, decided from `git ls-remote` output alone.

Resolving from the advertised refs (no fetch) is what makes polling cheap: the caller compares the
resolved commit with the artifact's and stops there when nothing moved. Precedence when several
fields are set follows Flux: commit > name > semver > tag > branch; with none, the remote's HEAD.

Revisions are `<ref>@sha1:<40 hex>` (`main@sha1:…`, `v1.2.0@sha1:…`, `refs/pull/1/head@sha1:…`) and
`sha1:<40 hex>` for a bare commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import semver

from tfcontroller.source.errors import InvalidSpecError, RefNotFoundError

_SHA1 = re.compile(r"^[0-9a-f]{40}$")
PEELED = "^{}"


@dataclass(frozen=True)
class RefSpec:
    """The `spec.ref` of a GitRepository."""

    branch: str | None = None
    tag: str | None = None
    semver: str | None = None
    commit: str | None = None
    name: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, object] | None) -> RefSpec:
        data = data or {}
        values = {k: data.get(k) for k in ("branch", "tag", "semver", "commit", "name")}
        for key, value in values.items():
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise InvalidSpecError(f"ref.{key} must be a non-empty string")
        spec = cls(**{k: (v.strip() if isinstance(v, str) else None) for k, v in values.items()})
        spec.validate()
        return spec

    def validate(self) -> None:
        """Raise InvalidSpecError for a spec no remote could satisfy."""
        if self.commit is not None and not _SHA1.match(self.commit.lower()):
            raise InvalidSpecError(f"ref.commit must be a full 40-hex SHA-1, got {self.commit!r}")
        if self.semver is not None and self.commit is None and self.name is None:
            SemverRange.parse(self.semver)

    @property
    def kind(self) -> str:
        for key in ("commit", "name", "semver", "tag", "branch"):
            if getattr(self, key) is not None:
                return key
        return "head"


@dataclass(frozen=True)
class ResolvedRef:
    """A ref resolved against the remote: what to fetch (`refname`, empty for a bare commit) and the commit."""

    refname: str
    commit: str
    revision: str


def format_revision(name: str | None, commit: str) -> str:
    return f"{name}@sha1:{commit}" if name else f"sha1:{commit}"


def parse_revision(revision: str) -> tuple[str | None, str]:
    """Split `<ref>@sha1:<hex>` or `sha1:<hex>` into (ref or None, commit)."""
    name, sep, rest = revision.rpartition("@")
    body = rest if sep else revision
    if not body.startswith("sha1:") or not _SHA1.match(body[5:]):
        raise ValueError(f"not a revision: {revision!r}")
    return (name or None), body[5:]


# ---------------------------------------------------------------- semver ranges

_PARTIAL = re.compile(
    r"^[vV]?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)
_OPERATOR = re.compile(r"^(>=|<=|!=|==|~>|>|<|=|~|\^)?(.*)$")
Predicate = Callable[[semver.Version], bool]


@dataclass(frozen=True)
class _Partial:
    """A version with possibly missing or wildcard parts; `parts` counts the numeric ones given."""

    major: int
    minor: int
    patch: int
    parts: int
    pre: str | None

    def floor(self) -> semver.Version:
        return semver.Version(self.major, self.minor, self.patch, self.pre)

    def ceiling(self) -> semver.Version:
        """The first version above every version this partial covers (exclusive bound)."""
        if self.parts == 1:
            return semver.Version(self.major + 1, 0, 0)
        if self.parts == 2:
            return semver.Version(self.major, self.minor + 1, 0)
        return semver.Version(self.major, self.minor, self.patch + 1)


def _parse_partial(text: str, source: str) -> _Partial | None:
    """None means a bare wildcard (`*`, `x`)."""
    match = _PARTIAL.match(text)
    if not match:
        raise InvalidSpecError(f"invalid semver range {source!r}: cannot parse {text!r}")
    numbers: list[int] = []
    for key in ("major", "minor", "patch"):
        value = match.group(key)
        if value is None or value in ("x", "X", "*"):
            break
        numbers.append(int(value))
    if not numbers:
        return None
    parts = len(numbers)
    pre = match.group("pre") if parts == 3 else None
    padded = numbers + [0] * (3 - parts)
    return _Partial(padded[0], padded[1], padded[2], parts, pre)


def _compile(op: str, version: _Partial | None) -> list[Predicate]:
    if version is None:
        return [] if op in ("", "=", "==", ">=", "<=", "~", "~>", "^") else [lambda v: False]
    lo, hi, full = version.floor(), version.ceiling(), version.parts == 3
    if op in ("", "=", "=="):
        return [lambda v: v == lo] if full else [lambda v: v >= lo, lambda v: v < hi]
    if op == "!=":
        return [lambda v: v != lo] if full else [lambda v: v < lo or v >= hi]
    if op == ">":
        return [lambda v: v > lo] if full else [lambda v: v >= hi]
    if op == ">=":
        return [lambda v: v >= lo]
    if op == "<":
        return [lambda v: v < lo]
    if op == "<=":
        return [lambda v: v <= lo] if full else [lambda v: v < hi]
    if op in ("~", "~>"):
        upper = (
            semver.Version(version.major + 1, 0, 0)
            if version.parts == 1
            else semver.Version(version.major, version.minor + 1, 0)
        )
        return [lambda v: v >= lo, lambda v: v < upper]
    # caret: the leftmost non-zero part given may not change
    if version.major > 0 or version.parts == 1:
        upper = semver.Version(version.major + 1, 0, 0)
    elif version.minor > 0 or version.parts == 2:
        upper = semver.Version(0, version.minor + 1, 0)
    else:
        upper = semver.Version(0, 0, version.patch + 1)
    return [lambda v: v >= lo, lambda v: v < upper]


@dataclass(frozen=True)
class SemverRange:
    """A version range in the npm/Masterminds syntax Flux users write.

    Comparators separated by spaces or commas must all hold; `||` separates alternatives; also
    `~1.2`, `^1.0`, `1.2.x`, `*` and hyphen ranges `1.2 - 1.4`. Pre-releases match only when the
    range itself names one, as in Masterminds/semver.
    """

    text: str
    alternatives: tuple[tuple[Predicate, ...], ...]
    allow_prerelease: bool

    @classmethod
    def parse(cls, text: str) -> SemverRange:
        if not text or not text.strip():
            raise InvalidSpecError("invalid semver range: empty")
        alternatives: list[tuple[Predicate, ...]] = []
        for group in text.split("||"):
            predicates: list[Predicate] = []
            hyphen = re.fullmatch(r"\s*(\S+)\s+-\s+(\S+)\s*", group)
            if hyphen:
                low = _parse_partial(hyphen.group(1), text)
                high = _parse_partial(hyphen.group(2), text)
                predicates += _compile(">=", low)
                predicates += _compile("<=", high)
            else:
                tokens = [t for t in re.split(r"[\s,]+", group.strip()) if t]
                if not tokens:
                    raise InvalidSpecError(f"invalid semver range {text!r}: empty alternative")
                pending = ""
                for token in tokens:
                    if re.fullmatch(r">=|<=|!=|==|~>|>|<|=|~|\^", token):
                        if pending:
                            raise InvalidSpecError(f"invalid semver range {text!r}")
                        pending = token
                        continue
                    match = _OPERATOR.match(pending + token)
                    assert match is not None
                    predicates += _compile(match.group(1) or "", _parse_partial(match.group(2), text))
                    pending = ""
                if pending:
                    raise InvalidSpecError(f"invalid semver range {text!r}: dangling {pending!r}")
            alternatives.append(tuple(predicates))
        allow_pre = bool(re.search(r"\d+\.\d+\.\d+-", text))
        return cls(text=text, alternatives=tuple(alternatives), allow_prerelease=allow_pre)

    def matches(self, version: semver.Version) -> bool:
        if version.prerelease and not self.allow_prerelease:
            return False
        return any(all(p(version) for p in group) for group in self.alternatives)


def parse_tag_version(tag: str) -> semver.Version | None:
    """The version a tag names (`v1.2.3`, `1.2.3`, `v1.2`), or None if it is not a version."""
    text = tag[1:] if tag[:1] in ("v", "V") else tag
    try:
        return semver.Version.parse(text, optional_minor_and_patch=True)
    except (ValueError, TypeError):
        return None


# ---------------------------------------------------------------- resolution


def _peeled(refs: Mapping[str, str], refname: str) -> str:
    """The commit a ref points to: for an annotated tag, the `^{}` peeled entry."""
    return refs.get(refname + PEELED, refs[refname])


def resolve_ref(refs: Mapping[str, str], spec: RefSpec, head_target: str | None = None) -> ResolvedRef:
    """Pick the commit `spec` means among `refs` (refname → sha as `git ls-remote` prints)."""
    kind = spec.kind
    if kind == "commit":
        assert spec.commit is not None
        commit = spec.commit.lower()
        refname = f"refs/heads/{spec.branch}" if spec.branch else ""
        return ResolvedRef(refname, commit, format_revision(spec.branch, commit))
    if kind == "name":
        assert spec.name is not None
        candidates = (
            [spec.name]
            if spec.name.startswith("refs/") or spec.name == "HEAD"
            else [
                f"refs/heads/{spec.name}",
                f"refs/tags/{spec.name}",
                spec.name,
            ]
        )
        for refname in candidates:
            if refname in refs and not refname.endswith(PEELED):
                return ResolvedRef(
                    refname, _peeled(refs, refname), format_revision(spec.name, _peeled(refs, refname))
                )
        raise RefNotFoundError(f"ref name {spec.name!r} not found on the remote")
    if kind == "semver":
        assert spec.semver is not None
        wanted = SemverRange.parse(spec.semver)
        best: tuple[semver.Version, str] | None = None
        for refname in refs:
            if not refname.startswith("refs/tags/") or refname.endswith(PEELED):
                continue
            tag = refname[len("refs/tags/") :]
            version = parse_tag_version(tag)
            if version is not None and wanted.matches(version):
                candidate = (version, tag)
                if best is None or candidate > best:
                    best = candidate
        if best is None:
            raise RefNotFoundError(f"no tag matches semver range {spec.semver!r}")
        refname = f"refs/tags/{best[1]}"
        commit = _peeled(refs, refname)
        return ResolvedRef(refname, commit, format_revision(best[1], commit))
    if kind == "tag":
        refname = f"refs/tags/{spec.tag}"
        if refname not in refs:
            raise RefNotFoundError(f"tag {spec.tag!r} not found on the remote")
        commit = _peeled(refs, refname)
        return ResolvedRef(refname, commit, format_revision(spec.tag, commit))
    if kind == "branch":
        refname = f"refs/heads/{spec.branch}"
        if refname not in refs:
            raise RefNotFoundError(f"branch {spec.branch!r} not found on the remote")
        return ResolvedRef(refname, refs[refname], format_revision(spec.branch, refs[refname]))
    # No ref given: the remote's default branch.
    if head_target and head_target in refs:
        name = head_target.removeprefix("refs/heads/")
        return ResolvedRef(head_target, refs[head_target], format_revision(name, refs[head_target]))
    if "HEAD" in refs:
        return ResolvedRef("HEAD", refs["HEAD"], format_revision("HEAD", refs["HEAD"]))
    raise RefNotFoundError("the remote has no HEAD and no ref was given")
