"""Typed failures of the git source, one per status reason.

Each type is also one of the shared outcomes of `tfcontroller.api.errors`, so the reconciler's
summariser handles them without knowing about git: a bad spec stalls (InvalidSpec), everything else is
transient and retried with backoff (the server may come back, the Secret may be fixed, the ref may be
pushed). Messages are built by us from git's stderr after scrubbing, so they never carry a credential
or a command line.
"""

from __future__ import annotations

from tfcontroller.api.errors import ReconcileError, StallingError, TransientError


class SourceError(ReconcileError):
    """Base of every git source failure; `REASON` is the CamelCase condition reason."""

    REASON = "GitOperationFailed"

    def __init__(self, message: str) -> None:
        super().__init__(self.REASON, message)

    @property
    def stalling(self) -> bool:
        return isinstance(self, StallingError)


class GitOperationFailedError(SourceError, TransientError):
    """The server is unreachable, timed out, or git failed for a reason we cannot name."""

    REASON = "GitOperationFailed"


class AuthenticationFailedError(SourceError, TransientError):
    """The server refused the credentials (HTTP 401/403, SSH publickey denied) or none were given."""

    REASON = "AuthenticationFailed"


class HostKeyVerificationError(AuthenticationFailedError):
    """The SSH host key is unknown or differs from `known_hosts`: refused, never trusted on first use."""

    REASON = "HostKeyVerificationFailed"


class RefNotFoundError(SourceError, TransientError):
    """The branch, tag, semver range, commit or ref name matches nothing on the remote."""

    REASON = "RefNotFound"


class PathNotFoundError(SourceError, TransientError):
    """A path asked of an artifact is not in it (a later commit may add it)."""

    REASON = "PathNotFound"


class ArtifactTooLargeError(SourceError, TransientError):
    """The commit's tree is above the artifact bounds (too many entries or bytes). Not Stalled: a later
    commit, or `spec.ignore`, fixes it, and the refusal costs no file read (sizes come from the tree)."""

    REASON = "ArtifactTooLarge"


class InvalidSpecError(SourceError, StallingError):
    """The spec cannot work whatever the remote holds (bad semver range, malformed commit, bad path)."""

    REASON = "InvalidSpec"
