"""Failures of encryption at rest and sealed values; messages never include key material or plaintext."""

from __future__ import annotations

from tfcontroller.api.errors import StallingError, TransientError


class DecryptionError(TransientError):
    """Ciphertext that cannot be opened: unknown key id, wrong binding (AAD) or tampering. For a stored
    plan the remedy is to plan again, hence transient."""

    def __init__(self, message: str) -> None:
        super().__init__("DecryptionFailed", message)


class SealedValueError(StallingError):
    """A `sealedValue` that this controller cannot open for this object: sealed with another key, for
    another namespace/name, or corrupted. Only a new value in the spec can fix it."""

    def __init__(self, message: str) -> None:
        super().__init__("SealedValueInvalid", message)
