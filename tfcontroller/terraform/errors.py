"""Typed Terraform failures, each carrying its outcome so the summariser maps it to a condition once.

The three outcome families are those of tfcontroller.api.errors (stalling, waiting, transient); the bases
here subclass them and add what Terraform said: `stderr` (scrubbed) and the parsed `diagnostics`.

Messages and `stderr` never carry secret values: callers pass text through `tfcontroller.api.redact.scrub()` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tfcontroller.api import conditions
from tfcontroller.api import errors as api_errors

# How long to wait before retrying a run blocked by another run's state lock.
DEFAULT_LOCK_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class Diagnostic:
    """One diagnostic of Terraform's machine-readable output (`-json`)."""

    severity: str
    summary: str
    detail: str = ""
    filename: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def location(self) -> str | None:
        """`file:line` when Terraform attached a source range."""
        if self.filename is None:
            return None
        return f"{self.filename}:{self.line}" if self.line is not None else self.filename

    def one_line(self) -> str:
        where = f"{self.location}: " if self.location else ""
        detail = " ".join(self.detail.split())
        return f"{where}{self.summary}" + (f": {detail}" if detail else "")


class StallingError(api_errors.StallingError):
    """Retrying cannot help until the spec, the module or the artifact changes."""

    def __init__(self, reason: str, message: str, *, stderr: str = "",
                 diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(reason, message)
        self.stderr = stderr
        self.diagnostics = tuple(diagnostics)


class WaitingError(api_errors.WaitingError):
    """Blocked by something outside this run; retry after `after_seconds`."""

    def __init__(self, reason: str, message: str, after_seconds: float, *, stderr: str = "",
                 diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(reason, message, after_seconds)
        self.stderr = stderr
        self.diagnostics = tuple(diagnostics)


class TransientError(api_errors.TransientError):
    """Retry with backoff: network hiccups, crashes, anything not recognised."""

    def __init__(self, reason: str, message: str, *, stderr: str = "",
                 diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(reason, message)
        self.stderr = stderr
        self.diagnostics = tuple(diagnostics)


# Any error of this package; each also is one of tfcontroller.api.errors' three outcomes.
TerraformError = StallingError | WaitingError | TransientError


# --- Terraform outcomes -------------------------------------------------------------------------


@dataclass(frozen=True)
class LockInfo:
    """The `Lock Info:` block Terraform prints when a state lock is held."""

    id: str
    who: str = ""
    operation: str = ""
    created: str = ""
    path: str = ""
    version: str = ""
    info: str = ""


class StateLockedError(WaitingError):
    def __init__(
        self, lock: LockInfo, message: str, after_seconds: float = DEFAULT_LOCK_RETRY_SECONDS, *,
        stderr: str = "", diagnostics: Sequence[Diagnostic] = (),
    ) -> None:
        super().__init__("StateLocked", message, after_seconds, stderr=stderr, diagnostics=diagnostics)
        self.lock = lock

    @property
    def lock_id(self) -> str:
        return self.lock.id

    @property
    def holder(self) -> str:
        return self.lock.who


class StalePlanError(TransientError):
    """The saved plan no longer matches the state: plan again (design.md §4.2)."""

    def __init__(self, message: str = "Saved plan is stale", *, stderr: str = "", diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(conditions.PLAN_STALE, message, stderr=stderr, diagnostics=diagnostics)


class MissingVariablesError(StallingError):
    def __init__(self, names: Iterable[str], *, stderr: str = "", diagnostics: Sequence[Diagnostic] = ()) -> None:
        self.names = sorted(set(names))
        super().__init__(
            "MissingVariables",
            "missing required variables: " + ", ".join(self.names),
            stderr=stderr, diagnostics=diagnostics,
        )


class InvalidVariablesError(StallingError):
    """A variable's value does not match its type or fails its validation rule."""

    def __init__(self, message: str, *, stderr: str = "", diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__("VariablesInvalid", message, stderr=stderr, diagnostics=diagnostics)


class InitRequiredError(TransientError):
    """The working directory is not initialised (modules, providers or backend): run init again."""

    def __init__(self, message: str, *, stderr: str = "", diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__("InitRequired", message, stderr=stderr, diagnostics=diagnostics)


class ProviderError(StallingError):
    """A provider could not be installed or started (missing from the mirror, wrong version)."""

    def __init__(self, message: str, *, stderr: str = "", diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__("ProviderFailed", message, stderr=stderr, diagnostics=diagnostics)


class ConfigurationError(StallingError):
    """The module itself is invalid; `location` is `file:line` when Terraform gave one."""

    def __init__(self, message: str, location: str | None = None, *, stderr: str = "", diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__("ConfigurationInvalid", message, stderr=stderr, diagnostics=diagnostics)
        self.location = location


class TimeoutExpiredError(TransientError):
    def __init__(self, command: str, timeout: float, *, stderr: str = "", diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__("TerraformTimedOut", f"terraform {command} timed out after {timeout:g}s",
                         stderr=stderr, diagnostics=diagnostics)
        self.timeout = timeout


class CancelledError(TransientError):
    def __init__(self, command: str, *, stderr: str = "", diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__("TerraformCancelled", f"terraform {command} was cancelled",
                         stderr=stderr, diagnostics=diagnostics)


class ArtifactError(StallingError):
    """The artifact cannot be used (missing path, unreadable archive)."""


class MaliciousArtifactError(ArtifactError):
    """An archive member would escape the run directory or is not a plain file/dir/link."""

    def __init__(self, member: str, why: str) -> None:
        super().__init__("ArtifactRejected", f"artifact member {member!r} refused: {why}")
        self.member = member
